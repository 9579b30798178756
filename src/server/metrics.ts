import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { productVersion } from '../shared/version.js';

/** The server's Prometheus metrics. One registry per server, so tests can run several. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpRedirects: Counter;

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
    this.httpRedirects = new Counter({
      name: 'http_redirects_total',
      help: 'Plain-HTTP requests redirected to HTTPS',
      registers: [this.registry],
    });
  }
}
