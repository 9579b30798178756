import type { Clock } from '../../shared/clock.js';
import type { Db } from './db.js';

/** Reads a server setting, storing `initial()` first if it has none. Safe when replicas race. */
export async function ensureSetting(
  db: Db,
  name: string,
  initial: () => string,
  clock: Clock,
): Promise<string> {
  await db
    .insertInto('settings')
    .values({ name, value: initial(), updatedAt: clock.now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  return row.value;
}

export async function getSetting(db: Db, name: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst();
  return row?.value;
}

export async function setSetting(db: Db, name: string, value: string, now: number): Promise<void> {
  await db
    .insertInto('settings')
    .values({ name, value, updatedAt: now })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value, updatedAt: now }))
    .execute();
}

export async function deleteSetting(db: Db, name: string): Promise<void> {
  await db.deleteFrom('settings').where('name', '=', name).execute();
}

/**
 * A write that changes nothing (the install id's row rewritten as it is), in a transaction: it
 * shows whether the database takes writes again after a fault (a full disk, a lock).
 */
export async function probeWrite(db: Db): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('settings')
      .set((eb) => ({ updatedAt: eb.ref('updatedAt') }))
      .where('name', '=', 'installId')
      .execute();
  });
}
