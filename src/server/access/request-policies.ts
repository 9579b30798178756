import type { Clock } from '../../shared/clock.js';
import { formatDuration } from '../../shared/duration.js';
import { AppError, assertThat } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { newId } from '../../shared/ids.js';
import * as data from '../data/request-policies.js';
import type { RequestPolicy, SubjectNames } from '../models.js';
import { actorOf, type RequestContext } from './context.js';
import { listGroupNamesOfUser } from '../data/groups.js';

/** `*` matches any run of characters; everything else is literal. */
export function matchesPattern(pattern: string, value: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === value;
  if (!value.startsWith(parts[0]!) || !value.endsWith(parts.at(-1)!)) return false;
  let at = parts[0]!.length;
  const end = value.length - parts.at(-1)!.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return at <= end;
}

export function policyCovers(p: RequestPolicy, role: string, resource: string): boolean {
  return (
    p.roles.some((r) => matchesPattern(r, role)) &&
    p.resources.some((r) => matchesPattern(r, resource))
  );
}

/** Whether a user (by name, with their groups' names) is among `subjects`. */
export function isAmong(subjects: SubjectNames, user: string, groups: readonly string[]): boolean {
  return subjects.users.includes(user) || groups.some((g) => subjects.groups.includes(g));
}

/** Who a user is, as policies name people. */
export interface PolicyPerson {
  name: string;
  groups: string[];
}

export async function policyPerson(
  ctx: RequestContext,
  user: { id: string; name: string },
): Promise<PolicyPerson> {
  return { name: user.name, groups: await listGroupNamesOfUser(ctx.db, user.id) };
}

export interface PolicyInput {
  roles: string[];
  resources: string[];
  requesters: SubjectNames;
  approvers: SubjectNames;
  approvalsRequired: number;
  maxDuration: number;
  pendingExpiry: number;
  reasonRequired: boolean;
}

function describe(p: Pick<RequestPolicy, 'name' | 'roles' | 'resources'>): string {
  return `${p.name}: ${p.roles.join(', ')} on ${p.resources.join(', ')}`;
}

/** Admins and viewers see every policy; others those they may request under or review. */
export async function listRequestPolicies(ctx: RequestContext): Promise<RequestPolicy[]> {
  const actor = actorOf(ctx);
  const all = await data.listRequestPolicies(ctx.db);
  if (actor.roles.has('admin') || actor.roles.has('view')) return all;
  const person = await policyPerson(ctx, { id: actor.userId, name: actor.name });
  return all.filter(
    (p) =>
      isAmong(p.requesters, person.name, person.groups) ||
      isAmong(p.approvers, person.name, person.groups),
  );
}

export async function createRequestPolicy(
  ctx: RequestContext,
  input: PolicyInput & { name: string },
): Promise<RequestPolicy> {
  const now = ctx.clock.now();
  const policy: RequestPolicy = {
    id: newId('requestPolicy', now),
    ...input,
    managedBy: 'api',
    createdAt: now,
    updatedAt: now,
  };
  await data.createRequestPolicy(ctx.db, policy);
  ctx.audit({ kind: 'requestPolicy', id: policy.id, name: describe(policy) });
  return policy;
}

function assertApiManaged(p: RequestPolicy): void {
  assertThat(
    p.managedBy === 'api',
    () =>
      new AppError(
        'bad_request',
        "this request policy is declared in the server's config file; change it there",
      ),
  );
}

/** What an update changed, field by field (durations as written): for the audit entry. */
function changedRules(before: RequestPolicy, after: RequestPolicy): Record<string, unknown> {
  const shown = (key: keyof PolicyInput, p: RequestPolicy) =>
    key === 'maxDuration' || key === 'pendingExpiry' ? formatDuration(p[key]) : p[key];
  const keys: Array<keyof PolicyInput> = [
    'roles',
    'resources',
    'requesters',
    'approvers',
    'approvalsRequired',
    'maxDuration',
    'pendingExpiry',
    'reasonRequired',
  ];
  const changed: Record<string, unknown> = {};
  for (const key of keys) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      changed[key] = { from: shown(key, before), to: shown(key, after) };
  }
  return changed;
}

/**
 * Replaces a policy's rules in place (its name and id stay). Pending requests made under it are
 * reviewed by its new approvers and thresholds; their deadlines stay.
 */
export async function updateRequestPolicy(
  ctx: RequestContext,
  input: PolicyInput & { id: string },
): Promise<RequestPolicy> {
  const existing = await data.getRequestPolicy(ctx.db, { byId: input.id });
  assertApiManaged(existing);
  const policy: RequestPolicy = { ...existing, ...input, updatedAt: ctx.clock.now() };
  await data.updateRequestPolicy(ctx.db, policy);
  ctx.audit({
    kind: 'requestPolicy',
    id: policy.id,
    name: describe(policy),
    details: changedRules(existing, policy),
  });
  return policy;
}

export async function deleteRequestPolicy(ctx: RequestContext, id: string): Promise<void> {
  const existing = await data.getRequestPolicy(ctx.db, { byId: id });
  assertApiManaged(existing);
  await data.deleteRequestPolicy(ctx.db, id);
  ctx.audit({ kind: 'requestPolicy', id, name: describe(existing) });
}

/** A policy as the config file declares it. */
export type DeclaredRequestPolicy = PolicyInput & { name: string };

/**
 * Makes the config file's policies the ones managed by it: declared ones are created, or
 * updated (a policy of that name made through the API is handed to the file), and ones the file
 * no longer declares are removed.
 */
export async function reconcileRequestPolicies(
  db: Db,
  clock: Clock,
  log: Logger,
  declared: DeclaredRequestPolicy[],
): Promise<void> {
  const now = clock.now();
  await db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    const existing = new Map((await data.listRequestPolicies(tx)).map((p) => [p.name, p]));
    const changes: Record<string, string[]> = {};
    const note = (what: string, name: string) => (changes[what] ??= []).push(name);
    for (const d of declared) {
      const known = existing.get(d.name);
      if (!known) {
        await data.createRequestPolicy(tx, {
          id: newId('requestPolicy', now),
          ...d,
          managedBy: 'config',
          createdAt: now,
          updatedAt: now,
        });
        note('requestPoliciesCreated', d.name);
        continue;
      }
      const wanted: RequestPolicy = { ...known, ...d, managedBy: 'config', updatedAt: now };
      if (
        JSON.stringify({ ...wanted, updatedAt: 0 }) !== JSON.stringify({ ...known, updatedAt: 0 })
      ) {
        await data.updateRequestPolicy(tx, wanted);
        note('requestPoliciesUpdated', d.name);
      }
    }
    const names = new Set(declared.map((d) => d.name));
    for (const p of existing.values()) {
      if (p.managedBy === 'config' && !names.has(p.name)) {
        await data.deleteRequestPolicy(tx, p.id);
        note('requestPoliciesRemoved', p.name);
      }
    }
    if (Object.keys(changes).length === 0) return;
    await appendAudit(tx, {
      at: now,
      actorId: null,
      actorName: 'config file',
      action: 'reconcileRequestPolicies',
      targetKind: 'config',
      targetId: null,
      targetName: null,
      sourceIp: 'local',
      result: 'success',
      details: changes,
    });
    log.info({ changes }, 'applied the request policies of the config file');
  });
}
