import type { SelectQueryBuilder } from 'kysely';
import { NotFoundError } from '../../shared/errors.js';
import type { Group, ManagedBy, Page } from '../models.js';
import { destinationsOfSubjects, recordChange, type ChangeSubject } from './changes.js';
import { inList } from './id-list.js';
import { translateDbError, type Db } from './db.js';
import { afterKey, toPage } from './pages.js';
import type { Database } from './schema.js';
import { containsPattern, likeIgnoringCase } from './search.js';

interface ListGroupsOptions {
  byName?: string;
  /** Names containing this, ignoring case. */
  search?: string;
  /** Also count every group the filters find (`total`). */
  count?: boolean;
  byUserId?: string;
  managedBy?: ManagedBy;
  after?: string;
  limit: number;
}

function selectGroups(db: Db) {
  return withGroupColumns(db.selectFrom('groups'));
}

function withGroupColumns(q: SelectQueryBuilder<Database, 'groups', object>) {
  return q
    .select([
      'groups.id',
      'groups.name',
      'groups.managedBy',
      'groups.createdAt',
      'groups.updatedAt',
    ])
    .select((eb) =>
      eb
        .selectFrom('groupMembers')
        .select((sub) => sub.fn.count<number>('groupMembers.userId').distinct().as('n'))
        .whereRef('groupMembers.groupId', '=', 'groups.id')
        .as('totalUsers'),
    );
}

function toGroup(row: Omit<Group, 'totalUsers'> & { totalUsers: number | string | null }): Group {
  return { ...row, totalUsers: Number(row.totalUsers ?? 0) };
}

/** The groups a list's filters find, in no order. */
function filterGroups(db: Db, opts: ListGroupsOptions) {
  let q = db.selectFrom('groups');
  if (opts.byName !== undefined) q = q.where('groups.name', '=', opts.byName);
  if (opts.search !== undefined)
    q = q.where(likeIgnoringCase(db, 'groups.name', containsPattern(opts.search)));
  if (opts.managedBy !== undefined) q = q.where('groups.managedBy', '=', opts.managedBy);
  if (opts.byUserId !== undefined) {
    const userId = opts.byUserId;
    q = q.where('groups.id', 'in', (sub) =>
      sub.selectFrom('groupMembers').select('groupId').where('userId', '=', userId),
    );
  }
  return q;
}

export async function listGroups(db: Db, opts: ListGroupsOptions): Promise<Page<Group>> {
  let q = withGroupColumns(filterGroups(db, opts));
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('groups.name', '>', after);
  const rows = await q
    .orderBy('groups.name')
    .limit(opts.limit + 1)
    .execute();
  const page = toPage(rows.map(toGroup), opts.limit, (g) => g.name);
  if (!opts.count) return page;
  const count = await filterGroups(db, opts)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirst();
  return { ...page, total: Number(count?.n ?? 0) };
}

export async function getGroup(db: Db, by: { byId: string } | { byName: string }): Promise<Group> {
  const q = selectGroups(db);
  const row = await (
    'byId' in by ? q.where('groups.id', '=', by.byId) : q.where('groups.name', '=', by.byName)
  ).executeTakeFirst();
  if (!row) throw new NotFoundError('group');
  return toGroup(row);
}

export async function createGroup(
  db: Db,
  group: { id: string; name: string; managedBy: ManagedBy; now: number },
): Promise<Group> {
  const row = {
    id: group.id,
    name: group.name,
    managedBy: group.managedBy,
    createdAt: group.now,
    updatedAt: group.now,
  };
  await db.insertInto('groups').values(row).execute().catch(translateDbError);
  return { ...row, totalUsers: 0 };
}

/** Renames a group (a provider changed its displayName); grants and memberships stay. */
export async function renameGroup(db: Db, id: string, name: string, now: number): Promise<void> {
  await db
    .updateTable('groups')
    .set({ name, updatedAt: now })
    .where('id', '=', id)
    .execute()
    .catch(translateDbError);
  const members = await db
    .selectFrom('groupMembers')
    .select('userId')
    .distinct()
    .where('groupId', '=', id)
    .limit(MEMBERS_PER_CHANGE + 1)
    .execute();
  await recordChange(db, await destinationsOfSubjects(db, [id]), now, [
    { kind: 'group', id },
    ...membersChanged(members.map((m) => m.userId)),
  ]);
}

