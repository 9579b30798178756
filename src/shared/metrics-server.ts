import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Serves a Prometheus registry at `GET /metrics` (and `/healthz`); nothing else. */
export function createMetricsServer(registry: Registry): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('not found; metrics are at /metrics\n');
    }
  });
}
