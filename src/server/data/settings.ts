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
