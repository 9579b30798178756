import type { Grant, Page } from '../models.js';
import type { Db } from './db.js';
import { grantHolders, selectUsersWithAccess } from './destinations.js';
import { listGrants } from './grants.js';
import { inList } from './id-list.js';

/** A user with access at a destination, with their groups that hold grants there. */
export interface UserAccess {
  id: string;
  name: string;
  groups: string[];
}

/**
 * Active grants at `destination` (and its namespaces), by id: a page after the cursor `after`,
 * or those of the subjects in `subjectIds`.
 */
export async function listGrantsAt(
  db: Db,
  destination: string,
  now: number,
  opts: { subjectIds?: string[]; after?: string; limit: number },
): Promise<Page<Grant>> {
  return listGrants(db, {
    byDestination: destination,
    bySubjectIds: opts.subjectIds,
    activeAt: now,
    after: opts.after,
    limit: opts.limit,
  });
}

/**
 * The users with access at `destination` (a grant to them or to one of their groups), by id: a
 * page after `after`, or those among `ids`. Each with the names of their groups holding grants
 * there, in code unit order.
 */
export async function listUserAccess(
  db: Db,
  destination: string,
  now: number,
  opts: { ids?: string[]; after?: string; limit: number },
): Promise<UserAccess[]> {
  const holders = grantHolders(db, [destination], now);
  let q = selectUsersWithAccess(db, holders);
  if (opts.ids !== undefined) {
    if (opts.ids.length === 0) return [];
    q = q.where(inList(db, 'id', opts.ids));
  }
  if (opts.after !== undefined) q = q.where('id', '>', opts.after);
  const users = await q.orderBy('id').limit(opts.limit).execute();
  if (users.length === 0) return [];
  const memberships = await db
    .selectFrom('groupMembers')
    .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
    .select(['groupMembers.userId', 'groups.name'])
    .distinct()
    .where(
      inList(
        db,
        'groupMembers.userId',
        users.map((u) => u.id),
      ),
    )
    .where('groupMembers.groupId', 'in', holders('group'))
    .execute();
  const groupsOf = new Map<string, string[]>();
  for (const m of memberships) {
    const groups = groupsOf.get(m.userId);
    if (groups) groups.push(m.name);
    else groupsOf.set(m.userId, [m.name]);
  }
  return users.map((u) => ({
    id: u.id,
    name: u.name,
    groups: (groupsOf.get(u.id) ?? []).sort(),
  }));
}

/** The members of these groups. */
export async function listMembers(db: Db, groupIds: string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const rows = await db
    .selectFrom('groupMembers')
    .select('userId')
    .distinct()
    .where(inList(db, 'groupId', groupIds))
    .execute();
  return rows.map((r) => r.userId);
}
