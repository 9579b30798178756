import type { Clock } from '../../shared/clock.js';
import type { Db } from '../data/db.js';
import { getDestinationsAccess } from '../data/destinations.js';
import { listRemovedUsers, listRevokedSessions } from '../data/revoked-sessions.js';
import type { AccessChanges, DestinationAccess } from '../models.js';
import { delta, firstSnapshotPage } from './feed.js';
import { TOKEN_LIFETIME_MS } from './tokens.js';

/** Destinations read together: a few queries each, and then their answers are written. */
const BATCH = 100;
/** How long a list of ended sessions is reused while no session ends. */
const REVOKED_REUSE_MS = 10_000;

interface Pending {
  /** The change index the answer is read after (and carries). */
  index: number;
  promise: Promise<DestinationAccess>;
  resolve(access: DestinationAccess): void;
  reject(err: unknown): void;
}

/**
 * The access feed's answers: who may reach a destination as of a change index. One change can
 * wake every connector's feed at once; their answers are read once per destination however many
 * requests wait for it, a few hundred destinations per query, and between batches other requests
 * get their turn (`/healthz` keeps answering while ten thousand feeds do).
 *
 * An answer read after index k has been seen committed is good for any request at an index up to
 * k: change indexes commit in order (see ChangeNotifier).
 */
export class AccessSnapshots {
  readonly #db: Db;
  readonly #clock: Clock;
  /** Asked for and not being read yet: a later index just raises the one to read after. */
  readonly #queued = new Map<string, Pending>();
  readonly #reading = new Map<string, Pending>();
  #draining = false;
  #revoked: { index: number; at: number; ended: EndedSessions } | undefined;
  readonly #endedSinceCache = new Map<number, { index: number; ended: Promise<EndedSessions> }>();

  constructor(deps: { db: Db; clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /** Who may reach `destination`, read after change `index` committed (or a later one). */
  get(destination: string, index: number): Promise<DestinationAccess> {
    const queued = this.#queued.get(destination);
    if (queued) {
      queued.index = Math.max(queued.index, index);
      return queued.promise;
    }
    const reading = this.#reading.get(destination);
    if (reading && reading.index >= index) return reading.promise;
    let resolve!: Pending['resolve'];
    let reject!: Pending['reject'];
    const promise = new Promise<DestinationAccess>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#queued.set(destination, { index, promise, resolve, reject });
    if (!this.#draining) {
      this.#draining = true;
      // After the current tick: the feeds one change wakes all join the first batch.
      setImmediate(() => void this.#drain());
    }
    return promise;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queued.size > 0) {
        const batch: Array<[string, Pending]> = [];
        for (const entry of this.#queued) {
          batch.push(entry);
          if (batch.length === BATCH) break;
        }
        for (const [destination, pending] of batch) {
          this.#queued.delete(destination);
          this.#reading.set(destination, pending);
        }
        await this.#read(batch);
        // Answers go out (microtasks) before the next batch; timers and sockets run in between.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * The incremental feed's answer for a connector at index `after` (undefined: it has none),
   * read after change `index` committed: the changes since, or a snapshot's first page when
   * a delta cannot say them.
   */
  async changes(
    destination: string,
    after: number | undefined,
    index: number,
  ): Promise<AccessChanges> {
    const now = this.#clock.now();
    if (after !== undefined && after < index) {
      const changes = await delta(this.#db, destination, after, now, (since, upTo) =>
        this.#endedSince(since, upTo),
      );
      if (changes) return changes;
    }
    return firstSnapshotPage(this.#db, destination, () => this.#clock.now());
  }

  /**
   * Sessions ended since `since`, read after change `index`: many connectors woken by one
   * ended session ask for the same.
   */
  #endedSince(since: number, index: number): Promise<EndedSessions> {
    const cached = this.#endedSinceCache.get(since);
    if (cached && cached.index >= index) return cached.ended;
    const ended = Promise.all([
      listRevokedSessions(this.#db, since),
      listRemovedUsers(this.#db, since),
    ]).then(([revokedSessions, removedUsers]) => ({ revokedSessions, removedUsers }));
    // A few recent ones are enough: connectors at the same index ask at the same time.
    if (this.#endedSinceCache.size >= 16) this.#endedSinceCache.clear();
    this.#endedSinceCache.set(since, { index, ended });
    ended.catch(() => this.#endedSinceCache.delete(since));
    return ended;
  }

  async #read(batch: Array<[string, Pending]>): Promise<void> {
    try {
      const now = this.#clock.now();
      const index = Math.max(...batch.map(([, p]) => p.index));
      const [access, ended] = await Promise.all([
        getDestinationsAccess(
          this.#db,
          batch.map(([d]) => d),
          now,
        ),
        this.#endedSessions(index, now),
      ]);
      for (const [destination, pending] of batch) {
        this.#reading.delete(destination);
        pending.resolve({
          updateIndex: pending.index,
          ...access.get(destination)!,
          ...ended,
        });
      }
    } catch (err) {
      for (const [destination, pending] of batch) {
        this.#reading.delete(destination);
        pending.reject(err);
      }
    }
  }

  /**
   * Sessions ended recently (their tokens must be refused) and the removed users among their
   * holders, read after change `index`: the same lists for every destination, so read once while
   * no newer change asks for them. Lists a little older than the window only name sessions whose
   * tokens have expired anyway.
   */
  async #endedSessions(index: number, now: number): Promise<EndedSessions> {
    const cached = this.#revoked;
    if (cached && cached.index >= index && now - cached.at < REVOKED_REUSE_MS) return cached.ended;
    const since = now - TOKEN_LIFETIME_MS - 60_000;
    const [revokedSessions, removedUsers] = await Promise.all([
      listRevokedSessions(this.#db, since),
      listRemovedUsers(this.#db, since),
    ]);
    const ended = { revokedSessions, removedUsers };
    if (!this.#revoked || index >= this.#revoked.index) this.#revoked = { index, at: now, ended };
    return ended;
  }
}

interface EndedSessions {
  revokedSessions: string[];
  removedUsers: string[];
}
