import type { Kysely } from 'kysely';

// Server-wide values that live with the data rather than in the config file (for example the
// install id), so every replica of a PostgreSQL-backed server agrees on them.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('settings')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
