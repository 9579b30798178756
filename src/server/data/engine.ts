import { PostgresAdapter, type Kysely } from 'kysely';

/** Whether a Kysely instance talks to PostgreSQL (the only other engine is SQLite). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- works for any schema type
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
