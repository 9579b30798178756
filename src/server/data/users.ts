import type { ExpressionBuilder } from 'kysely';
import { NotFoundError } from '../../shared/errors.js';
import type { ManagedBy, Page, User, UserSummary } from '../models.js';
import { ANY_DESTINATION, recordChange } from './changes.js';
import { translateDbError, type Db } from './db.js';
import { inList } from './id-list.js';
import type { Database } from './schema.js';
import { recordRemovedUserKeys } from './removed-user-keys.js';
import { recordRevokedSessions } from './revoked-sessions.js';
import { afterKey, toPage } from './pages.js';
import { compiledOnce } from './compiled.js';
import { containsPattern, likeIgnoringCase } from './search.js';

interface ListUsersOptions {
  byName?: string;
  /** Names containing this, ignoring case. */
  search?: string;
  byGroupId?: string;
  byIds?: string[];
  includeSystem?: boolean;
  /** Also count every user the filters find (`total`). */
  count?: boolean;
  /** Cursor: `next` of the previous page. */
  after?: string;
  limit: number;
}

const columns = [
  'id',
  'name',
  'kind',
  'managedBy',
  'createdAt',
  'updatedAt',
  'lastSeenAt',
] as const;

interface UsersShape {
  system: boolean;
  byName: boolean;
  search: boolean;
  byGroup: boolean;
  after: boolean;
}

interface UsersParams {
  name: string | undefined;
  pattern: string;
  groupId: string | undefined;
  after: string;
  limit: number;
}

/** The users a list's filters find, in no order. */
function filterUsers(db: Db, p: UsersParams, shape: UsersShape) {
  let q = db.selectFrom('users');
  if (!shape.system) q = q.where('kind', '=', 'user');
  if (shape.byName) q = q.where('name', '=', p.name!);
  if (shape.search) q = q.where(likeIgnoringCase(db, 'name', p.pattern));
  if (shape.byGroup) {
    q = q.where('id', 'in', (sub) =>
      sub.selectFrom('groupMembers').select('userId').where('groupId', '=', p.groupId!),
    );
  }
  return q;
}

function selectUsers(db: Db, p: UsersParams, shape: UsersShape) {
  let q = filterUsers(db, p, shape).select(columns);
  if (shape.after) q = q.where('name', '>', p.after);
  return q.orderBy('name').limit(p.limit);
}

const listUsersQuery = compiledOnce(selectUsers);
const countUsersQuery = compiledOnce((db: Db, p: UsersParams, shape: UsersShape) =>
  filterUsers(db, p, shape).select((eb) => eb.fn.countAll<number | string>().as('n')),
);

export async function listUsers(db: Db, opts: ListUsersOptions): Promise<Page<User>> {
  const after = afterKey(opts.after);
  const shape = {
    system: opts.includeSystem === true,
    byName: opts.byName !== undefined,
    search: opts.search !== undefined,
    byGroup: opts.byGroupId !== undefined,
    after: after !== undefined,
  };
  const params = {
    name: opts.byName,
    pattern: containsPattern(opts.search ?? ''),
    groupId: opts.byGroupId,
    after: after ?? '',
    limit: opts.limit + 1,
  };
  const byIds = opts.byIds;
  const rows =
    byIds === undefined
      ? await listUsersQuery(db, shape, params)
      : // The list's length changes the SQL text: built for each request.
        await selectUsers(db, params, shape)
          .where('id', 'in', byIds.length > 0 ? byIds : [''])
          .execute();
  const page = toPage(rows, opts.limit, (u) => u.name);
  if (!opts.count) return page;
  const countShape = { ...shape, after: false };
  const [count] =
    byIds === undefined
      ? await countUsersQuery(db, countShape, params)
      : await filterUsers(db, params, countShape)
          .where('id', 'in', byIds.length > 0 ? byIds : [''])
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .execute();
  return { ...page, total: Number(count?.n ?? 0) };
}

export async function getUser(db: Db, by: { byId: string } | { byName: string }): Promise<User> {
  let q = db.selectFrom('users').select(columns);
  q = 'byId' in by ? q.where('id', '=', by.byId) : q.where('name', '=', by.byName);
  const row = await q.executeTakeFirst();
  if (!row) throw new NotFoundError('user');
  return row;
}

export async function findUser(db: Db, by: { byName: string }): Promise<User | undefined> {
  return db.selectFrom('users').select(columns).where('name', '=', by.byName).executeTakeFirst();
}

export async function createUser(
  db: Db,
  user: { id: string; name: string; managedBy: ManagedBy; now: number },
): Promise<User> {
  const row = {
    id: user.id,
    name: user.name,
    kind: 'user' as const,
    managedBy: user.managedBy,
    createdAt: user.now,
    updatedAt: user.now,
    lastSeenAt: null,
  };
  await db.insertInto('users').values(row).execute().catch(translateDbError);
  return row;
}

export async function updateUser(
  db: Db,
  id: string,
  changes: { managedBy?: ManagedBy; now: number },
): Promise<void> {
  await db
    .updateTable('users')
    .set({ updatedAt: changes.now, ...(changes.managedBy ? { managedBy: changes.managedBy } : {}) })
    .where('id', '=', id)
    .execute();
}

