import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../engine.js';

// Destinations (clusters) and what connectors need to follow access at them: a change log whose
// ever-growing index drives the long-polling feed, recently ended sessions, the JWT signing keys,
// and the data keys that encrypt secrets at rest.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('destinations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('unique_id', 'text', (c) => c.notNull().unique())
    .addColumn('connection_url', 'text', (c) => c.notNull())
    .addColumn('connection_ca', 'text', (c) => c.notNull())
    .addColumn('namespaces', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // One row per change that can alter access at a destination ('*': at every destination).
  if (isPostgres(db)) {
    await sql`create table changes (idx bigserial primary key, destination text not null, at bigint not null)`.execute(
      db,
    );
  } else {
    await sql`create table changes (idx integer primary key autoincrement, destination text not null, at bigint not null)`.execute(
      db,
    );
  }
  await db.schema
    .createIndex('changes_destination')
    .on('changes')
    .columns(['destination', 'idx'])
    .execute();

  await db.schema
    .createTable('revoked_sessions')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('revoked_sessions_revoked_at')
    .on('revoked_sessions')
    .column('revoked_at')
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .execute();

  await db.schema
    .createTable('encryption_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('wrapped', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .execute();
}
