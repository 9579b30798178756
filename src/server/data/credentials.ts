import type { Db } from './db.js';

interface Credential {
  userId: string;
  passwordHash: string;
  oneTime: boolean;
}

export async function getCredential(db: Db, userId: string): Promise<Credential | undefined> {
  const row = await db
    .selectFrom('credentials')
    .select(['userId', 'passwordHash', 'oneTime'])
    .where('userId', '=', userId)
    .executeTakeFirst();
  return row && { ...row, oneTime: row.oneTime === 1 };
}

/** Sets (or replaces) the user's password hash. */
export async function setCredential(db: Db, c: Credential & { now: number }): Promise<void> {
  const values = { passwordHash: c.passwordHash, oneTime: c.oneTime ? 1 : 0, updatedAt: c.now };
  await db
    .insertInto('credentials')
    .values({ userId: c.userId, ...values })
    .onConflict((oc) => oc.column('userId').doUpdateSet(values))
    .execute();
}

export async function deleteCredential(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('credentials').where('userId', '=', userId).execute();
}
