import { scimPatch, ScimError as PatchError, type ScimPatchOperation } from 'scim-patch';
import { filter as compileFilter, parse as parseFilter, type Filter } from 'scim2-parse-filter';
import { AppError, ConflictError, NotFoundError, type ErrorCode } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { parseDuration } from '../../shared/duration.js';
import { nameProblem, printable } from '../../shared/names.js';
import { generateAccessKey, hashSecret } from '../crypto/access-keys.js';
import { createAccessKey } from '../data/access-keys.js';
import { getCredential } from '../data/credentials.js';
import type { Db } from '../data/db.js';
import {
  addGroupMembers,
  createGroup as createGroupRow,
  deleteGroup as deleteGroupRow,
  getGroup,
  removeGroupMembers,
  renameGroup,
} from '../data/groups.js';
import { findProviderUser, getProvider, listProviderUserLinks } from '../data/providers.js';
import * as data from '../data/scim.js';
import type { ScimGroupRow, ScimListOptions, ScimUserRow } from '../data/scim.js';
import {
  createUser as createUserRow,
  deleteUser as deleteUserRow,
  findUser,
  getUser,
  renameUser,
} from '../data/users.js';
import { validGroupNames } from '../idp/groups.js';
import { SCIM_USER_ID, scimScope, scimSource } from '../models.js';
import { assertAdminRemains } from './admins.js';
import type { RequestContext } from './context.js';
import { endProviderAccess } from './provider-sync.js';

export const SCIM_SCHEMAS = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterpriseUser: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
} as const;

/** RFC 7644 §3.12's detail error keywords. */
export type ScimType =
  | 'invalidFilter'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue';

/** A failure with SCIM's keyword for it (the status still comes from the code). */
export class ScimError extends AppError {
  readonly scimType: ScimType | undefined;
  constructor(code: ErrorCode, message: string, scimType?: ScimType) {
    super(code, message);
    this.scimType = scimType;
  }
}

const invalid = (message: string, scimType: ScimType = 'invalidValue') =>
  new ScimError('bad_request', message, scimType);

/** A SCIM resource as JSON. */
export type ScimResource = Record<string, unknown>;

/** The provider a SCIM token works for. */
export interface ScimProvider {
  id: string;
  name: string;
}

/** The provider a SCIM token is bound to (removing a provider ends its tokens). */
export async function providerOf(ctx: RequestContext, providerId: string): Promise<ScimProvider> {
  const p = await getProvider(ctx.db, { byId: providerId });
  return { id: p.id, name: p.name };
}

/** Largest stored resource (JSON): enough for every attribute Okta and Entra ID send. */
const MAX_ATTRIBUTES = 64 * 1024;
/** Page size when the client asks for none, and the most one page returns. */
const DEFAULT_COUNT = 100;
export const MAX_COUNT = 1000;
const MAX_FILTER = 1000;

/** Lifetime of a SCIM token when the admin asks for none: identity providers keep them long. */
const DEFAULT_SCIM_KEY_EXPIRY = 365 * 24 * 3_600_000;

/**
 * Creates a provider's SCIM token: an access key of the `scim` system user bound to the provider
 * (scope `scim:<id>`). It may call the SCIM endpoints for that provider and nothing else; removing
 * the provider ends it. The secret is returned once.
 */
export async function createScimKey(
  ctx: RequestContext,
  input: { id: string; expiry?: string },
): Promise<{ id: string; name: string; expiresAt: number; accessKey: string; url: string }> {
  const p = await getProvider(ctx.db, { byId: input.id });
  const now = ctx.clock.now();
  const secret = generateAccessKey();
  const id = newId('accessKey', now);
  const name = `scim-${p.name}-${secret.keyId}`;
  const expiresAt =
    now + (input.expiry === undefined ? DEFAULT_SCIM_KEY_EXPIRY : parseDuration(input.expiry)!);
  await createAccessKey(ctx.db, {
    id,
    keyId: secret.keyId,
    secretHash: hashSecret(secret.secret),
    name,
    userId: SCIM_USER_ID,
    issuedVia: 'api',
    scopes: [scimScope(p.id)],
    managedBy: 'api',
    now,
    expiresAt,
    inactivityTimeout: 0,
  });
  ctx.audit({
    kind: 'accessKey',
    id,
    name,
    details: { provider: p.name, scim: true, expires: new Date(expiresAt).toISOString() },
  });
  return { id, name, expiresAt, accessKey: secret.text, url: base(ctx) };
}

