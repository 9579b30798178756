import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';
import { nextGrantExpiry } from '../data/grants.js';
import type { ChangeNotifier } from './changes.js';
import { removeExpiredGrants } from './maintenance.js';

/** setTimeout's longest delay; a later expiry is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** After a failed removal (the database away), the next try. */
const RETRY_MS = 1000;

/**
 * Removes each grant when it expires, not at the next sweep: a timer at the soonest expiry
 * deletes the grants due and records the change, which wakes the connectors' feeds, so a
 * temporary grant stops working at the cluster within a second of its end. Operations that make
 * a grant with an expiry `schedule` it; at start, and after each removal, the next expiry is
 * read from the database. Other replicas' grants are found by their own timers or the sweep.
 */
export class GrantExpiry {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #changes: ChangeNotifier;
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires. */
  #at = Infinity;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: { db: Db; clock: Clock; log: Logger; changes: ChangeNotifier }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#changes = deps.changes;
  }

  async start(): Promise<void> {
    const next = await nextGrantExpiry(this.#db, this.#clock.now());
    if (next !== undefined) this.schedule(next);
  }

  /** A grant expires at `at`: makes sure the timer fires by then. */
  schedule(at: number): void {
    if (this.#stopped || at >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    // A few milliseconds late rather than early: the removal deletes what is due at its `now`.
    const delay = Math.min(Math.max(at - this.#clock.now() + 5, 0), MAX_DELAY_MS);
    this.#timer = setTimeout(() => void this.#fire(), delay);
    this.#timer.unref();
  }

  async #fire(): Promise<void> {
    this.#at = Infinity;
    this.#timer = undefined;
    if (this.#running) await this.#running;
    this.#running = this.#removeDue();
    await this.#running;
    this.#running = undefined;
  }

  async #removeDue(): Promise<void> {
    try {
      const removed = await removeExpiredGrants(this.#db, this.#clock.now());
      if (removed > 0) this.#changes.notify();
      const next = await nextGrantExpiry(this.#db, this.#clock.now());
      if (next !== undefined) this.schedule(next);
    } catch (err) {
      this.#log.error({ err }, 'could not remove expired grants; retrying');
      this.schedule(this.#clock.now() + RETRY_MS);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
