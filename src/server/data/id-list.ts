import { sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';

/**
 * `column in (ids)` with the list bound to one variable: a list that grows with users or grants
 * would otherwise take one variable per id, and SQLite refuses a statement with more than 32,766
 * (PostgreSQL 65,535). On PostgreSQL `= any(array)` lets the planner hash a long list even when
 * the table's statistics are stale (a subquery over `unnest` was read as a few rows and joined by
 * scanning the table once per id); SQLite reads the JSON array with `json_each`.
 */
export function inList(db: Db, column: string, ids: readonly string[]): Expression<SqlBool> {
  return isPostgres(db)
    ? sql<SqlBool>`${sql.ref(column)} = any(${[...ids]}::text[])`
    : sql<SqlBool>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(ids)}))`;
}
