import { NotFoundError } from '../../shared/errors.js';
import type { Destination, Grant, Page, SubjectKind } from '../models.js';
import { recordChange } from './changes.js';
import { translateDbError, type Db } from './db.js';
import { listGrants } from './grants.js';
import { inList } from './id-list.js';
import { afterKey, toPage } from './pages.js';
import { containsPattern, likeIgnoringCase } from './search.js';

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
  'connectionMode',
  'kind',
  'sshAddress',
  'sshHostKey',
  'namespaces',
  'roles',
  'version',
  'lastSeenAt',
  'createdAt',
  'updatedAt',
] as const;

interface ListDestinationsOptions {
  byName?: string;
  /** Names containing this, ignoring case. */
  search?: string;
  byUniqueId?: string;
  /** Only these destination names (what a user may reach). */
  byNames?: string[];
  /** Also count every destination the filters find (`total`). */
  count?: boolean;
  after?: string;
  limit: number;
}

/** The destinations a list's filters find, in no order. */
function filterDestinations(db: Db, opts: ListDestinationsOptions) {
  let q = db.selectFrom('destinations');
  if (opts.byName !== undefined) q = q.where('name', '=', opts.byName);
  if (opts.search !== undefined)
    q = q.where(likeIgnoringCase(db, 'name', containsPattern(opts.search)));
  if (opts.byUniqueId !== undefined) q = q.where('uniqueId', '=', opts.byUniqueId);
  if (opts.byNames !== undefined) q = q.where(inList(db, 'name', opts.byNames));
  return q;
}

export async function listDestinations(
  db: Db,
  opts: ListDestinationsOptions,
): Promise<Page<Destination>> {
  if (opts.byNames?.length === 0) return { items: [], ...(opts.count ? { total: 0 } : {}) };
  let q = filterDestinations(db, opts).select(columns);
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('name', '>', after);
  const rows = await q
    .orderBy('name')
    .limit(opts.limit + 1)
    .execute();
  const page = toPage(rows.map(toDestination), opts.limit, (d) => d.name);
  if (!opts.count) return page;
  const count = await filterDestinations(db, opts)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirst();
  return { ...page, total: Number(count?.n ?? 0) };
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
  | 'name'
  | 'uniqueId'
  | 'connectionUrl'
  | 'connectionCa'
  | 'connectionMode'
  | 'namespaces'
  | 'roles'
  | 'version'
> &
  Partial<Pick<Destination, 'kind' | 'sshAddress' | 'sshHostKey'>>;

function toRow(d: DestinationFields) {
  return {
    name: d.name,
    uniqueId: d.uniqueId,
    connectionUrl: d.connectionUrl,
    connectionCa: d.connectionCa,
    connectionMode: d.connectionMode,
    kind: d.kind ?? 'kubernetes',
    sshAddress: d.sshAddress ?? '',
    sshHostKey: d.sshHostKey ?? '',
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
  await recordChange(db, [d.name], d.now, [{ kind: 'all' }]);
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
  // Only a rename changes who has access there: its grants are another destination's.
  await recordChange(db, [before.name, d.name], d.now, [
    { kind: before.name === d.name ? 'destination' : 'all' },
  ]);
}

export async function deleteDestination(db: Db, id: string, now: number): Promise<Destination> {
  const d = await getDestination(db, { byId: id });
  await db.deleteFrom('destinations').where('id', '=', id).execute();
  await recordChange(db, [d.name], now, [{ kind: 'all' }]);
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
    .where(inList(db, 'subjectId', [userId, ...groups.map((g) => g.groupId)]))
    .where('resource', '!=', 'infra')
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]))
    .execute();
  return rows.map((r) => r.destination);
}

/**
 * When a user's access to a destination ends: the last expiry of the grants giving it, or
 * Infinity when one of them does not expire (or there are none).
 */
