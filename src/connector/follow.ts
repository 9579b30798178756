import { NotModified, type ApiClient } from '../api/client.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { accessState, type AccessState } from './access.js';

/** Retries after a failure start here and grow by half each time, to a minute, with ±20% jitter. */
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 60_000;

export function nextDelay(delay: number): number {
  return Math.min(delay * 1.5, RETRY_MAX_MS);
}

export function jitter(delay: number): number {
  return delay * (0.8 + Math.random() * 0.4);
}

/**
 * Follows the server's access feed for one destination: each answer replaces the access state;
 * a 304 means nothing changed. While the server is unreachable the last state stays in force and
 * the follower retries with back-off.
 */
export class AccessFollower {
  readonly #client: Pick<ApiClient, 'getAccessFeed'>;
  readonly #destination: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #onState: (state: AccessState) => void;
  #stopped = false;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** When the feed last answered (with news or a 304). */
  lastHeardAt = 0;

  constructor(deps: {
    client: Pick<ApiClient, 'getAccessFeed'>;
    destination: string;
    log: Logger;
    clock: Clock;
    onState: (state: AccessState) => void;
  }) {
    this.#client = deps.client;
    this.#destination = deps.destination;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#onState = deps.onState;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
    }
  }

  async #run(): Promise<void> {
    let index: number | undefined;
    let delay = RETRY_MIN_MS;
    while (!this.#stopped) {
      try {
        const feed = await this.#client.getAccessFeed({
          destination: this.#destination,
          lastUpdateIndex: index,
          wait: '60s',
        });
        this.lastHeardAt = this.#clock.now();
        index = feed.updateIndex;
        delay = RETRY_MIN_MS;
        this.#onState(accessState(feed));
      } catch (err) {
        if (err instanceof NotModified) {
          this.lastHeardAt = this.#clock.now();
          continue;
        }
        if (this.#stopped) return;
        this.#log.warn(
          { err: (err as Error).message, retryInMs: Math.round(delay) },
          'cannot follow the access feed; keeping the last known access',
        );
        await new Promise<void>((wake) => {
          this.#sleep = { timer: setTimeout(wake, jitter(delay)), wake };
        });
        delay = nextDelay(delay);
      }
    }
  }
}
