import { ZodError } from 'zod';
import { NotModified, type ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { AccessFeed } from '../api/destinations.js';
import type { z } from 'zod';
import { accessState, applyDelta, type AccessState } from './access.js';

type Feed = z.infer<typeof AccessFeed>;

/** Back-off of the other loops (registration, RBAC writes): ×1.5 up to a minute, ±20% jitter. */
const RETRY_MAX_MS = 60_000;

export function nextDelay(delay: number): number {
  return Math.min(delay * 1.5, RETRY_MAX_MS);
}

export function jitter(delay: number): number {
  return delay * (0.8 + Math.random() * 0.4);
}

/** The long poll: the server answers within `wait`, with a 304 when nothing changed. */
const FEED_WAIT = '60s';
/**
 * No byte for this long on a long poll means the server hangs without closing the connection
 * (a paused process, a network that drops packets): the request fails and the follower probes.
 */
export const FEED_TIMEOUT_MS = 70_000;
/**
 * A probe asks for what changed without waiting long, or for a snapshot's pages, which the
 * server answers at once; a hung one is dropped.
 */
export const PROBE_TIMEOUT_MS = 5000;
/** How long a probe lets the server wait for a change (it must be more than zero). */
const PROBE_WAIT = '1ms';

/**
 * While the server is away (connection refused or reset, a timeout, a 5xx or 429) the follower
 * probes from 250 ms, doubling to 1 s, each wait drawn between half and all of that, so access
 * is current within about a second of the server answering again, and many connectors coming
 * back at once spread over that second. A probe of a server that is down costs it nothing (the
 * connection is refused); a server that answers 503 with Retry-After is asked no sooner.
 */
const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 1000;
/**
 * When the server answers and refuses (a revoked or wrong key, another destination's key, a
 * certificate the connector does not trust), only an operator can help: from 2 s ×1.5 up to a
 * minute, ±20%.
 */
const REFUSED_MIN_MS = 2000;

/**
 * Whether `err` means the server answered and refused the feed, rather than being away: an
 * error status other than 429 or 5xx, an answer that is not an access feed, or a certificate
 * the connector does not trust.
 */
export function refusedByServer(err: unknown): boolean {
  if (err instanceof ApiError) return err.status < 500 && err.status !== 429;
  if (err instanceof ZodError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /CERT|SIGNATURE|ISSUER/.test(code);
}

/** The wait before the next attempt, after `failures` failures in a row of the kind of `err`. */
export function retryDelay(err: unknown, failures: number): number {
  if (refusedByServer(err)) {
    return jitter(Math.min(REFUSED_MIN_MS * 1.5 ** (failures - 1), RETRY_MAX_MS));
  }
  const nominal = Math.min(PROBE_MIN_MS * 2 ** (failures - 1), PROBE_MAX_MS);
  const drawn = nominal * (0.5 + Math.random() * 0.5);
  const retryAfter = err instanceof ApiError ? (err.retryAfterSeconds ?? 0) * 1000 : 0;
  return Math.max(drawn, Math.min(retryAfter, RETRY_MAX_MS));
}

/** The follower's contact with the server, as reported to `onContact`. */
export type Contact = 'in-contact' | 'lost' | 'failed-closed';

/**
 * Follows the server's incremental access feed for one destination: a snapshot (in pages) when
 * it starts or has fallen behind, then each delta applied to the state; a 304 means nothing
 * changed. While the server cannot be reached the last state stays in force
 * and the follower probes for it (see `retryDelay`); with `failClosedAfterMs`, once contact has
 * been lost that long, `failingClosed` is set until the server answers again.
 */
export class AccessFollower {
  readonly #poll: Pick<ApiClient, 'getAccessFeed'>;
  readonly #probe: Pick<ApiClient, 'getAccessFeed'>;
  readonly #destination: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #onState: (state: AccessState) => void;
  readonly #onContact: (contact: Contact) => void;
  readonly #failClosedAfterMs: number;
  #stopped = false;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** The current run of failures: whether the server refused, and how many in a row. */
  #failures: { refused: boolean; count: number } | undefined;
  #failClosedTimer: NodeJS.Timeout | undefined;
  #lostSince: number | undefined;
  #failingClosed = false;
  /** When the feed last answered (with news or a 304). */
  lastHeardAt = 0;

  constructor(deps: {
    /** A client for the feed, with a request timeout of at least this module's ones. */
    client: (timeoutMs: number) => Pick<ApiClient, 'getAccessFeed'>;
    destination: string;
    log: Logger;
    clock: Clock;
    onState: (state: AccessState) => void;
    onContact?: (contact: Contact) => void;
    /** 0: keep the last known state however long the server is away. */
    failClosedAfterMs?: number;
  }) {
    this.#poll = deps.client(FEED_TIMEOUT_MS);
    this.#probe = deps.client(PROBE_TIMEOUT_MS);
    this.#destination = deps.destination;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#onState = deps.onState;
    this.#onContact = deps.onContact ?? (() => {});
    this.#failClosedAfterMs = deps.failClosedAfterMs ?? 0;
  }

  /** When contact was lost (the first failed request since an answer), until the next answer. */
  get lostSince(): number | undefined {
    return this.#lostSince;
  }

  /** Whether contact has been lost for `failClosedAfterMs`: every request is to be refused. */
  get failingClosed(): boolean {
    return this.#failingClosed;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#failClosedTimer);
    this.retryNow();
  }

  /** Ends a wait between attempts (a new access key was read, say), so the next starts now. */
  retryNow(): void {
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
    }
  }

  async #run(): Promise<void> {
    let state: AccessState | undefined;
    while (!this.#stopped) {
      // After a failure, ask without waiting: the answer comes at once when the server is back,
      // where a long poll would hold it until the next change.
      const polling = state !== undefined && this.#failures === undefined;
      try {
        const feed = await (polling ? this.#poll : this.#probe).getAccessFeed({
          destination: this.#destination,
          changes: true,
          ...(state === undefined
            ? {}
            : { lastUpdateIndex: state.updateIndex, wait: polling ? FEED_WAIT : PROBE_WAIT }),
        });
        this.#heard();
        state = await this.#next(state, feed);
        this.#onState(state);
      } catch (err) {
        if (err instanceof NotModified) {
          this.#heard();
          continue;
        }
        if (this.#stopped) return;
        await this.#failed(err);
      }
    }
  }

  /** The state after an answer: a delta applied, or a snapshot read to its last page. */
  async #next(state: AccessState | undefined, feed: Feed): Promise<AccessState> {
    if (feed.kind === 'delta' && state !== undefined)
      return applyDelta(state, {
        ...feed,
        subjects: feed.subjects ?? [],
        usersWithoutAccess: feed.usersWithoutAccess ?? [],
      });
    // A server without the incremental feed answers with the whole state at once.
    if (feed.kind !== 'snapshot') return accessState(feed);
    const whole = { ...feed, grants: [...feed.grants], users: [...feed.users] };
    let next = feed.next;
    while (next) {
      const page = await this.#probe.getAccessFeed({
        destination: this.#destination,
        changes: true,
        page: next,
      });
      whole.grants.push(...page.grants);
      whole.users.push(...page.users);
      next = page.next;
      // Pages of 5000 are parsed one at a time; the proxy gets the thread in between.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return accessState(whole);
  }

  #heard(): void {
    const now = this.#clock.now();
    const first = this.lastHeardAt === 0;
    this.lastHeardAt = now;
    this.#failures = undefined;
    if (this.#lostSince === undefined) return;
    const outageSeconds = Math.round((now - this.#lostSince) / 100) / 10;
    this.#log.info(
      { outageSeconds, wasFailingClosed: this.#failingClosed },
      first
        ? `the access feed answers, after failing for ${outageSeconds}s`
        : `the Infra server answers again after ${outageSeconds}s; access follows it again`,
    );
    this.#lostSince = undefined;
    this.#failingClosed = false;
    clearTimeout(this.#failClosedTimer);
    this.#onContact('in-contact');
  }

  async #failed(err: unknown): Promise<void> {
    const message = (err as Error).message;
    const refused = refusedByServer(err);
    // Logged when an outage starts and when the kind of failure changes, not at every attempt.
    if (this.#failures?.refused !== refused) {
      this.#failures = { refused, count: 0 };
      this.#log.warn(
        { err: message },
        refused
          ? 'the Infra server refuses the access feed; keeping the last known access, retrying with back-off up to a minute'
          : 'cannot reach the Infra server; keeping the last known access, retrying about every second',
      );
    }
    this.#failures.count++;
    if (this.#lostSince === undefined) {
      this.#lostSince = this.#clock.now();
      if (this.#failClosedAfterMs > 0) {
        this.#failClosedTimer = setTimeout(() => this.#failClosed(), this.#failClosedAfterMs);
      }
      this.#onContact('lost');
    }
    const delay = retryDelay(err, this.#failures.count);
    this.#log.debug({ err: message, retryInMs: Math.round(delay) }, 'access feed attempt failed');
    await new Promise<void>((wake) => {
      this.#sleep = { timer: setTimeout(wake, delay), wake };
    });
    this.#sleep = undefined;
  }

  #failClosed(): void {
    this.#failingClosed = true;
    this.#log.error(
      { failClosedAfterSeconds: this.#failClosedAfterMs / 1000 },
      'no answer from the Infra server for failClosedAfter: refusing every request until it answers',
    );
    this.#onContact('failed-closed');
  }
}
