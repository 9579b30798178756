import type { TunnelRecord } from '../models.js';
import type { Db } from './db.js';

/** Records that this replica is alive (at start, then at every heartbeat). */
export async function upsertServerReplica(
  db: Db,
  replica: { id: string; startedAt: number; now: number },
): Promise<void> {
  await db
    .insertInto('serverReplicas')
    .values({ id: replica.id, startedAt: replica.startedAt, seenAt: replica.now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ seenAt: replica.now }))
    .execute();
}

/** Replicas seen since `since`, oldest first. */
export async function listServerReplicas(db: Db, since: number): Promise<string[]> {
  const rows = await db
    .selectFrom('serverReplicas')
    .select('id')
    .where('seenAt', '>=', since)
    .orderBy('startedAt')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Records what this replica holds now: its tunnels are written as seen now, then its rows not
 * written (tunnels that closed) are removed, so a reader never sees a held tunnel missing.
 */
export async function replaceReplicaTunnels(
  db: Db,
  replicaId: string,
  tunnels: TunnelRecord[],
  now: number,
): Promise<void> {
  // In slices: the number of bound variables per statement is limited on both engines.
  for (let i = 0; i < tunnels.length; i += 500) {
    await db
      .insertInto('destinationTunnels')
      .values(tunnels.slice(i, i + 500).map((t) => ({ ...t, seenAt: now })))
      .onConflict((oc) => oc.column('id').doUpdateSet({ seenAt: now }))
      .execute();
  }
  await db
    .deleteFrom('destinationTunnels')
    .where('replicaId', '=', replicaId)
    .where('seenAt', '<', now)
    .execute();
}

/** Tunnels recorded as seen since `since`, for every destination. */
export async function listTunnels(db: Db, since: number): Promise<TunnelRecord[]> {
  return db
    .selectFrom('destinationTunnels')
    .select(['id', 'destination', 'replicaId', 'connectedAt'])
    .where('seenAt', '>=', since)
    .orderBy('connectedAt')
    .execute();
}

/** Forgets replicas (and their tunnels) not seen since `before`: they stopped or died. */
export async function deleteStaleReplicas(db: Db, before: number): Promise<void> {
  await db.deleteFrom('destinationTunnels').where('seenAt', '<', before).execute();
  await db.deleteFrom('serverReplicas').where('seenAt', '<', before).execute();
}

/** A replica that stops removes its own rows, so it stops being offered at once. */
export async function deleteServerReplica(db: Db, replicaId: string): Promise<void> {
  await db.deleteFrom('destinationTunnels').where('replicaId', '=', replicaId).execute();
  await db.deleteFrom('serverReplicas').where('id', '=', replicaId).execute();
}