// --- reading resources ---

function base(ctx: RequestContext): string {
  return `${ctx.origin}/api/scim/v2`;
}

function meta(
  ctx: RequestContext,
  resourceType: 'User' | 'Group',
  id: string,
  row: { createdAt: number; updatedAt: number; version: number },
) {
  return {
    resourceType,
    created: new Date(row.createdAt).toISOString(),
    lastModified: new Date(row.updatedAt).toISOString(),
    location: `${base(ctx)}/${resourceType}s/${id}`,
    version: etag(row.version),
  };
}

/** The weak ETag of a resource's version. */
export function etag(version: number): string {
  return `W/"${version}"`;
}

/** Extension schemas whose attributes the resource holds (`urn:...:enterprise:2.0:User`). */
function extensionSchemas(attributes: ScimResource): string[] {
  return Object.keys(attributes).filter((k) => k.startsWith('urn:'));
}

function userResource(ctx: RequestContext, row: ScimUserRow): ScimResource {
  const { userName, ...rest } = row.attributes;
  return {
    schemas: [SCIM_SCHEMAS.user, ...extensionSchemas(rest)],
    id: row.userId,
    ...(row.externalId !== null && { externalId: row.externalId }),
    ...rest,
    // As the provider spelled it, unless the user was renamed another way since.
    userName:
      typeof userName === 'string' && userName.toLowerCase() === row.name ? userName : row.name,
    active: row.active,
    meta: meta(ctx, 'User', row.userId, row),
  };
}

async function groupResource(
  ctx: RequestContext,
  row: ScimGroupRow,
  opts: { members: boolean },
): Promise<ScimResource> {
  const members = opts.members
    ? await data.listMembersBySource(ctx.db, row.groupId, scimSource(row.providerId))
    : undefined;
  return {
    schemas: [SCIM_SCHEMAS.group, ...extensionSchemas(row.attributes)],
    id: row.groupId,
    ...(row.externalId !== null && { externalId: row.externalId }),
    ...row.attributes,
    displayName: row.name,
    ...(members && {
      members: members.map((m) => ({
        value: m.id,
        display: m.name,
        $ref: `${base(ctx)}/Users/${m.id}`,
      })),
    }),
    meta: meta(ctx, 'Group', row.groupId, row),
  };
}

// --- input ---

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Read-only or never kept: what a client sends of these is ignored. */
const IGNORED = new Set(['id', 'meta', 'schemas', 'password', 'groups']);

/** SCIM booleans, as Entra ID has sent them too: `"True"`, `"False"` (any case). */
function readBoolean(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value))
    return value.toLowerCase() === 'true';
  throw invalid(`${field} must be true or false`);
}

function readExternalId(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 1024)
    throw invalid('externalId must be a string of at most 1024 characters');
  return value;
}

/** The rest of a resource, kept as sent (bounded in size). */
function keep(attributes: Record<string, unknown>): Record<string, unknown> {
  if (JSON.stringify(attributes).length > MAX_ATTRIBUTES)
    throw invalid(`the resource is larger than ${MAX_ATTRIBUTES / 1024} KiB`);
  return attributes;
}

interface UserInput {
  /** The Infra user name: the userName in lower case. */
  name: string;
  externalId: string | null;
  active: boolean;
  attributes: Record<string, unknown>;
}

