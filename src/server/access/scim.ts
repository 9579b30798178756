import { scimPatch, ScimError as PatchError, type ScimPatchOperation } from 'scim-patch';
import { filter as compileFilter, parse as parseFilter, type Filter } from 'scim2-parse-filter';
import { AppError, ConflictError, NotFoundError, type ErrorCode } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { parseDuration } from '../../shared/duration.js';
import { nameProblem, printable } from '../../shared/names.js';
import { generateAccessKey, hashSecret } from '../crypto/access-keys.js';
import { createAccessKey } from '../data/access-keys.js';
import { getCredential } from '../data/credentials.js';
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
import type { ScimKind, ScimListOptions, ScimRow, ScimRows } from '../data/scim.js';
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
const notUnique = (message: string) => new ScimError('conflict', message, 'uniqueness');

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

// --- what differs between Users and Groups ---

/** What a client sends of a resource, as Infra keeps it. */
interface ResourceInput {
  /** The Infra user or group name. */
  name: string;
  externalId: string | null;
  attributes: Record<string, unknown>;
}

/**
 * One resource type. The operations (list, get, create, replace, patch, delete) are written once
 * over it; the hooks hold what only users or only groups do: offboarding at deactivation, a
 * group's members, and whether an existing user or group may be taken over.
 */
interface ResourceType<K extends ScimKind, Input extends ResourceInput> {
  kind: K;
  resourceType: 'User' | 'Group';
  schema: string;
  /** The attribute that is the Infra name (indexed, with `externalId` and `id`, for `eq`). */
  nameAttribute: 'userName' | 'displayName';
  /** Whether that name compares without case in filters (RFC 7643 §4.1.1: userName does). */
  caseless: boolean;
  /** A filter's value of the name attribute, as the name is stored. */
  storedName(value: string): string;
  /** How the provider came to hold it, for "not found": provisioned (users), pushed (groups). */
  held: string;
  read(body: unknown): Input;
  render(ctx: RequestContext, row: ScimRows[K], opts: { members: boolean }): Promise<ScimResource>;
  readPatch(body: unknown): ScimPatchOperation[];
  /** Takes over or makes the Infra user or group of a new resource (version 1). */
  provision(ctx: RequestContext, p: ScimProvider, input: Input, now: number): Promise<Change<K>>;
  /** Applies a new state to an existing resource; undefined when nothing would change. */
  update(
    ctx: RequestContext,
    p: ScimProvider,
    row: ScimRows[K],
    input: Input,
  ): Promise<Change<K> | undefined>;
  /** Ends the provider's hold on a resource; says how, for the audit log. */
  remove(ctx: RequestContext, p: ScimProvider, row: ScimRows[K], now: number): Promise<string>;
}

/** Either resource type, as the operations take it. */
type AnyType = ResourceType<ScimKind, ResourceInput>;

/** A resource's next record, and what the audit log says of the change. */
interface Change<K extends ScimKind> {
  row: ScimRows[K];
  details: Record<string, unknown>;
}

// --- reading resources ---

function base(ctx: RequestContext): string {
  return `${ctx.origin}/api/scim/v2`;
}

/** The weak ETag of a resource's version. */
export function etag(version: number): string {
  return `W/"${version}"`;
}

/** Extension schemas whose attributes the resource holds (`urn:...:enterprise:2.0:User`). */
function extensionSchemas(attributes: ScimResource): string[] {
  return Object.keys(attributes).filter((k) => k.startsWith('urn:'));
}

