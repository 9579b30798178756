import { changesAt, latestChangeIndex } from '../data/changes.js';
import type { Db } from '../data/db.js';
import { listGrantsAt, listMembers, listUserAccess } from '../data/feed.js';
import { listRemovedUsers, listRevokedSessions } from '../data/revoked-sessions.js';
import type { AccessChanges } from '../models.js';
import { TOKEN_LIFETIME_MS } from './tokens.js';

/** Grants and users in one snapshot page (about 1.5 MB at most). */
export const PAGE_SIZE = 5000;
/** A delta covers at most this many changes, and this many users; past that, a snapshot. */
const MAX_DELTA_CHANGES = 1000;
const MAX_DELTA_USERS = 1000;
/** Every grant of a set of subjects. */
const ALL = 1_000_000;

/**
 * Where a snapshot page starts: the snapshot's index, and the last user sent or the grants'
 * own page cursor.
 */
interface Cursor {
  index: number;
  after?: { kind: 'grant' | 'user'; id: string };
}

export function encodeCursor(c: Cursor): string {
  return c.after ? `${c.index}:${c.after.kind}:${c.after.id}` : `${c.index}:`;
}

/** The cursor a `next` named, or undefined when it is not one. */
export function decodeCursor(s: string): Cursor | undefined {
  const m = /^(\d+):(?:(grant|user):(.+))?$/.exec(s);
  if (!m) return undefined;
  const index = Number(m[1]);
  if (!Number.isSafeInteger(index)) return undefined;
  return m[2] ? { index, after: { kind: m[2] as 'grant' | 'user', id: m[3]! } } : { index };
}

interface Ended {
  revokedSessions: string[];
  removedUsers: string[];
}

/** Sessions ended since `since`, and the removed users among their holders. */
async function endedSince(db: Db, since: number): Promise<Ended> {
  const [revokedSessions, removedUsers] = await Promise.all([
    listRevokedSessions(db, since),
    listRemovedUsers(db, since),
  ]);
  return { revokedSessions, removedUsers };
}

/**
 * One page of the state at `destination`: grants by id, then users by id. The first page
 * (no `after`) also carries the sessions ended within a token's lifetime. Pages read at later
 * indexes than the first are made right by the changes since the first, which the connector
 * asks for next: a delta gives the whole current state of what it names.
 */
export async function snapshotPage(
  db: Db,
  destination: string,
  cursor: Cursor,
  now: number,
): Promise<AccessChanges> {
  const after = cursor.after;
  const { items: grants, next: more } =
    after?.kind === 'user'
      ? { items: [], next: undefined }
      : await listGrantsAt(db, destination, now, { after: after?.id, limit: PAGE_SIZE });
  let next: string | null = null;
  let users: AccessChanges['users'] = [];
  if (more !== undefined) {
    next = encodeCursor({ index: cursor.index, after: { kind: 'grant', id: more } });
  } else {
    const limit = PAGE_SIZE - grants.length;
    users = await listUserAccess(db, destination, now, {
      after: after?.kind === 'user' ? after.id : undefined,
      limit,
    });
    if (users.length === limit)
      next = encodeCursor({ index: cursor.index, after: { kind: 'user', id: users.at(-1)!.id } });
  }
  const ended = after
    ? { revokedSessions: [], removedUsers: [] }
    : await endedSince(db, now - TOKEN_LIFETIME_MS - 60_000);
  return { kind: 'snapshot', updateIndex: cursor.index, next, grants, users, ...ended };
}

/** The first page of a snapshot of the state at `destination` now. */
export async function firstSnapshotPage(
  db: Db,
  destination: string,
  now: () => number,
): Promise<AccessChanges> {
  const index = await latestChangeIndex(db, destination);
  return snapshotPage(db, destination, { index }, now());
}

/**
 * What changed at `destination` after change `after`: the current grants of the users and
 * groups named in the change log since, the current access of those users and of the groups'
 * members, and the sessions ended since. Undefined when a delta cannot say it: the log was
 * pruned past `after`, a change concerns everything (a destination renamed, a large group's
 * members), or too much changed; the caller sends a snapshot then.
 */
export async function delta(
  db: Db,
  destination: string,
  after: number,
  now: number,
  ended: (since: number, index: number) => Promise<Ended> = (since) => endedSince(db, since),
): Promise<AccessChanges | undefined> {
  const rows = await changesAt(db, destination, after, MAX_DELTA_CHANGES + 1);
  if (rows === 'gap' || rows.length === 0 || rows.length > MAX_DELTA_CHANGES) return undefined;
  const users = new Set<string>();
  const groups = new Set<string>();
  let sessionsSince: number | undefined;
  for (const row of rows) {
    if (row.kind === 'all') return undefined;
    if (row.kind === 'user') users.add(row.subject!);
    else if (row.kind === 'group') groups.add(row.subject!);
    else if (row.kind === 'sessions') sessionsSince = Math.min(sessionsSince ?? row.at, row.at);
  }
  const subjects = [...users, ...groups];
  const [grants, members] = await Promise.all([
    listGrantsAt(db, destination, now, { subjectIds: subjects, limit: ALL }).then((p) => p.items),
    listMembers(db, [...groups]),
  ]);
  for (const id of members) users.add(id);
  if (users.size > MAX_DELTA_USERS) return undefined;
  const access = await listUserAccess(db, destination, now, { ids: [...users], limit: ALL });
  for (const u of access) users.delete(u.id);
  const updateIndex = rows.at(-1)!.idx;
  const sessions =
    sessionsSince === undefined
      ? { revokedSessions: [], removedUsers: [] }
      : await ended(sessionsSince, updateIndex);
  return {
    kind: 'delta',
    updateIndex,
    subjects,
    grants,
    users: access,
    usersWithoutAccess: [...users],
    ...sessions,
  };
}
