import type { Kysely } from 'kysely';

// A credential made from another (a session exchanged from a key, a key created with a session,
// a device session approved by one) records its parent: it ends when the parent ends, so a
// logout, a deleted key or a password change cannot leave a derived credential working.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('access_keys')
    // The cascade is a safety net: deleting through the data layer ends (and records as ended)
    // every descendant itself, which a cascade cannot do.
    .addColumn('parent_id', 'text', (c) => c.references('access_keys.id').onDelete('cascade'))
    .execute();
  await db.schema
    .createIndex('access_keys_parent_id')
    .on('access_keys')
    .column('parent_id')
    .execute();
}