/**
 * A User resource as a provider sends it. `userName` is the Infra user name: an email address
 * (Entra ID's user principal name is one), compared and stored in lower case (RFC 7643 makes
 * userName case-insensitive).
 */
function readUser(body: unknown): UserInput {
  if (!isObject(body)) throw invalid('the request body must be a JSON object', 'invalidSyntax');
  const { userName, externalId, active, ...rest } = body;
  if (typeof userName !== 'string' || userName.trim() === '') throw invalid('userName is required');
  const spelled = userName.trim().normalize('NFC');
  if (spelled.length > 254 || !/^[^\s@'"<>]+@[^\s@'"<>]+$/.test(spelled))
    throw invalid('userName must be an email address (Infra names users by email)');
  const problem = nameProblem(spelled);
  if (problem) throw invalid(`userName ${problem}: ${printable(spelled)}`);
  const attributes: Record<string, unknown> = { userName: spelled };
  for (const [k, v] of Object.entries(rest)) if (!IGNORED.has(k)) attributes[k] = v;
  return {
    name: spelled.toLowerCase(),
    externalId: readExternalId(externalId),
    active: active === undefined || active === null ? true : readBoolean(active, 'active'),
    attributes: keep(attributes),
  };
}

interface GroupInput {
  name: string;
  externalId: string | null;
  members: string[];
  attributes: Record<string, unknown>;
}

function readGroup(body: unknown): GroupInput {
  if (!isObject(body)) throw invalid('the request body must be a JSON object', 'invalidSyntax');
  const { displayName, externalId, members, ...rest } = body;
  if (typeof displayName !== 'string') throw invalid('displayName is required');
  const { groups, refused } = validGroupNames([displayName]);
  if (refused.length > 0) throw invalid(`displayName ${refused[0]!}`);
  if (groups.length === 0) throw invalid('displayName must not be empty');
  if (members !== undefined && members !== null && !Array.isArray(members))
    throw invalid('members must be a list');
  const ids = new Set<string>();
  for (const m of (members ?? []) as unknown[]) {
    if (!isObject(m) || typeof m.value !== 'string')
      throw invalid('each member must be an object with a value (a user id)');
    ids.add(m.value);
  }
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (!IGNORED.has(k)) attributes[k] = v;
  return {
    name: groups[0]!,
    externalId: readExternalId(externalId),
    members: [...ids],
    attributes: keep(attributes),
  };
}

/**
 * The operations of a PatchOp request. Entra ID capitalises `op` (`Replace`); any case is taken.
 */
function readPatch(body: unknown): ScimPatchOperation[] {
  if (!isObject(body)) throw invalid('the request body must be a JSON object', 'invalidSyntax');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(SCIM_SCHEMAS.patchOp))
    throw invalid(`a PATCH body must have schemas [${SCIM_SCHEMAS.patchOp}]`, 'invalidSyntax');
  const ops = body.Operations;
  if (!Array.isArray(ops) || ops.length === 0)
    throw invalid('Operations must be a non-empty list', 'invalidSyntax');
  return ops.map((o: unknown) => {
    if (!isObject(o) || typeof o.op !== 'string')
      throw invalid('each operation needs an op: add, replace or remove', 'invalidSyntax');
    const op = o.op.toLowerCase();
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      throw invalid(
        `op ${printable(o.op.slice(0, 20))} is not add, replace or remove`,
        'invalidSyntax',
      );
    if (o.path !== undefined && typeof o.path !== 'string')
      throw invalid('path must be a string', 'invalidPath');
    if (op === 'remove' && o.path === undefined) throw invalid('remove needs a path', 'noTarget');
    return { op, path: o.path, value: o.value } as ScimPatchOperation;
  });
}

/**
 * Entra ID removes members with `{op: Remove, path: members, value: [{value: id}]}`; scim-patch
 * removes only members equal to the whole value object (ours carry `display` and `$ref` too),
 * so each becomes a removal by filter on `value`.
 */
function memberRemovalsByValue(op: ScimPatchOperation): ScimPatchOperation[] {
  if (op.op !== 'remove' || op.path?.toLowerCase() !== 'members' || op.value === undefined)
    return [op];
  const values = Array.isArray(op.value) ? (op.value as unknown[]) : [op.value];
  return values.map((v) => {
    const id = isObject(v) ? v.value : undefined;
    if (typeof id !== 'string' || /["\\]/.test(id))
      throw invalid('each member to remove must be an object with a value (a user id)');
    return { op: 'remove', path: `members[value eq "${id}"]` };
  });
}

/** Applies PATCH operations to a resource (scim-patch), with its errors as SCIM errors. */
function applyPatch(resource: ScimResource, ops: ScimPatchOperation[]): ScimResource {
  try {
    const doc = {
      ...resource,
      meta: { created: new Date(0), lastModified: new Date(0) },
      schemas: resource.schemas as string[],
    };
    return scimPatch(doc, ops, { mutateDocument: false }) as unknown as ScimResource;
  } catch (err) {
    if (err instanceof PatchError) {
      const scimType = (err.scimCode as ScimType | undefined) ?? 'invalidSyntax';
      throw invalid(err.message.replace(/^Invalid SCIM Patch: /, ''), scimType);
    }
    throw err;
  }
}

/** Honours If-Match: a client that read an older version is told so (412). */
function checkVersion(version: number, ifMatch: string | undefined): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (tags.includes('*') || tags.includes(`"${version}"`)) return;
  throw new ScimError(
    'precondition_failed',
    `the resource changed since that version was read (it is now ${etag(version)}); read it again`,
  );
}

// --- filters and pages ---

/** Attributes answered from an index when filtered with `eq`, by resource type. */
const INDEXED = {
  User: { username: 'byName', externalid: 'byExternalId', id: 'byId' },
  Group: { displayname: 'byName', externalid: 'byExternalId', id: 'byId' },
} as const;

/** `urn:...:core:2.0:User:userName` → `username`. */
function attributeKey(attrPath: string, schema: string): string {
  const path = attrPath.toLowerCase();
  const prefix = `${schema.toLowerCase()}:`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** userName compares without case (RFC 7643 §4.1.1); the library compares exactly. */
function lowerUserNames(f: Filter): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map(lowerUserNames) };
    case 'not':
      return { ...f, filter: lowerUserNames(f.filter) };
    case '[]':
      return f;
    case 'pr':
      return f;
    default:
      return attributeKey(f.attrPath, SCIM_SCHEMAS.user) === 'username' &&
        typeof f.compValue === 'string'
        ? { ...f, compValue: f.compValue.toLowerCase() }
        : f;
  }
}

