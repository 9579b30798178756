import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';
import { updateDestinationLastSeen } from '../data/destinations.js';

/** How often a destination's last-seen time is written while its connector keeps polling. */
const WRITE_EVERY_MS = 30_000;
/** A destination whose connector was seen this recently counts as connected. */
export const CONNECTED_WINDOW_MS = 120_000;

/**
 * Remembers that connectors were in touch. Feed requests are reads; this turns them into at
 * most one write per destination every 30 seconds, on the writer connection.
 */
export class DestinationPresence {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #written = new Map<string, number>();

  constructor(deps: { db: Db; clock: Clock; log: Logger }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  seen(destination: string): void {
    const now = this.#clock.now();
    if (now - (this.#written.get(destination) ?? 0) < WRITE_EVERY_MS) return;
    this.#written.set(destination, now);
    updateDestinationLastSeen(this.#db, destination, now).catch((err: unknown) =>
      this.#log.warn({ err, destination }, 'could not record that a connector was seen'),
    );
  }
}
