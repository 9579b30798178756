import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../shared/clock.js';
import type { AccessFollower } from './follow.js';
import { productVersion } from '../shared/version.js';

/** The connector's Prometheus metrics. */
export class ConnectorMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'code'>;
  readonly #duration: Histogram;
  readonly syncLag: Gauge;
  readonly feedIndex: Gauge;
  readonly openStreams: Gauge;
  readonly bindingWrites: Counter<'result'>;
  readonly #auditDropped: Counter<'kind'>;

  constructor(
    tokenStats: { hits: number; misses: number },
    feed: Pick<AccessFollower, 'lastHeardAt' | 'lostSince' | 'failingClosed'>,
    clock: Clock,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: 'build_info',
      help: 'Version of the running connector (always 1)',
      labelNames: ['version'],
      registers,
    }).set({ version: productVersion }, 1);
    this.#requests = new Counter({
      name: 'connector_requests_total',
      help: 'Proxied requests by status code',
      labelNames: ['code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'connector_request_duration_seconds',
      help: 'Time to the upstream response (streams: until they end)',
      // 0.5 ms to 16 s, doubling.
      buckets: Array.from({ length: 16 }, (_, k) => 0.0005 * 2 ** k),
      registers,
    });
    this.syncLag = new Gauge({
      name: 'connector_sync_lag_seconds',
      help: 'Seconds since the connector last heard from the access feed (a 304 counts)',
      registers,
      collect() {
        const heard = feed.lastHeardAt;
        this.set(heard === 0 ? -1 : (clock.now() - heard) / 1000);
      },
    });
    this.feedIndex = new Gauge({
      name: 'connector_feed_update_index',
      help: 'updateIndex of the access state in use',
      registers,
    });
    new Gauge({
      name: 'connector_server_reachable',
      help: '1 while the access feed answers; 0 before its first answer and from a failed attempt until the next answer',
      registers,
      collect() {
        this.set(feed.lastHeardAt > 0 && feed.lostSince === undefined ? 1 : 0);
      },
    });
    new Gauge({
      name: 'connector_failing_closed',
      help: '1 while every request is refused: the server has been unreachable for failClosedAfter',
      registers,
      collect() {
        this.set(feed.failingClosed ? 1 : 0);
      },
    });
    this.openStreams = new Gauge({
      name: 'connector_open_streams',
      help: 'Open watch, logs and exec streams',
      registers,
    });
    this.bindingWrites = new Counter({
      name: 'connector_rbac_writes_total',
      help: 'RBAC binding writes by result',
      labelNames: ['result'],
      registers,
    });
    this.#auditDropped = new Counter({
      name: 'connector_audit_dropped_total',
      help: 'Kubernetes request events (kind=events) and recording chunks (kind=chunk) dropped: the disk buffer was full, or the server refused them',
      labelNames: ['kind'],
      registers,
    });
    new Counter({
      name: 'connector_token_cache_hits_total',
      help: 'Requests whose token was already verified',
      registers,
      collect() {
        this.reset();
        this.inc(tokenStats.hits);
      },
    });
    new Counter({
      name: 'connector_token_cache_misses_total',
      help: 'Requests whose token needed an ES512 verification',
      registers,
      collect() {
        this.reset();
        this.inc(tokenStats.misses);
      },
    });
  }

  dropped(kind: 'events' | 'chunk', count: number): void {
    this.#auditDropped.inc({ kind }, count);
  }

  observe(code: number, seconds: number): void {
    this.#requests.inc({ code: String(code) });
    this.#duration.observe(seconds);
  }
}
