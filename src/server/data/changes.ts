import { sql } from 'kysely';
import type { Db } from './db.js';
import type { ChangeKind } from './schema.js';
import { isPostgres } from './engine.js';
import { inList } from './id-list.js';

/** The destination a change concerns when it may concern any of them (a session ended...). */
export const ANY_DESTINATION = '*';

/** The channel PostgreSQL notifies on commit of a change, so every replica's feeds wake up. */
export const CHANGES_CHANNEL = 'infra_changes';

/** What a change concerns (see migration 0007). */
export type ChangeSubject =
  { kind: 'user' | 'group'; id: string } | { kind: 'sessions' | 'destination' | 'all' };

/** Rows inserted per statement (four variables each). */
const CHUNK = 1000;

/**
 * Records, in the caller's transaction, that access may have changed at these destinations,
 * and what changed (one row per destination and subject). The change log's index is the feed's
 * `updateIndex`. On PostgreSQL the notification is sent at commit (and dropped on rollback), to
 * every server sharing the database.
 */
export async function recordChange(
  db: Db,
  destinations: Iterable<string>,
  now: number,
  subjects: readonly ChangeSubject[],
): Promise<void> {
  const unique = [...new Set(destinations)];
  if (unique.length === 0 || subjects.length === 0) return;
  const rows = unique.flatMap((destination) =>
    subjects.map((s) => ({
      destination,
      at: now,
      kind: s.kind,
      subject: 'id' in s ? s.id : null,
    })),
  );
  for (let i = 0; i < rows.length; i += CHUNK)
    await db
      .insertInto('changes')
      .values(rows.slice(i, i + CHUNK))
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
    .where(inList(db, 'subjectId', subjectIds))
    .execute();
  return rows.map((r) => r.destination);
}

/** A change to one destination's access, as the change log recorded it. */
export interface ChangeRow {
  idx: number;
  at: number;
  kind: ChangeKind;
  subject: string | null;
}

/**
 * The changes after index `after` that concern `destination` (or every destination), oldest
 * first, at most `limit`: 'gap' when some may have been pruned from the log since `after`, or
 * `after` is past the log's end (the caller saw another database).
 */
export async function changesAt(
  db: Db,
  destination: string,
  after: number,
  limit: number,
): Promise<ChangeRow[] | 'gap'> {
  const bounds = await db
    .selectFrom('changes')
    .select((eb) => [eb.fn.min('idx').as('first'), eb.fn.max('idx').as('last')])
    .executeTakeFirst();
  const first = Number(bounds?.first ?? 0);
  const last = Number(bounds?.last ?? 0);
  // Indexes are handed out in order; below the oldest kept one, some may be gone.
  if (after > last || (first > 0 && after < first - 1)) return 'gap';
  const rows = await db
    .selectFrom('changes')
    .select(['idx', 'at', 'kind', 'subject'])
    .where('destination', 'in', [destination, ANY_DESTINATION])
    .where('idx', '>', after)
    .orderBy('idx')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...r, idx: Number(r.idx), at: Number(r.at) }));
}