/**
 * Renames a user (a provider changed their userName). Connectors impersonate users by name, so
 * they hear of it.
 */
export async function renameUser(db: Db, id: string, name: string, now: number): Promise<void> {
  await db
    .updateTable('users')
    .set({ name, updatedAt: now })
    .where('id', '=', id)
    .execute()
    .catch(translateDbError);
  await recordChange(db, [ANY_DESTINATION], now, [{ kind: 'user', id }]);
}

/**
 * Deletes a user; keys, memberships and the credential go with it (foreign keys). Their
 * sessions are recorded as ended, so tokens minted with them stop working at once, and their
 * keys as a removed user's, so that whoever holds one is told why it stopped working.
 */
export async function deleteUser(db: Db, id: string, now: number): Promise<void> {
  await recordRemovedUserKeys(db, id, now);
  const keys = await db
    .selectFrom('accessKeys')
    .select(['id', 'userId'])
    .where('userId', '=', id)
    .execute();
  await recordRevokedSessions(db, keys, now);
  await recordChange(db, [ANY_DESTINATION], now, [{ kind: 'user', id }]);
  await db
    .deleteFrom('grants')
    .where('subjectKind', '=', 'user')
    .where('subjectId', '=', id)
    .execute();
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('user');
}

/**
 * Records that the user was seen, unless that was recorded less than `every` ms ago: the
 * connector user's keys (one per connector) are all used when every connector polls at once,
 * and must not all write its row.
 */
export async function updateUserLastSeen(
  db: Db,
  id: string,
  now: number,
  every: number,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ lastSeenAt: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('lastSeenAt', 'is', null), eb('lastSeenAt', '<=', now - every)]))
    .execute();
}

/** Summaries of these users, in seven queries whatever their number. */
export async function summarizeUsers(
  db: Db,
  ids: string[],
  now: number,
): Promise<Map<string, UserSummary>> {
  const summaries = new Map<string, UserSummary>(
    ids.map((id) => [
      id,
      { infraRoles: [], groups: [], providers: [], hasPassword: false, deactivatedBy: null },
    ]),
  );
  if (ids.length === 0) return summaries;
  const active = (eb: ExpressionBuilder<Database, 'grants'>) =>
    eb.or([eb('grants.expiresAt', 'is', null), eb('grants.expiresAt', '>', now)]);
  const [groups, direct, inherited, providers, credentials, deactivated, leftBehind] =
    await Promise.all([
      db
        .selectFrom('groupMembers')
        .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
        .select(['groupMembers.userId', 'groups.name'])
        .distinct()
        .where(inList(db, 'groupMembers.userId', ids))
        .orderBy('groups.name')
        .execute(),
      db
        .selectFrom('grants')
        .select(['grants.subjectId as userId', 'grants.privilege'])
        .where('grants.resource', '=', 'infra')
        .where('grants.subjectKind', '=', 'user')
        .where(inList(db, 'grants.subjectId', ids))
        .where(active)
        .execute(),
      db
        .selectFrom('grants')
        .innerJoin('groupMembers', 'groupMembers.groupId', 'grants.subjectId')
        .select(['groupMembers.userId', 'grants.privilege'])
        .where('grants.resource', '=', 'infra')
        .where('grants.subjectKind', '=', 'group')
        .where(inList(db, 'groupMembers.userId', ids))
        .where(active)
        .execute(),
      db
        .selectFrom('providerUsers')
        .innerJoin('providers', 'providers.id', 'providerUsers.providerId')
        .select(['providerUsers.userId', 'providers.name'])
        .where(inList(db, 'providerUsers.userId', ids))
        .orderBy('providers.name')
        .execute(),
      db
        .selectFrom('credentials')
        .select('userId')
        .where(inList(db, 'credentials.userId', ids))
        .execute(),
      db
        .selectFrom('scimUsers')
        .innerJoin('providers', 'providers.id', 'scimUsers.providerId')
        .select(['scimUsers.userId', 'providers.name'])
        .where('scimUsers.active', '=', 0)
        .where(inList(db, 'scimUsers.userId', ids))
        .execute(),
      // Deactivated by a provider since removed (migration 0013).
      db
        .selectFrom('users')
        .select(['id as userId', 'deactivatedBy as name'])
        .where('deactivatedBy', 'is not', null)
        .where(inList(db, 'users.id', ids))
        .execute(),
    ]);
  for (const g of groups) summaries.get(g.userId)?.groups.push(g.name);
  for (const r of [...direct, ...inherited]) {
    const roles = summaries.get(r.userId)?.infraRoles;
    if (roles && !roles.includes(r.privilege)) roles.push(r.privilege);
  }
  for (const p of providers) summaries.get(p.userId)?.providers.push(p.name);
  for (const c of credentials) {
    const s = summaries.get(c.userId);
    if (s) s.hasPassword = true;
  }
  for (const d of [...leftBehind, ...deactivated]) {
    const s = summaries.get(d.userId);
    if (s) s.deactivatedBy = d.name;
  }
  for (const s of summaries.values()) s.infraRoles.sort();
  return summaries;
}