/** Hands a group over to the API or the config file. */
export async function setGroupManagedBy(
  db: Db,
  id: string,
  managedBy: ManagedBy,
  now: number,
): Promise<void> {
  await db.updateTable('groups').set({ managedBy, updatedAt: now }).where('id', '=', id).execute();
}

/** Memberships changed one by one in the change log; more, and connectors reread everything. */
const MEMBERS_PER_CHANGE = 100;

/** What a change to these members concerns, for the change log. */
function membersChanged(userIds: string[]): ChangeSubject[] {
  if (userIds.length > MEMBERS_PER_CHANGE) return [{ kind: 'all' }];
  return userIds.map((id) => ({ kind: 'user', id }));
}

/** Deletes a group, its grants and its memberships. */
export async function deleteGroup(db: Db, id: string, now: number): Promise<void> {
  const members = await db
    .selectFrom('groupMembers')
    .select('userId')
    .distinct()
    .where('groupId', '=', id)
    .limit(MEMBERS_PER_CHANGE + 1)
    .execute();
  await recordChange(db, await destinationsOfSubjects(db, [id]), now, [
    { kind: 'group', id },
    ...membersChanged(members.map((m) => m.userId)),
  ]);
  await db
    .deleteFrom('grants')
    .where('subjectKind', '=', 'group')
    .where('subjectId', '=', id)
    .execute();
  const result = await db.deleteFrom('groups').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('group');
}

/** Adds memberships from one source; existing ones are left as they are. */
export async function addGroupMembers(
  db: Db,
  groupId: string,
  userIds: string[],
  source: string,
  now: number,
): Promise<void> {
  if (userIds.length === 0) return;
  // In chunks: four variables a row, and a provider's group can have any number of members.
  for (let i = 0; i < userIds.length; i += 1000)
    await db
      .insertInto('groupMembers')
      .values(
        userIds.slice(i, i + 1000).map((userId) => ({ groupId, userId, source, createdAt: now })),
      )
      .onConflict((oc) => oc.columns(['groupId', 'userId', 'source']).doNothing())
      .execute();
  await db.updateTable('groups').set({ updatedAt: now }).where('id', '=', groupId).execute();
  await recordChange(db, await destinationsOfSubjects(db, [groupId]), now, membersChanged(userIds));
}

/** Removes the memberships that one source added; memberships from other sources stay. */
export async function removeGroupMembers(
  db: Db,
  groupId: string,
  userIds: string[],
  source: string,
  now: number,
): Promise<void> {
  if (userIds.length === 0) return;
  await db
    .deleteFrom('groupMembers')
    .where('groupId', '=', groupId)
    .where(inList(db, 'userId', userIds))
    .where('source', '=', source)
    .execute();
  await db.updateTable('groups').set({ updatedAt: now }).where('id', '=', groupId).execute();
  await recordChange(db, await destinationsOfSubjects(db, [groupId]), now, membersChanged(userIds));
}

/** Which of these users are members of the group through one source. */
export async function listGroupMemberIds(
  db: Db,
  groupId: string,
  userIds: string[],
  source: string,
): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('groupMembers')
    .select('userId')
    .where('groupId', '=', groupId)
    .where('source', '=', source)
    .where(inList(db, 'userId', userIds))
    .execute();
  return rows.map((r) => r.userId);
}

/** The groups a user is in (from any source). */
export async function listGroupIdsOfUser(db: Db, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .distinct()
    .where('userId', '=', userId)
    .execute();
  return rows.map((r) => r.groupId);
}

export async function isGroupMember(db: Db, groupId: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .where('groupId', '=', groupId)
    .where('userId', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Names of the groups a user is in, sorted. */
export async function listGroupNamesOfUser(db: Db, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('groupMembers')
    .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
    .select('groups.name')
    .distinct()
    .where('groupMembers.userId', '=', userId)
    .orderBy('groups.name')
    .execute();
  return rows.map((r) => r.name);
}

/** A user's memberships, one per group and source (an admin, a provider, SCIM), by group name. */
export async function listMembershipsOfUser(
  db: Db,
  userId: string,
): Promise<Array<{ groupId: string; groupName: string; source: string; createdAt: number }>> {
  const rows = await db
    .selectFrom('groupMembers')
    .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
    .select([
      'groupMembers.groupId',
      'groups.name as groupName',
      'groupMembers.source',
      'groupMembers.createdAt',
    ])
    .where('groupMembers.userId', '=', userId)
    .orderBy('groups.name')
    .orderBy('groupMembers.source')
    .execute();
  return rows.map((r) => ({ ...r, createdAt: Number(r.createdAt) }));
}
