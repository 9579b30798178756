import { sql, type RawBuilder } from 'kysely';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';

/**
 * A list of ids as a subquery bound to one variable, for `where(column, 'in', idList(...))`: a
 * list that grows with users or grants would otherwise take one variable per id, and SQLite
 * refuses a statement with more than 32,766 (PostgreSQL 65,535).
 */
export function idList(db: Db, ids: readonly string[]): RawBuilder<string> {
  return isPostgres(db)
    ? sql<string>`(select unnest(${[...ids]}::text[]))`
    : sql<string>`(select value from json_each(${JSON.stringify(ids)}))`;
}