/** A resource as SCIM shows it: the attributes the provider sent, then what Infra holds. */
function resource(
  ctx: RequestContext,
  type: AnyType,
  row: ScimRow,
  attributes: Record<string, unknown>,
  held: Record<string, unknown>,
): ScimResource {
  return {
    schemas: [type.schema, ...extensionSchemas(attributes)],
    id: row.id,
    ...(row.externalId !== null && { externalId: row.externalId }),
    ...attributes,
    ...held,
    meta: {
      resourceType: type.resourceType,
      created: new Date(row.createdAt).toISOString(),
      lastModified: new Date(row.updatedAt).toISOString(),
      location: `${base(ctx)}/${type.resourceType}s/${row.id}`,
      version: etag(row.version),
    },
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

/** The rest of a resource, kept as sent but for what is ignored (bounded in size). */
function keep(
  kept: Record<string, unknown>,
  rest: Record<string, unknown>,
): Record<string, unknown> {
  for (const [k, v] of Object.entries(rest)) if (!IGNORED.has(k)) kept[k] = v;
  if (JSON.stringify(kept).length > MAX_ATTRIBUTES)
    throw invalid(`the resource is larger than ${MAX_ATTRIBUTES / 1024} KiB`);
  return kept;
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

/** `urn:...:core:2.0:User:userName` → `username`. */
function attributeKey(attrPath: string, schema: string): string {
  const path = attrPath.toLowerCase();
  const prefix = `${schema.toLowerCase()}:`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** Lowers the values a filter compares the (caseless) name with; the library compares exactly. */
function lowerNames(f: Filter, type: AnyType): Filter {
  switch (f.op) {
    case 'and':
    case 'or':
      return { ...f, filters: f.filters.map((g) => lowerNames(g, type)) };
    case 'not':
      return { ...f, filter: lowerNames(f.filter, type) };
    case '[]':
      return f;
    case 'pr':
      return f;
    default:
      return attributeKey(f.attrPath, type.schema) === type.nameAttribute.toLowerCase() &&
        typeof f.compValue === 'string'
        ? { ...f, compValue: f.compValue.toLowerCase() }
        : f;
  }
}

interface ListInput {
  filter?: string;
  startIndex?: string;
  count?: string;
  /** Comma-separated; only `members` (of groups) is honoured. */
  excludedAttributes?: string;
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

/** Whether `excludedAttributes` (comma-separated) names the attribute. */
function excludes(excluded: string | undefined, attribute: string): boolean {
  return (excluded ?? '')
    .split(',')
    .some((a) => attributeKey(a.trim(), SCIM_SCHEMAS.group) === attribute.toLowerCase());
}

// --- the operations, written once for users and groups ---

/** The provider's resource of that id, of the version the client read if it says (If-Match). */
async function rowOf(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  ifMatch?: string,
): Promise<ScimRows[ScimKind]> {
  const row = await data.findScimResource(ctx.db, type.kind, p.id, id);
  if (!row)
    throw new NotFoundError(
      type.kind,
      `no ${type.kind} ${printable(id.slice(0, 100))} ${type.held} by ${p.name}`,
    );
  checkVersion(row.version, ifMatch);
  return row;
}

/**
 * One page of a list, answered by an index for `eq` on the indexed attributes, and otherwise by
 * evaluating the filter (scim2-parse-filter) over the provider's resources.
 */
async function listResources(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  input: ListInput,
): Promise<ScimResource> {
  const { startIndex, count } = readPaging(input);
  const f = readFilter(input.filter);
  const list = (opts: ScimListOptions) => data.listScimResources(ctx.db, type.kind, p.id, opts);
  const opts = { members: !excludes(input.excludedAttributes, 'members') };
  const render = (row: ScimRows[ScimKind]) => type.render(ctx, row, opts);
  // A Map: an object's lookup would find `constructor` (every object has one) an index too.
  const indexed = new Map<string, keyof ScimListOptions>([
    [type.nameAttribute.toLowerCase(), 'byName'],
    ['externalid', 'byExternalId'],
    ['id', 'byId'],
  ]);
  const by =
    f?.op === 'eq' && typeof f.compValue === 'string'
      ? indexed.get(attributeKey(f.attrPath, type.schema))
      : undefined;
  let total: number;
  let resources: ScimResource[];
  if (f === undefined || (by !== undefined && f.op === 'eq')) {
    const value = f?.op === 'eq' ? String(f.compValue) : '';
    const page = await list({
      ...(by && { [by]: by === 'byName' ? type.storedName(value) : value }),
      offset: startIndex - 1,
      limit: count,
    });
    total = page.total;
    resources = await Promise.all(page.items.map(render));
  } else {
    const test = compileFilter(type.caseless ? lowerNames(f, type) : f);
    const all = await list({ offset: 0, limit: Number.MAX_SAFE_INTEGER });
    const matching: ScimResource[] = [];
    for (const row of all.items) {
      const r = await render(row);
      const name = r[type.nameAttribute];
      const comparable =
        type.caseless && typeof name === 'string'
          ? { ...r, [type.nameAttribute]: name.toLowerCase() }
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

async function getResource(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  input: { excludedAttributes?: string } = {},
): Promise<ScimResource> {
  const members = !excludes(input.excludedAttributes, 'members');
  return type.render(ctx, await rowOf(type, ctx, p, id), { members });
}

async function createResource(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  body: unknown,
): Promise<ScimResource> {
  const input = type.read(body);
  return save(type, ctx, p, await type.provision(ctx, p, input, ctx.clock.now()));
}

async function replaceResource(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await rowOf(type, ctx, p, id, ifMatch);
  return update(type, ctx, p, row, type.read(body));
}

async function patchResource(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  body: unknown,
  ifMatch: string | undefined,
): Promise<ScimResource> {
  const row = await rowOf(type, ctx, p, id, ifMatch);
  const ops = type.readPatch(body);
  const current = await type.render(ctx, row, { members: true });
  return update(type, ctx, p, row, type.read(applyPatch(current, ops)));
}

/** A new state (PUT, or PATCH once applied): an unchanged resource keeps its version. */
async function update(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  row: ScimRows[ScimKind],
  input: ResourceInput,
): Promise<ScimResource> {
  const change = await type.update(ctx, p, row, input);
  if (change) return save(type, ctx, p, change);
  ctx.unchanged();
  return type.render(ctx, row, { members: true });
}

/** Keeps a resource's new record, says what changed in the audit log, and shows the resource. */
async function save(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  { row, details }: Change<ScimKind>,
): Promise<ScimResource> {
  await data.saveScimResource(ctx.db, type.kind, row);
  const entry = { provider: p.name, ...details };
  ctx.audit({ kind: type.kind, id: row.id, name: row.name, details: entry });
  return type.render(ctx, row, { members: true });
}

async function deleteResource(
  type: AnyType,
  ctx: RequestContext,
  p: ScimProvider,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  const row = await rowOf(type, ctx, p, id, ifMatch);
  const how = await type.remove(ctx, p, row, ctx.clock.now());
  await assertAdminRemains(ctx);
  ctx.audit({ kind: type.kind, id, name: row.name, details: { provider: p.name, scim: how } });
}

/** The first record of a resource: what users and groups both hold. */
function newRecord(id: string, p: ScimProvider, input: ResourceInput, now: number): ScimRow {
  const { name, externalId, attributes } = input;
  return {
    id,
    providerId: p.id,
    name,
    externalId,
    attributes,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

/** Whether a new state leaves what users and groups both hold as it is. */
function sameState(row: ScimRow, input: ResourceInput): boolean {
  return (
    input.name === row.name &&
    input.externalId === row.externalId &&
    JSON.stringify(input.attributes) === JSON.stringify(row.attributes)
  );
}

/** The record after a change: the next version, with what users and groups both hold. */
function nextVersion<Row extends ScimRow>(row: Row, input: ResourceInput, now: number): Row {
  const { name, externalId, attributes } = input;
  return { ...row, name, externalId, attributes, version: row.version + 1, updatedAt: now };
}

/**
 * Renames the Infra user or group. One the config file declares keeps the name it has there (the
 * next start would remove it under the new name, and make it afresh); a name taken is not unique.
 */
async function rename(
  kind: ScimKind,
  ctx: RequestContext,
  row: ScimRow,
  name: string,
  now: number,
): Promise<void> {
  const by = { byId: row.id };
  const target = kind === 'user' ? await getUser(ctx.db, by) : await getGroup(ctx.db, by);
  if (target.managedBy === 'config')
    throw new ScimError(
      'bad_request',
      `${kind} ${row.name} is declared in the server's config file; it cannot be renamed`,
      'mutability',
    );
  try {
    await (kind === 'user' ? renameUser : renameGroup)(ctx.db, row.id, name, now);
  } catch (err) {
    if (err instanceof ConflictError) throw notUnique(`a ${kind} named ${name} already exists`);
    throw err;
  }
}

// --- users ---

interface UserInput extends ResourceInput {
  active: boolean;
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
  return {
    name: spelled.toLowerCase(),
    externalId: readExternalId(externalId),
    active: active === undefined || active === null ? true : readBoolean(active, 'active'),
    attributes: keep({ userName: spelled }, rest),
  };
}

const USERS: ResourceType<'user', UserInput> = {
  kind: 'user',
  resourceType: 'User',
  schema: SCIM_SCHEMAS.user,
  nameAttribute: 'userName',
  caseless: true,
  storedName: (value) => value.trim().toLowerCase(),
  held: 'provisioned',
  read: readUser,
  readPatch,

  async render(ctx, row) {
    const { userName, ...rest } = row.attributes;
    return resource(ctx, USERS, row, rest, {
      // As the provider spelled it, unless the user was renamed another way since.
      userName:
        typeof userName === 'string' && userName.toLowerCase() === row.name ? userName : row.name,
      active: row.active,
    });
  },

  /**
   * A user of that name who signed in through this provider before is taken over; any other
   * existing user (local, another provider's) is refused as not unique. A user provisioned
   * inactive is offboarded at once.
   */
  async provision(ctx, p, input, now) {
    let user = await findUser(ctx.db, { byName: input.name });
    if (user) {
      const owner = await data.findScimResourceProvider(ctx.db, 'user', user.id);
      const linked =
        user.kind === 'user' &&
        owner === undefined &&
        (await findProviderUser(ctx.db, { providerId: p.id, userId: user.id })) !== undefined;
      if (!linked)
        throw notUnique(
          owner === p.id
            ? `${input.name} is already provisioned (id ${user.id})`
            : `a user named ${input.name} already exists and was not provisioned by ${p.name}; an admin can remove it, or the person signs in through ${p.name} once`,
        );
    } else {
      user = await createUserRow(ctx.db, {
        id: newId('user', now),
        name: input.name,
        managedBy: 'api',
        now,
      });
    }
    const ended = input.active ? 0 : await endProviderAccess(ctx.db, p.id, user.id, now);
    return {
      row: { ...newRecord(user.id, p, input, now), active: input.active },
      details: { scim: 'provisioned', active: input.active, sessionsEnded: ended },
    };
  },

  /**
   * Deactivation offboards as a provider refusing the user at sync does (sessions and keys end,
   * connectors refuse within a second) and refuses every sign-in until reactivation.
   */
  async update(ctx, p, row, input) {
    if (sameState(row, input) && input.active === row.active) return undefined;
    const now = ctx.clock.now();
    const changes: string[] = [];
    if (input.name !== row.name) {
      await rename('user', ctx, row, input.name, now);
      changes.push(`renamed from ${row.name}`);
    }
    let ended = 0;
    if (row.active && !input.active) {
      ended = await endProviderAccess(ctx.db, p.id, row.id, now);
      changes.push('deactivated');
    } else if (!row.active && input.active) changes.push('reactivated');
    return {
      row: { ...nextVersion(row, input, now), active: input.active },
      details: {
        scim: changes.length > 0 ? changes.join(', ') : 'attributes updated',
        ...(ended > 0 && { sessionsEnded: ended }),
      },
    };
  },

  /**
   * Their sessions end as at deactivation and the provider's memberships go. The Infra user is
   * deleted too unless it has another way in (a password, another provider) or is declared in
   * the config file; then only the provider's hold on it goes.
   */
  async remove(ctx, p, row, now) {
    const user = await getUser(ctx.db, { byId: row.id });
    const otherLinks = (await listProviderUserLinks(ctx.db, row.id)).filter((l) => l !== p.id);
    const kept =
      user.managedBy === 'config' ||
      otherLinks.length > 0 ||
      (await getCredential(ctx.db, row.id)) !== undefined;
    if (!kept) {
      await deleteUserRow(ctx.db, row.id, now);
      return 'deleted';
    }
    await endProviderAccess(ctx.db, p.id, row.id, now);
    const source = scimSource(p.id);
    for (const groupId of await data.listGroupIdsOfUserBySource(ctx.db, row.id, source))
      await removeGroupMembers(ctx.db, groupId, [row.id], source, now);
    await data.deleteScimResource(ctx.db, 'user', row.id);
    return 'deprovisioned, user kept';
  },
};

// --- groups ---

interface GroupInput extends ResourceInput {
  members: string[];
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
  return {
    name: groups[0]!,
    externalId: readExternalId(externalId),
    members: [...ids],
    attributes: keep({}, rest),
  };
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

const GROUPS: ResourceType<'group', GroupInput> = {
  kind: 'group',
  resourceType: 'Group',
  schema: SCIM_SCHEMAS.group,
  nameAttribute: 'displayName',
  caseless: false,
  storedName: (value) => value.trim().normalize('NFC'),
  held: 'pushed',
  read: readGroup,
  readPatch: (body) => readPatch(body).flatMap(memberRemovalsByValue),

  /** A group shows only the members its provider gave (not an admin's, nor a sign-in's). */
  async render(ctx, row, opts) {
    const members = opts.members
      ? await data.listMembersBySource(ctx.db, row.id, scimSource(row.providerId))
      : undefined;
    return resource(ctx, GROUPS, row, row.attributes, {
      displayName: row.name,
      ...(members && {
        members: members.map((m) => ({
          value: m.id,
          display: m.name,
          $ref: `${base(ctx)}/Users/${m.id}`,
        })),
      }),
    });
  },

  /**
   * An existing group of that name is taken over (its other memberships and its grants stay),
   * unless another provider pushed it or the config file declares it.
   */
  async provision(ctx, p, input, now) {
    await checkMembers(ctx, p, input.members);
    let group: { id: string };
    let created: boolean;
    try {
      const existing = await getGroup(ctx.db, { byName: input.name });
      const owner = await data.findScimResourceProvider(ctx.db, 'group', existing.id);
      if (owner !== undefined || existing.managedBy === 'config')
        throw notUnique(
          owner === p.id
            ? `group ${input.name} is already pushed (id ${existing.id})`
            : `a group named ${input.name} already exists and cannot be taken over by ${p.name}`,
        );
      group = existing;
      created = false;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      group = await createGroupRow(ctx.db, {
        id: newId('group', now),
        name: input.name,
        managedBy: 'api',
        now,
      });
      created = true;
    }
    await addGroupMembers(ctx.db, group.id, input.members, scimSource(p.id), now);
    return {
      row: { ...newRecord(group.id, p, input, now), created },
      details: { scim: created ? 'created' : 'taken over', membersAdded: input.members.length },
    };
  },

  /** A rename, and the provider's memberships made to match. */
  async update(ctx, p, row, input) {
    const source = scimSource(p.id);
    const current = new Set(
      (await data.listMembersBySource(ctx.db, row.id, source)).map((m) => m.id),
    );
    const wanted = new Set(input.members);
    const added = input.members.filter((m) => !current.has(m));
    const removed = [...current].filter((m) => !wanted.has(m));
    if (added.length === 0 && removed.length === 0 && sameState(row, input)) return undefined;
    await checkMembers(ctx, p, added);
    const now = ctx.clock.now();
    if (input.name !== row.name) await rename('group', ctx, row, input.name, now);
    await addGroupMembers(ctx.db, row.id, added, source, now);
    await removeGroupMembers(ctx.db, row.id, removed, source, now);
    if (removed.length > 0) await assertAdminRemains(ctx);
    return {
      row: nextVersion(row, input, now),
      details: {
        ...(input.name !== row.name && { renamedFrom: row.name }),
        ...(added.length > 0 && { membersAdded: added.length }),
        ...(removed.length > 0 && { membersRemoved: removed.length }),
      },
    };
  },

  /**
   * The provider's memberships go; the group itself (with its grants) goes only if SCIM created
   * it and nobody else added members to it.
   */
  async remove(ctx, p, row, now) {
    const source = scimSource(p.id);
    const group = await getGroup(ctx.db, { byId: row.id });
    const deleted =
      row.created &&
      group.managedBy !== 'config' &&
      !(await data.hasMembersFromOtherSources(ctx.db, row.id, source));
    if (deleted) {
      await deleteGroupRow(ctx.db, row.id, now);
      return 'deleted';
    }
    const members = await data.listMembersBySource(ctx.db, row.id, source);
    const ids = members.map((m) => m.id);
    await removeGroupMembers(ctx.db, row.id, ids, source, now);
    await data.deleteScimResource(ctx.db, 'group', row.id);
    return 'released, group kept';
  },
};

// --- the operations, each bound to its resource type, by the names the routes give them ---

export const listScimUsers = listResources.bind(null, USERS);
export const getScimUser = getResource.bind(null, USERS);
export const createScimUser = createResource.bind(null, USERS);
export const replaceScimUser = replaceResource.bind(null, USERS);
export const patchScimUser = patchResource.bind(null, USERS);
export const deleteScimUser = deleteResource.bind(null, USERS);

export const listScimGroups = listResources.bind(null, GROUPS);
export const getScimGroup = getResource.bind(null, GROUPS);
export const createScimGroup = createResource.bind(null, GROUPS);
export const replaceScimGroup = replaceResource.bind(null, GROUPS);
export const patchScimGroup = patchResource.bind(null, GROUPS);
export const deleteScimGroup = deleteResource.bind(null, GROUPS);
