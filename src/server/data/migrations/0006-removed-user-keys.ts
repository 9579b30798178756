import type { Kysely } from 'kysely';

// A removed user's keys go with them, so whoever still holds one would only hear
// "unauthenticated", and try to log in again. Each key's id and secret hash are kept until the
// key would have ended, so that its holder, and only they, can be told the user was removed.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('removed_user_keys')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('ends_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('removed_user_keys_ends_at')
    .on('removed_user_keys')
    .column('ends_at')
    .execute();
}
