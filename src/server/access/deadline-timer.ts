import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';

/** setTimeout's longest delay; a later deadline is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** After a failed run (the database away), the next try. */
const RETRY_MS = 1000;

/** What a deadline timer acts on: deadlines kept in the database. */
export interface Deadlines {
  /** What `handleDue` does, for the log when it fails ("remove expired grants"). */
  what: string;
  /** The soonest deadline after `now`, or undefined when none is set. */
  next(now: number): Promise<number | undefined>;
  /** Acts on everything due at `now`. */
  handleDue(now: number): Promise<void>;
}

/**
 * Acts on each deadline when it comes, not at the next sweep: one timer at the soonest. Operations
 * that set a deadline `schedule` it; after each run (the first at start) the next one is read
 * from the database. Deadlines set on other replicas are found by their own timers, or by the sweep.
 */
export class DeadlineTimer {
  readonly #deadlines: Deadlines;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires. */
  #at = Infinity;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deadlines: Deadlines, deps: { clock: Clock; log: Logger }) {
    this.#deadlines = deadlines;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /** Handles at once what came due while no timer ran (a restart), then waits for the next. */
  start(): void {
    this.schedule(this.#clock.now());
  }

  /** Something is due at `at`: makes sure the timer fires by then. */
  schedule(at: number): void {
    if (this.#stopped || at >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    // A few milliseconds late rather than early: the run handles what is due at its `now`.
    const delay = Math.min(Math.max(at - this.#clock.now() + 5, 0), MAX_DELAY_MS);
    this.#timer = setTimeout(() => void this.#fire(), delay);
    this.#timer.unref();
  }

  async #fire(): Promise<void> {
    this.#at = Infinity;
    this.#timer = undefined;
    if (this.#running) await this.#running;
    this.#running = this.#handleDue();
    await this.#running;
    this.#running = undefined;
  }

  async #handleDue(): Promise<void> {
    try {
      await this.#deadlines.handleDue(this.#clock.now());
      const next = await this.#deadlines.next(this.#clock.now());
      if (next !== undefined) this.schedule(next);
    } catch (err) {
      this.#log.error({ err }, `could not ${this.#deadlines.what}; retrying`);
      this.schedule(this.#clock.now() + RETRY_MS);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
