import { NotFoundError } from '../../shared/errors.js';
import type { Destination, Grant, Page } from '../models.js';
import { recordChange } from './changes.js';
import { translateDbError, type Db } from './db.js';
import { listGrants } from './grants.js';
import { afterKey, toPage } from './pages.js';

// Every grant of a destination is one page of the feed; a destination with more is not sensible.
const ALL = 1_000_000;

type Row = Omit<Destination, 'namespaces' | 'roles'> & { namespaces: string; roles: string };

function toDestination(row: Row): Destination {
  return {
    ...row,
    namespaces: JSON.parse(row.namespaces) as string[],
    roles: JSON.parse(row.roles) as string[],
  };
}

const columns = [
  'id',
  'name',
  'uniqueId',
  'connectionUrl',
  'connectionCa',
  'namespaces',
  'roles',
  'version',
  'lastSeenAt',
  'createdAt',
  'updatedAt',
] as const;

interface ListDestinationsOptions {
  byName?: string;
  byUniqueId?: string;
  /** Only these destination names (what a user may reach). */
  byNames?: string[];
  after?: string;
  limit: number;
}

export async function listDestinations(
  db: Db,
  opts: ListDestinationsOptions,
): Promise<Page<Destination>> {
  let q = db.selectFrom('destinations').select(columns);
  if (opts.byName !== undefined) q = q.where('name', '=', opts.byName);
  if (opts.byUniqueId !== undefined) q = q.where('uniqueId', '=', opts.byUniqueId);
  if (opts.byNames !== undefined) {
    if (opts.byNames.length === 0) return { items: [] };
    q = q.where('name', 'in', opts.byNames);
  }
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('name', '>', after);
  const rows = await q
    .orderBy('name')
    .limit(opts.limit + 1)
    .execute();
  return toPage(rows.map(toDestination), opts.limit, (d) => d.name);
}

export async function getDestination(
  db: Db,
  by: { byId: string } | { byName: string },
): Promise<Destination> {
  let q = db.selectFrom('destinations').select(columns);
  q = 'byId' in by ? q.where('id', '=', by.byId) : q.where('name', '=', by.byName);
  const row = await q.executeTakeFirst();
  if (!row) throw new NotFoundError('destination');
  return toDestination(row);
}

export type DestinationFields = Pick<
  Destination,
  'name' | 'uniqueId' | 'connectionUrl' | 'connectionCa' | 'namespaces' | 'roles' | 'version'
>;

function toRow(d: DestinationFields) {
  return {
    name: d.name,
    uniqueId: d.uniqueId,
    connectionUrl: d.connectionUrl,
    connectionCa: d.connectionCa,
    namespaces: JSON.stringify(d.namespaces),
    roles: JSON.stringify(d.roles),
    version: d.version,
  };
}

export async function createDestination(
  db: Db,
  d: DestinationFields & { id: string; now: number },
): Promise<void> {
  await db
    .insertInto('destinations')
    .values({ ...toRow(d), id: d.id, lastSeenAt: d.now, createdAt: d.now, updatedAt: d.now })
    .execute()
    .catch(translateDbError);
  await recordChange(db, [d.name], d.now);
}

/** Replaces a destination's fields (a rename moves its change stream to the new name). */
export async function updateDestination(
  db: Db,
  id: string,
  d: DestinationFields & { now: number },
): Promise<void> {
  const before = await getDestination(db, { byId: id });
  await db
    .updateTable('destinations')
    .set({ ...toRow(d), lastSeenAt: d.now, updatedAt: d.now })
    .where('id', '=', id)
    .execute()
    .catch(translateDbError);
  await recordChange(db, [before.name, d.name], d.now);
}

export async function deleteDestination(db: Db, id: string, now: number): Promise<Destination> {
  const d = await getDestination(db, { byId: id });
  await db.deleteFrom('destinations').where('id', '=', id).execute();
  await recordChange(db, [d.name], now);
  return d;
}

/** Records that the destination's connector was in touch. */
export async function updateDestinationLastSeen(db: Db, name: string, now: number): Promise<void> {
  await db.updateTable('destinations').set({ lastSeenAt: now }).where('name', '=', name).execute();
}

/** Names of the destinations the user (or their groups) holds an active grant on. */
export async function listReachableDestinations(
  db: Db,
  userId: string,
  now: number,
): Promise<string[]> {
  const groups = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .where('userId', '=', userId)
    .execute();
  const rows = await db
    .selectFrom('grants')
    .select('destination')
    .distinct()
    .where('subjectId', 'in', [userId, ...groups.map((g) => g.groupId)])
    .where('resource', '!=', 'infra')
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]))
    .execute();
  return rows.map((r) => r.destination);
}

/**
 * Everyone with access at a destination: the active grants on it (and its namespaces), the users
 * holding them directly or through a group, and for each user the names of their groups that
 * hold grants there (what the connector impersonates).
 */
export async function getDestinationAccess(
  db: Db,
  destination: string,
  now: number,
): Promise<{ grants: Grant[]; users: Array<{ id: string; name: string; groups: string[] }> }> {
  const grants = (await listGrants(db, { byDestination: destination, activeAt: now, limit: ALL }))
    .items;
  const groupIds = [
    ...new Set(grants.filter((g) => g.subjectKind === 'group').map((g) => g.subjectId)),
  ];
  const directIds = [
    ...new Set(grants.filter((g) => g.subjectKind === 'user').map((g) => g.subjectId)),
  ];
  const members =
    groupIds.length === 0
      ? []
      : await db
          .selectFrom('groupMembers')
          .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
          .select(['groupMembers.userId', 'groups.name'])
          .distinct()
          .where('groupMembers.groupId', 'in', groupIds)
          .execute();
  const userIds = [...new Set([...directIds, ...members.map((m) => m.userId)])];
  const users =
    userIds.length === 0
      ? []
      : await db
          .selectFrom('users')
          .select(['id', 'name'])
          .where('id', 'in', userIds)
          .orderBy('name')
          .execute();
  const groupsOf = new Map<string, string[]>();
  for (const m of members) groupsOf.set(m.userId, [...(groupsOf.get(m.userId) ?? []), m.name]);
  return {
    grants,
    users: users.map((u) => ({ ...u, groups: (groupsOf.get(u.id) ?? []).sort() })),
  };
}
