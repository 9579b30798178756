import { sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';

/** `%term%` with the term's own `%`, `_` and `\` matched literally (escaped with `\`). */
export function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * `column` matches a LIKE `pattern` (from `containsPattern`), ignoring case: ILIKE on
 * PostgreSQL (any script), LIKE on SQLite (case-insensitive for ASCII letters). Substrings
 * cannot use a B-tree index; at the sizes these lists have (tens of thousands of rows) the scan
 * costs milliseconds (docs/benchmarks.md).
 */
export function likeIgnoringCase(db: Db, column: string, pattern: string): Expression<SqlBool> {
  return isPostgres(db)
    ? sql<SqlBool>`${sql.ref(column)} ilike ${pattern} escape '\\'`
    : sql<SqlBool>`${sql.ref(column)} like ${pattern} escape '\\'`;
}
