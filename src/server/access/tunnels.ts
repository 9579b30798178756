import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';
import {
  deleteReplicaTunnels,
  deleteServerReplica,
  deleteStaleReplicas,
  listServerReplicas,
  listTunnels,
  updateReplicaTunnels,
  upsertServerReplica,
} from '../data/tunnels.js';
import type { Destination, DestinationWithTunnel, TunnelRecord, TunnelState } from '../models.js';

/** How often a replica says it is alive and which tunnels it holds. */
export const REPLICA_HEARTBEAT_MS = 5_000;
/** A replica or tunnel not heard of for this long is gone (it died without saying so). */
export const REPLICA_LIVE_MS = 15_000;
/** Rows of replicas gone for this long are removed. */
const REPLICA_FORGET_MS = 10 * 60_000;

/** The tunnel state of each destination, as the live replicas recorded it. */
export async function withTunnels(
  db: Db,
  clock: Clock,
  destinations: Destination[],
): Promise<DestinationWithTunnel[]> {
  const tunnels = destinations.some((d) => d.connectionMode === 'tunnel')
    ? await listTunnels(db, clock.now() - REPLICA_LIVE_MS)
    : [];
  const byName = new Map<string, TunnelState>();
  for (const t of tunnels) {
    const state = byName.get(t.destination) ?? { replicas: [], since: null };
    if (!state.replicas.includes(t.replicaId)) state.replicas.push(t.replicaId);
    state.since = state.since === null ? t.connectedAt : Math.min(state.since, t.connectedAt);
    byName.set(t.destination, state);
  }
  return destinations.map((d) => ({
    ...d,
    tunnel: byName.get(d.name) ?? { replicas: [], since: null },
  }));
}

/**
 * This server replica among the others: an id of its own, published with a heartbeat, with the
 * tunnels it holds, so connectors can hold a tunnel to every replica and the API can say where
 * a destination's tunnels are. A database that is away only delays the records.
 */
export class ReplicaPresence {
  readonly id: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #held: () => TunnelRecord[];
  readonly #startedAt: number;
  #live: string[];
  #timer: NodeJS.Timeout | undefined;
  #beats = 0;
  #failing = false;
  #pending: Promise<void> | undefined;
  #again = false;
  /** The tunnels the database has for this replica, by id, as of the last write. */
  #written = new Set<string>();

  constructor(deps: { db: Db; clock: Clock; log: Logger; held: () => TunnelRecord[] }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#held = deps.held;
    this.#startedAt = deps.clock.now();
    this.id = `replica-${randomBytes(6).toString('hex')}`;
    this.#live = [this.id];
  }

  /** Live replicas as of the last heartbeat (this one always among them). */
  get replicas(): string[] {
    return this.#live;
  }

  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), REPLICA_HEARTBEAT_MS);
    this.#timer.unref();
  }

  /**
   * Writes the heartbeat now (also when a tunnel opens or closes); one write at a time. Tunnel
   * rows are written only as they open and close; they count while the replica's row is fresh.
   */
  beat(): Promise<void> {
    if (this.#pending) {
      this.#again = true;
      return this.#pending;
    }
    this.#pending = this.#write().finally(() => {
      this.#pending = undefined;
      if (this.#again) {
        this.#again = false;
        void this.beat();
      }
    });
    return this.#pending;
  }

  async #write(): Promise<void> {
    const now = this.#clock.now();
    try {
      const known = await upsertServerReplica(this.#db, {
        id: this.id,
        startedAt: this.#startedAt,
        now,
      });
      if (!known) {
        // Forgotten by the others (or new): whatever rows are left are not trusted.
        await deleteReplicaTunnels(this.#db, this.id);
        this.#written = new Set();
      }
      const held = this.#held();
      const ids = new Set(held.map((t) => t.id));
      await updateReplicaTunnels(this.#db, {
        opened: held.filter((t) => !this.#written.has(t.id)),
        closed: [...this.#written].filter((id) => !ids.has(id)),
      });
      this.#written = ids;
      const live = await listServerReplicas(this.#db, now - REPLICA_LIVE_MS);
      this.#live = live.includes(this.id) ? live : [...live, this.id];
      if (++this.#beats % 60 === 0) await deleteStaleReplicas(this.#db, now - REPLICA_FORGET_MS);
      if (this.#failing) this.#log.info('replica heartbeat written again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err }, 'could not write the replica heartbeat');
      this.#failing = true;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pending;
    await deleteServerReplica(this.#db, this.id).catch((err: unknown) =>
      this.#log.warn({ err }, 'could not remove this replica from the database'),
    );
  }
}
