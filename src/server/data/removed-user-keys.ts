import type { Db } from './db.js';

/**
 * Keeps what identifies the live keys of a user about to be removed (id, secret hash, when each
 * would have ended), so that a holder of one can be told the user was removed.
 */
export async function recordRemovedUserKeys(db: Db, userId: string, now: number): Promise<void> {
  const keys = await db
    .selectFrom('accessKeys')
    .select(['keyId', 'secretHash', 'expiresAt', 'inactivityDeadline'])
    .where('userId', '=', userId)
    .execute();
  const rows = keys
    .map((k) => ({
      keyId: k.keyId,
      secretHash: k.secretHash,
      endsAt: Math.min(Number(k.expiresAt), Number(k.inactivityDeadline ?? Infinity)),
    }))
    .filter((k) => k.endsAt > now);
  // In chunks: SQLite allows 32,766 variables per statement.
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('removedUserKeys')
      .values(rows.slice(i, i + 1000))
      .onConflict((oc) => oc.column('keyId').doNothing())
      .execute();
  }
}

/** A removed user's key by its id, while it would still have been valid. */
export async function findRemovedUserKey(
  db: Db,
  keyId: string,
  now: number,
): Promise<{ secretHash: string } | undefined> {
  return db
    .selectFrom('removedUserKeys')
    .select('secretHash')
    .where('keyId', '=', keyId)
    .where('endsAt', '>', now)
    .executeTakeFirst();
}

export async function pruneRemovedUserKeys(db: Db, now: number): Promise<void> {
  await db.deleteFrom('removedUserKeys').where('endsAt', '<=', now).execute();
}