interface ListInput {
  filter?: string;
  startIndex?: string;
  count?: string;
}

function readPaging(input: ListInput): { startIndex: number; count: number } {
  const int = (s: string | undefined, fallback: number) => {
    if (s === undefined) return fallback;
    if (!/^-?\d{1,9}$/.test(s)) throw invalid('startIndex and count must be integers');
    return Number(s);
  };
  return {
    startIndex: Math.max(1, int(input.startIndex, 1)),
    count: Math.min(MAX_COUNT, Math.max(0, int(input.count, DEFAULT_COUNT))),
  };
}

function readFilter(text: string | undefined): Filter | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (text.length > MAX_FILTER)
    throw invalid(`the filter is longer than ${MAX_FILTER} characters`, 'invalidFilter');
  try {
    return parseFilter(text);
  } catch {
    throw invalid(`the filter cannot be parsed: ${printable(text.slice(0, 200))}`, 'invalidFilter');
  }
}

/**
 * One page of a list, answered by an index for `eq` on the indexed attributes, and otherwise by
 * evaluating the filter (scim2-parse-filter) over the provider's resources.
 */
async function listPage<Row>(
  kind: 'User' | 'Group',
  input: ListInput,
  list: (opts: ScimListOptions) => Promise<{ total: number; items: Row[] }>,
  render: (row: Row) => Promise<ScimResource> | ScimResource,
): Promise<ScimResource> {
  const { startIndex, count } = readPaging(input);
  const f = readFilter(input.filter);
  const schema = kind === 'User' ? SCIM_SCHEMAS.user : SCIM_SCHEMAS.group;
  let total: number;
  let resources: ScimResource[];
  const indexed =
    f?.op === 'eq' && typeof f.compValue === 'string'
      ? (INDEXED[kind] as Record<string, keyof ScimListOptions>)[attributeKey(f.attrPath, schema)]
      : undefined;
  if (f === undefined || (indexed !== undefined && f.op === 'eq')) {
    let by: Partial<ScimListOptions> = {};
    if (f !== undefined && f.op === 'eq' && indexed !== undefined) {
      const value = String(f.compValue);
      by = {
        [indexed]:
          indexed === 'byName'
            ? kind === 'User'
              ? value.trim().toLowerCase()
              : value.trim().normalize('NFC')
            : value,
      };
    }
    const page = await list({ ...by, offset: startIndex - 1, limit: count });
    total = page.total;
    resources = await Promise.all(page.items.map(render));
  } else {
    const test = compileFilter(kind === 'User' ? lowerUserNames(f) : f);
    const all = await list({ offset: 0, limit: Number.MAX_SAFE_INTEGER });
    const matching: ScimResource[] = [];
    for (const row of all.items) {
      const r = await render(row);
      const comparable =
        kind === 'User' && typeof r.userName === 'string'
          ? { ...r, userName: r.userName.toLowerCase() }
          : r;
      if (test(comparable)) matching.push(r);
    }
    total = matching.length;
    resources = matching.slice(startIndex - 1, startIndex - 1 + count);
  }
  return {
    schemas: [SCIM_SCHEMAS.listResponse],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

// --- users ---

async function userOf(ctx: RequestContext, p: ScimProvider, id: string): Promise<ScimUserRow> {
  const row = await data.findScimUser(ctx.db, p.id, id);
  if (!row)
    throw new NotFoundError(
      'user',
      `no user ${printable(id.slice(0, 100))} provisioned by ${p.name}`,
    );
  return row;
}

export async function listScimUsers(
  ctx: RequestContext,
  p: ScimProvider,
  input: ListInput,
): Promise<ScimResource> {
  return listPage(
    'User',
    input,
    (opts) => data.listScimUsers(ctx.db, p.id, opts),
    (row) => userResource(ctx, row),
  );
}

export async function getScimUser(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
): Promise<ScimResource> {
  return userResource(ctx, await userOf(ctx, p, id));
}

/**
 * Provisions a user. A user of that name who signed in through this provider before is taken
 * over; any other existing user (local, another provider's) is refused as not unique.
 */
export async function createScimUser(
  ctx: RequestContext,
  p: ScimProvider,
  body: unknown,
): Promise<ScimResource> {
  const input = readUser(body);
  const now = ctx.clock.now();
  let user = await findUser(ctx.db, { byName: input.name });
  if (user) {
    const owner = await data.findScimUserProvider(ctx.db, user.id);
    const linked =
      user.kind === 'user' &&
      owner === undefined &&
      (await findProviderUser(ctx.db, { providerId: p.id, userId: user.id })) !== undefined;
    if (!linked)
      throw new ScimError(
        'conflict',
        owner === p.id
          ? `${input.name} is already provisioned (id ${user.id})`
          : `a user named ${input.name} already exists and was not provisioned by ${p.name}; an admin can remove it, or the person signs in through ${p.name} once`,
        'uniqueness',
      );
  } else {
    user = await createUserRow(ctx.db, {
      id: newId('user', now),
      name: input.name,
      managedBy: 'api',
      now,
    });
  }
  const row: Omit<ScimUserRow, 'name'> = {
    userId: user.id,
    providerId: p.id,
    externalId: input.externalId,
    active: input.active,
    attributes: input.attributes,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  await data.saveScimUser(ctx.db, row);
  const ended = input.active ? 0 : await endProviderAccess(ctx.db, p.id, user.id, now);
  ctx.audit({
    kind: 'user',
    id: user.id,
    name: user.name,
    details: { provider: p.name, scim: 'provisioned', active: input.active, sessionsEnded: ended },
  });
  return userResource(ctx, { ...row, name: user.name });
}

export async function replaceScimUser(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await userOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  return updateUser(ctx, p, row, readUser(body));
}

export async function patchScimUser(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await userOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  const patched = applyPatch(userResource(ctx, row), readPatch(body));
  return updateUser(ctx, p, row, readUser(patched));
}

/**
 * Applies a user's new state. Deactivation offboards as a provider refusing the user at sync
 * does (sessions and keys end, connectors refuse within a second) and refuses every sign-in
 * until reactivation.
 */
async function updateUser(
  ctx: RequestContext,
  p: ScimProvider,
  row: ScimUserRow,
  input: UserInput,
): Promise<ScimResource> {
  const same =
    input.name === row.name &&
    input.externalId === row.externalId &&
    input.active === row.active &&
    JSON.stringify(input.attributes) === JSON.stringify(row.attributes);
  if (same) {
    ctx.unchanged();
    return userResource(ctx, row);
  }
  const now = ctx.clock.now();
  const changes: string[] = [];
  if (input.name !== row.name) {
    try {
      await renameUser(ctx.db, row.userId, input.name, now);
    } catch (err) {
      if (err instanceof ConflictError)
        throw new ScimError('conflict', `a user named ${input.name} already exists`, 'uniqueness');
      throw err;
    }
    changes.push(`renamed from ${row.name}`);
  }
  let ended = 0;
  if (row.active && !input.active) {
    ended = await endProviderAccess(ctx.db, p.id, row.userId, now);
    changes.push('deactivated');
  } else if (!row.active && input.active) changes.push('reactivated');
  const next: Omit<ScimUserRow, 'name'> = {
    ...row,
    externalId: input.externalId,
    active: input.active,
    attributes: input.attributes,
    version: row.version + 1,
    updatedAt: now,
  };
  await data.saveScimUser(ctx.db, next);
  ctx.audit({
    kind: 'user',
    id: row.userId,
    name: input.name,
    details: {
      provider: p.name,
      scim: changes.length > 0 ? changes.join(', ') : 'attributes updated',
      ...(ended > 0 && { sessionsEnded: ended }),
    },
  });
  return userResource(ctx, { ...next, name: input.name });
}

/**
 * Deprovisions a user: their sessions end as at deactivation and the provider's memberships go.
 * The Infra user is deleted too unless it has another way in (a password, another provider) or
 * is declared in the config file; then only the provider's hold on it goes.
 */
export async function deleteScimUser(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  const row = await userOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  const user = await getUser(ctx.db, { byId: id });
  const now = ctx.clock.now();
  const otherLinks = (await listProviderUserLinks(ctx.db, id)).filter((l) => l !== p.id);
  const keep =
    user.managedBy === 'config' ||
    otherLinks.length > 0 ||
    (await getCredential(ctx.db, id)) !== undefined;
  if (keep) {
    await endProviderAccess(ctx.db, p.id, id, now);
    await removeMembershipsOfUser(ctx.db, p.id, id, now);
    await data.deleteScimUser(ctx.db, id);
  } else {
    await deleteUserRow(ctx.db, id, now);
  }
  await assertAdminRemains(ctx);
  ctx.audit({
    kind: 'user',
    id,
    name: user.name,
    details: { provider: p.name, scim: keep ? 'deprovisioned, user kept' : 'deleted' },
  });
}

async function removeMembershipsOfUser(
  db: Db,
  providerId: string,
  userId: string,
  now: number,
): Promise<void> {
  const source = scimSource(providerId);
  for (const groupId of await data.listGroupIdsOfUserBySource(db, userId, source))
    await removeGroupMembers(db, groupId, [userId], source, now);
}

// --- groups ---

async function groupOf(ctx: RequestContext, p: ScimProvider, id: string): Promise<ScimGroupRow> {
  const row = await data.findScimGroup(ctx.db, p.id, id);
  if (!row)
    throw new NotFoundError('group', `no group ${printable(id.slice(0, 100))} pushed by ${p.name}`);
  return row;
}

export async function listScimGroups(
  ctx: RequestContext,
  p: ScimProvider,
  input: ListInput & { excludedAttributes?: string },
): Promise<ScimResource> {
  const members = !excludes(input.excludedAttributes, 'members');
  return listPage(
    'Group',
    input,
    (opts) => data.listScimGroups(ctx.db, p.id, opts),
    (row) => groupResource(ctx, row, { members }),
  );
}

/** Whether `excludedAttributes` (comma-separated) names the attribute. */
function excludes(excluded: string | undefined, attribute: string): boolean {
  return (excluded ?? '')
    .split(',')
    .some((a) => attributeKey(a.trim(), SCIM_SCHEMAS.group) === attribute.toLowerCase());
}

export async function getScimGroup(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  input: { excludedAttributes?: string },
): Promise<ScimResource> {
  return groupResource(ctx, await groupOf(ctx, p, id), {
    members: !excludes(input.excludedAttributes, 'members'),
  });
}

/** Of the member ids given, refuses any user this provider did not provision. */
async function checkMembers(ctx: RequestContext, p: ScimProvider, ids: string[]): Promise<void> {
  const known = await data.listProvisionedUserIds(ctx.db, p.id, ids);
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0)
    throw invalid(
      `members must be users provisioned by ${p.name}; not: ${unknown
        .slice(0, 5)
        .map((u) => printable(u.slice(0, 100)))
        .join(', ')}`,
    );
}

/**
 * Pushes a group. An existing group of that name is taken over (its other memberships and its
 * grants stay), unless another provider pushed it or the config file declares it.
 */
export async function createScimGroup(
  ctx: RequestContext,
  p: ScimProvider,
  body: unknown,
): Promise<ScimResource> {
  const input = readGroup(body);
  await checkMembers(ctx, p, input.members);
  const now = ctx.clock.now();
  let groupId: string;
  let created: boolean;
  try {
    const existing = await getGroup(ctx.db, { byName: input.name });
    const owner = await data.findScimGroupProvider(ctx.db, existing.id);
    if (owner !== undefined || existing.managedBy === 'config')
      throw new ScimError(
        'conflict',
        owner === p.id
          ? `group ${input.name} is already pushed (id ${existing.id})`
          : `a group named ${input.name} already exists and cannot be taken over by ${p.name}`,
        'uniqueness',
      );
    groupId = existing.id;
    created = false;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    groupId = (
      await createGroupRow(ctx.db, {
        id: newId('group', now),
        name: input.name,
        managedBy: 'api',
        now,
      })
    ).id;
    created = true;
  }
  await addGroupMembers(ctx.db, groupId, input.members, scimSource(p.id), now);
  const row: Omit<ScimGroupRow, 'name'> = {
    groupId,
    providerId: p.id,
    externalId: input.externalId,
    created,
    attributes: input.attributes,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  await data.saveScimGroup(ctx.db, row);
  ctx.audit({
    kind: 'group',
    id: groupId,
    name: input.name,
    details: {
      provider: p.name,
      scim: created ? 'created' : 'taken over',
      membersAdded: input.members.length,
    },
  });
  return groupResource(ctx, { ...row, name: input.name }, { members: true });
}

export async function replaceScimGroup(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await groupOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  return updateGroup(ctx, p, row, readGroup(body));
}

export async function patchScimGroup(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await groupOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  const ops = readPatch(body).flatMap(memberRemovalsByValue);
  const current = await groupResource(ctx, row, { members: true });
  return updateGroup(ctx, p, row, readGroup(applyPatch(current, ops)));
}

/** Applies a group's new state: a rename, and the provider's memberships made to match. */
async function updateGroup(
  ctx: RequestContext,
  p: ScimProvider,
  row: ScimGroupRow,
  input: GroupInput,
): Promise<ScimResource> {
  const source = scimSource(p.id);
  const current = new Set(
    (await data.listMembersBySource(ctx.db, row.groupId, source)).map((m) => m.id),
  );
  const wanted = new Set(input.members);
  const added = input.members.filter((m) => !current.has(m));
  const removed = [...current].filter((m) => !wanted.has(m));
  const same =
    added.length === 0 &&
    removed.length === 0 &&
    input.name === row.name &&
    input.externalId === row.externalId &&
    JSON.stringify(input.attributes) === JSON.stringify(row.attributes);
  if (same) {
    ctx.unchanged();
    return groupResource(ctx, row, { members: true });
  }
  await checkMembers(ctx, p, added);
  const now = ctx.clock.now();
  if (input.name !== row.name) {
    const group = await getGroup(ctx.db, { byId: row.groupId });
    if (group.managedBy === 'config')
      throw new ScimError(
        'bad_request',
        `group ${row.name} is declared in the server's config file; it cannot be renamed`,
        'mutability',
      );
    try {
      await renameGroup(ctx.db, row.groupId, input.name, now);
    } catch (err) {
      if (err instanceof ConflictError)
        throw new ScimError('conflict', `a group named ${input.name} already exists`, 'uniqueness');
      throw err;
    }
  }
  await addGroupMembers(ctx.db, row.groupId, added, source, now);
  await removeGroupMembers(ctx.db, row.groupId, removed, source, now);
  if (removed.length > 0) await assertAdminRemains(ctx);
  const next: Omit<ScimGroupRow, 'name'> = {
    ...row,
    externalId: input.externalId,
    attributes: input.attributes,
    version: row.version + 1,
    updatedAt: now,
  };
  await data.saveScimGroup(ctx.db, next);
  ctx.audit({
    kind: 'group',
    id: row.groupId,
    name: input.name,
    details: {
      provider: p.name,
      ...(input.name !== row.name && { renamedFrom: row.name }),
      ...(added.length > 0 && { membersAdded: added.length }),
      ...(removed.length > 0 && { membersRemoved: removed.length }),
    },
  });
  return groupResource(ctx, { ...next, name: input.name }, { members: true });
}

/**
 * Deletes a pushed group: the provider's memberships go; the group itself (with its grants)
 * goes only if SCIM created it and nobody else added members to it.
 */
export async function deleteScimGroup(
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  const row = await groupOf(ctx, p, id);
  checkVersion(row.version, ifMatch);
  const source = scimSource(p.id);
  const now = ctx.clock.now();
  const members = await data.listMembersBySource(ctx.db, id, source);
  const group = await getGroup(ctx.db, { byId: id });
  const remove =
    row.created &&
    group.managedBy !== 'config' &&
    !(await data.hasMembersFromOtherSources(ctx.db, id, source));
  if (remove) await deleteGroupRow(ctx.db, id, now);
  else {
    await removeGroupMembers(
      ctx.db,
      id,
      members.map((m) => m.id),
      source,
      now,
    );
    await data.deleteScimGroup(ctx.db, id);
  }
  await assertAdminRemains(ctx);
  ctx.audit({
    kind: 'group',
    id,
    name: row.name,
    details: { provider: p.name, scim: remove ? 'deleted' : 'released, group kept' },
  });
}
