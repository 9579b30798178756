import { sql } from 'kysely';
import type { OpenDb } from '../src/server/data/db.js';

/** A stable text rendering of the database schema, for golden-file comparison. */
export async function dumpSchema(database: OpenDb): Promise<string> {
  const db = database.db.withoutPlugins();
  if (database.engine === 'sqlite') {
    const { rows } = await sql<{ sql: string }>`
      select sql from sqlite_master
      where sql is not null and name not like 'sqlite_%'
      order by type desc, name`.execute(db);
    return `${rows.map((r) => `${r.sql.replace(/\s+/g, ' ')};`).join('\n')}\n`;
  }
  const columns = await sql<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
    column_default: string | null;
  }>`
    select table_name, column_name, data_type, is_nullable, column_default
    from information_schema.columns where table_schema = 'public'
    order by table_name, ordinal_position`.execute(db);
  const constraints = await sql<{ table_name: string; name: string; def: string }>`
    select c.conrelid::regclass::text as table_name, c.conname as name, pg_get_constraintdef(c.oid) as def
    from pg_constraint c join pg_namespace n on n.oid = c.connamespace
    where n.nspname = 'public' order by 1, 2`.execute(db);
  const indexes = await sql<{ indexdef: string }>`
    select indexdef from pg_indexes where schemaname = 'public' order by tablename, indexname`.execute(
    db,
  );
  const lines: string[] = [];
  let table = '';
  for (const c of columns.rows) {
    if (c.table_name !== table) {
      table = c.table_name;
      lines.push(`table ${table}`);
    }
    const nullable = c.is_nullable === 'YES' ? '' : ' not null';
    const def = c.column_default ? ` default ${c.column_default}` : '';
    lines.push(`  ${c.column_name} ${c.data_type}${nullable}${def}`);
  }
  for (const c of constraints.rows) lines.push(`constraint ${c.table_name}.${c.name} ${c.def}`);
  for (const i of indexes.rows) lines.push(`${i.indexdef};`);
  return `${lines.join('\n')}\n`;
}