export async function accessEndsAt(
  db: Db,
  userId: string,
  destination: string,
  now: number,
): Promise<number> {
  const groups = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .where('userId', '=', userId)
    .execute();
  const rows = await db
    .selectFrom('grants')
    .select('expiresAt')
    .where(inList(db, 'subjectId', [userId, ...groups.map((g) => g.groupId)]))
    .where('destination', '=', destination)
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]))
    .execute();
  if (rows.length === 0 || rows.some((r) => r.expiresAt === null)) return Infinity;
  return Math.max(...rows.map((r) => Number(r.expiresAt)));
}

/**
 * The ids of the users (or groups) holding an active grant at any of `destinations`, as a
 * subquery.
 */
export function grantHolders(db: Db, destinations: string[], now: number) {
  return (kind: SubjectKind) =>
    db
      .selectFrom('grants')
      .select('subjectId')
      .where(inList(db, 'destination', destinations))
      .where('subjectKind', '=', kind)
      .where('managedBy', '!=', 'system')
      .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]));
}

/** Users holding a grant there, directly or through a group: `holders` from grantHolders. */
export function selectUsersWithAccess(db: Db, holders: ReturnType<typeof grantHolders>) {
  return db
    .selectFrom('users')
    .select(['id', 'name'])
    .where((eb) =>
      eb.or([
        eb('id', 'in', holders('user')),
        eb(
          'id',
          'in',
          eb.selectFrom('groupMembers').select('userId').where('groupId', 'in', holders('group')),
        ),
      ]),
    );
}

/** Who has access at one destination. */
export interface AccessAt {
  grants: Grant[];
  users: Array<{ id: string; name: string; groups: string[] }>;
}

/**
 * Everyone with access at each of these destinations (a few hundred at most): the active grants
 * on it (and its namespaces), the users holding them directly or through a group, and for each
 * user the names of their groups that hold grants there (what the connector impersonates). Three
 * queries however many destinations, so that waking every connector's feed at once stays cheap;
 * none binds a variable per user or grant.
 */
export async function getDestinationsAccess(
  db: Db,
  destinations: string[],
  now: number,
): Promise<Map<string, AccessAt>> {
  const grants = (await listGrants(db, { byDestinations: destinations, activeAt: now, limit: ALL }))
    .items;
  const holders = grantHolders(db, destinations, now);
  const members = await db
    .selectFrom('groupMembers')
    .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
    .select(['groupMembers.groupId', 'groupMembers.userId', 'groups.name'])
    .where('groupMembers.groupId', 'in', holders('group'))
    .execute();
  const membersOf = new Map<string, Array<{ userId: string; name: string }>>();
  for (const m of members) {
    const list = membersOf.get(m.groupId);
    if (list) list.push(m);
    else membersOf.set(m.groupId, [m]);
  }
  // In the database's order of names (its collation), as the feed has always listed them.
  const users = await selectUsersWithAccess(db, holders).orderBy('name').execute();
  const rank = new Map(users.map((u, i) => [u.id, i]));
  const result = new Map<string, AccessAt>();
  for (const destination of destinations) result.set(destination, { grants: [], users: [] });
  const groupsAt = new Map<string, Map<string, Set<string>>>();
  for (const g of grants) {
    result.get(g.destination)!.grants.push(g);
    let groupsOf = groupsAt.get(g.destination);
    if (!groupsOf) groupsAt.set(g.destination, (groupsOf = new Map()));
    if (g.subjectKind === 'user') {
      if (!groupsOf.has(g.subjectId)) groupsOf.set(g.subjectId, new Set());
      continue;
    }
    for (const m of membersOf.get(g.subjectId) ?? []) {
      const groups = groupsOf.get(m.userId) ?? new Set<string>();
      groupsOf.set(m.userId, groups.add(m.name));
    }
  }
  for (const [destination, groupsOf] of groupsAt) {
    // Users deleted since the grants were read have no rank and are left out.
    const ids = [...groupsOf.keys()].filter((id) => rank.has(id));
    ids.sort((a, b) => rank.get(a)! - rank.get(b)!);
    result.get(destination)!.users = ids.map((id) => ({
      id,
      name: users[rank.get(id)!]!.name,
      groups: [...groupsOf.get(id)!].sort(),
    }));
  }
  return result;
}
