import { NotFoundError } from '../../shared/errors.js';
import type { ManagedBy, Page, User } from '../models.js';
import { ANY_DESTINATION, recordChange } from './changes.js';
import { translateDbError, type Db } from './db.js';
import { recordRemovedUserKeys } from './removed-user-keys.js';
import { recordRevokedSessions } from './revoked-sessions.js';
import { afterKey, toPage } from './pages.js';
import { compiledOnce } from './compiled.js';

interface ListUsersOptions {
  byName?: string;
  byGroupId?: string;
  byIds?: string[];
  includeSystem?: boolean;
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
  byGroup: boolean;
  after: boolean;
}

interface UsersParams {
  name: string | undefined;
  groupId: string | undefined;
  after: string;
  limit: number;
}

function selectUsers(db: Db, p: UsersParams, shape: UsersShape) {
  let q = db.selectFrom('users').select(columns);
  if (!shape.system) q = q.where('kind', '=', 'user');
  if (shape.byName) q = q.where('name', '=', p.name!);
  if (shape.byGroup) {
    q = q.where('id', 'in', (sub) =>
      sub.selectFrom('groupMembers').select('userId').where('groupId', '=', p.groupId!),
    );
  }
  if (shape.after) q = q.where('name', '>', p.after);
  return q.orderBy('name').limit(p.limit);
}

const listUsersQuery = compiledOnce(selectUsers);

export async function listUsers(db: Db, opts: ListUsersOptions): Promise<Page<User>> {
  const after = afterKey(opts.after);
  const shape = {
    system: opts.includeSystem === true,
    byName: opts.byName !== undefined,
    byGroup: opts.byGroupId !== undefined,
    after: after !== undefined,
  };
  const params = {
    name: opts.byName,
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
  return toPage(rows, opts.limit, (u) => u.name);
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
