import type { Kysely } from 'kysely';

// What people did in the clusters, as their connectors saw it. Each request is an audit.k8s.io
// Event kept whole as JSON, keyed by its auditID and stage (a connector may deliver a batch
// twice), with the columns searches filter on beside it. Exec and attach sessions are recorded
// as asciicast text in chunks, sealed like other sensitive data (a session shows what was on
// the terminal, secrets included); a recording's row says whose session it was and how it ended.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('kube_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('verb', 'text', (c) => c.notNull())
    .addColumn('namespace', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('event', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('kube_events_at').on('kube_events').columns(['at', 'id']).execute();
  await db.schema
    .createIndex('kube_events_user')
    .on('kube_events')
    .columns(['user_id', 'at'])
    .execute();
  await db.schema
    .createIndex('kube_events_destination')
    .on('kube_events')
    .columns(['destination', 'at'])
    .execute();

  await db.schema
    .createTable('kube_recordings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('namespace', 'text', (c) => c.notNull())
    .addColumn('pod', 'text', (c) => c.notNull())
    .addColumn('container', 'text', (c) => c.notNull())
    .addColumn('command', 'text', (c) => c.notNull())
    .addColumn('subresource', 'text', (c) => c.notNull())
    .addColumn('stdin_recorded', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('ended_at', 'bigint')
    .addColumn('exit_code', 'integer')
    .execute();
  await db.schema
    .createIndex('kube_recordings_started')
    .on('kube_recordings')
    .columns(['started_at', 'id'])
    .execute();
  await db.schema
    .createTable('kube_recording_chunks')
    .addColumn('recording_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('kube_recording_chunks_pkey', ['recording_id', 'seq'])
    .execute();
}
