import type { TunnelRecord } from '../models.js';
import type { Db } from './db.js';

/**
 * Records that this replica is alive (at start, then at every heartbeat). False when its row was
 * not there: a new replica, or one the others forgot while it could not reach the database.
 */
export async function upsertServerReplica(
  db: Db,
  replica: { id: string; startedAt: number; now: number },
): Promise<boolean> {
  const updated = await db
    .updateTable('serverReplicas')
    .set({ seenAt: replica.now })
    .where('id', '=', replica.id)
    .executeTakeFirst();
  if (updated.numUpdatedRows > 0n) return true;
  await db
    .insertInto('serverReplicas')
    .values({ id: replica.id, startedAt: replica.startedAt, seenAt: replica.now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ seenAt: replica.now }))
    .execute();
  return false;
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
 * Records the tunnels this replica opened and closed since it last wrote: rows change only when
 * tunnels do, however many a replica holds (they live as long as their replica's heartbeat).
 */
export async function updateReplicaTunnels(
  db: Db,
  change: { opened: TunnelRecord[]; closed: string[] },
): Promise<void> {
  // In slices: the number of bound variables per statement is limited on both engines.
  for (let i = 0; i < change.opened.length; i += 500) {
    await db
      .insertInto('destinationTunnels')
      .values(change.opened.slice(i, i + 500).map((t) => ({ ...t, seenAt: t.connectedAt })))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  for (let i = 0; i < change.closed.length; i += 500) {
    await db
      .deleteFrom('destinationTunnels')
      .where('id', 'in', change.closed.slice(i, i + 500))
      .execute();
  }
}

/** Every tunnel row of one replica (to write them all again after it was forgotten). */
export async function deleteReplicaTunnels(db: Db, replicaId: string): Promise<void> {
  await db.deleteFrom('destinationTunnels').where('replicaId', '=', replicaId).execute();
}

/** Tunnels held by the replicas seen since `since`, for every destination. */
export async function listTunnels(db: Db, since: number): Promise<TunnelRecord[]> {
  return db
    .selectFrom('destinationTunnels as t')
    .innerJoin('serverReplicas as r', 'r.id', 't.replicaId')
    .select(['t.id', 't.destination', 't.replicaId', 't.connectedAt'])
    .where('r.seenAt', '>=', since)
    .orderBy('t.connectedAt')
    .execute();
}

/** Forgets replicas (and their tunnels) not seen since `before`: they stopped or died. */
export async function deleteStaleReplicas(db: Db, before: number): Promise<void> {
  await db
    .deleteFrom('destinationTunnels')
    .where('replicaId', 'in', (q) =>
      q.selectFrom('serverReplicas').select('id').where('seenAt', '<', before),
    )
    .execute();
  await db.deleteFrom('serverReplicas').where('seenAt', '<', before).execute();
}

/** A replica that stops removes its own rows, so it stops being offered at once. */
export async function deleteServerReplica(db: Db, replicaId: string): Promise<void> {
  await db.deleteFrom('destinationTunnels').where('replicaId', '=', replicaId).execute();
  await db.deleteFrom('serverReplicas').where('id', '=', replicaId).execute();
}
