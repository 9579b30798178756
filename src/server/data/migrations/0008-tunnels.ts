import type { Kysely } from 'kysely';

// Outbound tunnels. A destination is reached either at its connector's own URL (direct) or
// through the server (tunnel). Server replicas publish themselves, so that a connector can hold a
// tunnel to each, and each replica records the tunnels it holds; both rows are refreshed by a
// heartbeat and count only while recent, so a replica that dies leaves nothing that looks alive.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('destinations')
    .addColumn('connection_mode', 'text', (c) => c.notNull().defaultTo('direct'))
    .execute();
  await db.schema
    .createTable('server_replicas')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('destination_tunnels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('replica_id', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'bigint', (c) => c.notNull())
    .addColumn('seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('destination_tunnels_destination')
    .on('destination_tunnels')
    .column('destination')
    .execute();
}
