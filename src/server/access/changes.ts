import type { Logger } from '../../shared/logger.js';
import { ANY_DESTINATION, changesSince, currentChangeIndex } from '../data/changes.js';
import type { Db } from '../data/db.js';

/** After a failed read of the change log, the next try. */
const RETRY_MS = 1000;

/** A wait for a change at one destination. */
export interface Subscription {
  /**
   * Resolves with the destination's new change index when a change there (or one concerning
   * every destination) commits, or with undefined when `ms` pass or the server stops.
   */
  wait(ms: number): Promise<number | undefined>;
  cancel(): void;
}

/** One waiting request: small, since thousands wait at once (one per connector). */
class Waiter implements Subscription {
  readonly destination: string;
  readonly #remove: (waiter: Waiter) => void;
  #done = false;
  #index: number | undefined;
  #resolve: ((index: number | undefined) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(destination: string, remove: (waiter: Waiter) => void) {
    this.destination = destination;
    this.#remove = remove;
  }

  wait(ms: number): Promise<number | undefined> {
    if (this.#done) return Promise.resolve(this.#index);
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(() => this.settle(undefined), ms);
    });
  }

  settle(index: number | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#index = index;
    this.#remove(this);
    clearTimeout(this.#timer);
    this.#resolve?.(index);
  }

  cancel(): void {
    this.settle(undefined);
  }
}

/**
 * Wakes requests that wait for access to change at a destination (the connector feed). Write
 * operations call `notify` after they commit; on PostgreSQL a LISTEN connection calls it for
 * commits made by any replica, and after reconnecting. Each call reads the change log past the
 * newest index already handled (one query, however many wait) and wakes only the waiters of the
 * destinations that changed, all of them for a change that concerns every destination.
 *
 * Nothing is missed: change indexes are handed out under the audit-head lock that every write
 * transaction takes first (SQLite has one writer), so they commit in order, and a change not seen
 * yet is past the newest index handled. A waiter subscribes before it reads its index, so a change
 * committed after that read is read here after the subscription.
 */
export class ChangeNotifier {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #waiters = new Map<string, Set<Waiter>>();
  #waiting = 0;
  #woken = 0;
  /** The newest change index handled. */
  #handled = 0;
  #reading = false;
  #readAgain = false;
  #failing = false;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #generation = 0;

  constructor(deps: { db: Db; log: Logger }) {
    this.#db = deps.db;
    this.#log = deps.log;
  }

  /** Starts from the change log's current end; before any request can wait. */
  async start(): Promise<void> {
    this.#handled = await currentChangeIndex(this.#db);
  }

  /** Something may have been committed: wake the waiters of what changed. */
  notify(): void {
    this.#generation++;
    if (this.#closed) return;
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    void this.#read();
  }

  async #read(): Promise<void> {
    try {
      do {
        this.#readAgain = false;
        this.#wake(await changesSince(this.#db, this.#handled));
      } while (this.#readAgain && !this.#closed);
      this.#failing = false;
    } catch (err) {
      // The database is away (its outage is reported elsewhere): the changes stay in the log.
      if (!this.#failing)
        this.#log.warn({ err }, 'could not read the change log to wake feeds; retrying');
      this.#failing = true;
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => this.notify(), RETRY_MS);
      this.#retry.unref();
    } finally {
      this.#reading = false;
    }
  }

  #wake(changed: Array<{ destination: string; idx: number }>): void {
    if (changed.length === 0) return;
    const newest = new Map<string, number>();
    for (const { destination, idx } of changed) {
      newest.set(destination, idx);
      if (idx > this.#handled) this.#handled = idx;
    }
    const everywhere = newest.get(ANY_DESTINATION) ?? 0;
    const destinations = everywhere > 0 ? [...this.#waiters.keys()] : [...newest.keys()];
    for (const destination of destinations) {
      const waiters = this.#waiters.get(destination);
      if (!waiters) continue;
      const index = Math.max(newest.get(destination) ?? 0, everywhere);
      this.#woken += waiters.size;
      for (const waiter of [...waiters]) waiter.settle(index);
    }
  }

  readonly #remove = (waiter: Waiter): void => {
    const waiters = this.#waiters.get(waiter.destination);
    if (!waiters?.delete(waiter)) return;
    this.#waiting--;
    if (waiters.size === 0) this.#waiters.delete(waiter.destination);
  };

  /**
   * Starts listening for changes at `destination` now and returns the wait. Subscribe before
   * reading the index, so a change between the read and the wait is not missed.
   */
  subscribe(destination: string): Subscription {
    const waiter = new Waiter(destination, this.#remove);
    if (this.#closed) {
      waiter.settle(undefined);
      return waiter;
    }
    let waiters = this.#waiters.get(destination);
    if (!waiters) this.#waiters.set(destination, (waiters = new Set()));
    waiters.add(waiter);
    this.#waiting++;
    return waiter;
  }

  /** Ends every wait (the server is stopping) and makes future waits return at once. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const waiters of [...this.#waiters.values()])
      for (const waiter of [...waiters]) waiter.settle(undefined);
  }

  /**
   * Moves at every `notify`, before it reads anything: what was read from the database before
   * it moved may predate a commit (cached callers are read again).
   */
  get generation(): number {
    return this.#generation;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Waiting requests woken by a change so far. */
  get woken(): number {
    return this.#woken;
  }

  get closed(): boolean {
    return this.#closed;
  }
}
