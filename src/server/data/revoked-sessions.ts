import type { Db } from './db.js';
import { ANY_DESTINATION, recordChange } from './changes.js';

/**
 * Records that sessions (access keys) ended, so connectors refuse the tokens minted with them
 * before those expire. Every deletion of access keys goes through here.
 */
export async function recordRevokedSessions(
  db: Db,
  sessions: Array<{ id: string; userId: string }>,
  now: number,
): Promise<void> {
  if (sessions.length === 0) return;
  // In chunks: SQLite allows 32,766 variables per statement, and a provider's removal can end
  // the sessions of every one of its users.
  for (let i = 0; i < sessions.length; i += 1000) {
    await db
      .insertInto('revokedSessions')
      .values(
        sessions
          .slice(i, i + 1000)
          .map((s) => ({ sessionId: s.id, userId: s.userId, revokedAt: now })),
      )
      .onConflict((oc) => oc.column('sessionId').doNothing())
      .execute();
  }
  await recordChange(db, [ANY_DESTINATION], now, [{ kind: 'sessions' }]);
}

/** Sessions ended since `since`. */
export async function listRevokedSessions(db: Db, since: number): Promise<string[]> {
  const rows = await db
    .selectFrom('revokedSessions')
    .select('sessionId')
    .where('revokedAt', '>=', since)
    .orderBy('revokedAt')
    .execute();
  return rows.map((r) => r.sessionId);
}

/** The users among those whose sessions ended since `since` who no longer exist: removed. */
export async function listRemovedUsers(db: Db, since: number): Promise<string[]> {
  const rows = await db
    .selectFrom('revokedSessions')
    .leftJoin('users', 'users.id', 'revokedSessions.userId')
    .select('revokedSessions.userId')
    .distinct()
    .where('revokedSessions.revokedAt', '>=', since)
    .where('users.id', 'is', null)
    .execute();
  return rows.map((r) => r.userId);
}

export async function pruneRevokedSessions(db: Db, before: number): Promise<void> {
  await db.deleteFrom('revokedSessions').where('revokedAt', '<', before).execute();
}
