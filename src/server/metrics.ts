import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { productVersion } from '../shared/version.js';

/** The server's Prometheus metrics. One registry per server, so tests can run several. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpRedirects: Counter;
  readonly databaseUp: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'build_info',
      help: 'Version of the running server (always 1)',
      labelNames: ['version'],
      registers: [this.registry],
    }).set({ version: productVersion }, 1);
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'API request latency by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      // 1 ms to 16 s, doubling.
      buckets: Array.from({ length: 15 }, (_, k) => 0.001 * 2 ** k),
      registers: [this.registry],
    });
    this.databaseUp = new Gauge({
      name: 'database_up',
      help: 'Whether the database answers (1) or is unavailable (0), as the last queries found',
      registers: [this.registry],
    });
    this.httpRedirects = new Counter({
      name: 'http_redirects_total',
      help: 'Plain-HTTP requests redirected to HTTPS',
      registers: [this.registry],
    });
  }

  /** Reports the access feed's waiting requests and how many changes woke. */
  watchFeeds(changes: { waiting: number; woken: number }): void {
    new Gauge({
      name: 'feed_requests_waiting',
      help: 'Access feed requests waiting for a change (about one per connector)',
      registers: [this.registry],
      collect() {
        this.set(changes.waiting);
      },
    });
    let reported = 0;
    new Counter({
      name: 'feed_wakeups_total',
      help: 'Waiting access feed requests woken by a change at their destination',
      registers: [this.registry],
      collect() {
        this.inc(changes.woken - reported);
        reported = changes.woken;
      },
    });
  }

  /** Reports the outbound tunnels this replica holds and what flows through them. */
  watchTunnels(stats: {
    tunnels: number;
    streamsOpen: number;
    streamsTotal: number;
    bytesToClusters: number;
    bytesFromClusters: number;
  }): void {
    new Gauge({
      name: 'tunnels_open',
      help: 'Connector tunnels held by this server replica',
      registers: [this.registry],
      collect() {
        this.set(stats.tunnels);
      },
    });
    new Gauge({
      name: 'tunnel_streams_open',
      help: 'kubectl requests and connections open through tunnels',
      registers: [this.registry],
      collect() {
        this.set(stats.streamsOpen);
      },
    });
    const counter = (name: string, help: string, read: () => number) => {
      let reported = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const now = read();
          this.inc(now - reported);
          reported = now;
        },
      });
    };
    counter('tunnel_streams_total', 'Streams opened through tunnels', () => stats.streamsTotal);
    counter(
      'tunnel_bytes_to_clusters_total',
      'Bytes relayed from kubectl to connectors',
      () => stats.bytesToClusters,
    );
    counter(
      'tunnel_bytes_from_clusters_total',
      'Bytes relayed from connectors to kubectl',
      () => stats.bytesFromClusters,
    );
  }

  /** Follows the database's health in `database_up`. */
  watchDatabase(health: { up: boolean; onChange(listener: (up: boolean) => void): unknown }): void {
    this.databaseUp.set(health.up ? 1 : 0);
    health.onChange((up) => this.databaseUp.set(up ? 1 : 0));
  }
}
