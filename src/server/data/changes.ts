import { sql } from 'kysely';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';

/** The destination a change concerns when it may concern any of them (a session ended...). */
export const ANY_DESTINATION = '*';

/** The channel PostgreSQL notifies on commit of a change, so every replica's feeds wake up. */
export const CHANGES_CHANNEL = 'infra_changes';

/**
 * Records, in the caller's transaction, that access may have changed at these destinations. The
 * change log's index is the feed's `updateIndex`. On PostgreSQL the notification is sent at
 * commit (and dropped on rollback), to every server sharing the database.
 */
export async function recordChange(
  db: Db,
  destinations: Iterable<string>,
  now: number,
): Promise<void> {
  const unique = [...new Set(destinations)];
  if (unique.length === 0) return;
  await db
    .insertInto('changes')
    .values(unique.map((destination) => ({ destination, at: now })))
    .execute();
  if (isPostgres(db)) await sql`select pg_notify(${CHANGES_CHANNEL}, '')`.execute(db);
}

/** The newest change index that concerns `destination` (0 when there is none). */
export async function latestChangeIndex(db: Db, destination: string): Promise<number> {
  const row = await db
    .selectFrom('changes')
    .select((eb) => eb.fn.max('idx').as('idx'))
    .where('destination', 'in', [destination, ANY_DESTINATION])
    .executeTakeFirst();
  return Number(row?.idx ?? 0);
}

/**
 * The destinations changed after index `after`, each with its newest index (`*`: a change that
 * concerns them all).
 */
export async function changesSince(
  db: Db,
  after: number,
): Promise<Array<{ destination: string; idx: number }>> {
  const rows = await db
    .selectFrom('changes')
    .select((eb) => ['destination', eb.fn.max('idx').as('idx')])
    .where('idx', '>', after)
    .groupBy('destination')
    .execute();
  return rows.map((r) => ({ destination: r.destination, idx: Number(r.idx) }));
}

/** The newest change index overall. */
export async function currentChangeIndex(db: Db): Promise<number> {
  const row = await db
    .selectFrom('changes')
    .select((eb) => eb.fn.max('idx').as('idx'))
    .executeTakeFirst();
  return Number(row?.idx ?? 0);
}

/** Forgets changes older than `before`, keeping the newest so the index never goes back. */
export async function pruneChanges(db: Db, before: number): Promise<void> {
  const newest = await currentChangeIndex(db);
  await db.deleteFrom('changes').where('at', '<', before).where('idx', '<', newest).execute();
}

/** The destinations a subject's grants are on (the ones a change to it concerns). */
export async function destinationsOfSubjects(db: Db, subjectIds: string[]): Promise<string[]> {
  if (subjectIds.length === 0) return [];
  const rows = await db
    .selectFrom('grants')
    .select('destination')
    .distinct()
    .where('subjectId', 'in', subjectIds)
    .execute();
  return rows.map((r) => r.destination);
}
