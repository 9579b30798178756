import type { Kysely } from 'kysely';

// SSH destinations. A destination is a Kubernetes cluster or a Linux host reached with OpenSSH
// certificates. The server keeps two certificate authorities (one signs users' certificates,
// one hosts'), their private keys sealed; every user certificate it issues is recorded so that
// those of ended sessions and removed users can be revoked by serial; and each user gets one
// login name for every host, assigned once and never reused.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('destinations')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('kubernetes'))
    .execute();
  await db.schema
    .alterTable('destinations')
    .addColumn('ssh_address', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('destinations')
    .addColumn('ssh_host_key', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .createTable('ssh_authorities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .execute();
  await db.schema
    .createTable('ssh_certificates')
    .addColumn('serial', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('ssh_certificates_destination')
    .on('ssh_certificates')
    .columns(['destination', 'expires_at'])
    .execute();
  await db.schema
    .createTable('ssh_logins')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('login', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}
