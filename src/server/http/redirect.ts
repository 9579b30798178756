import { createServer, type Server } from 'node:http';
import type { AcmeCertificates } from '../tls/acme.js';

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/;

/**
 * The optional plain-HTTP listener. It never serves the API: it answers `/healthz` (for load
 * balancers that probe over HTTP), ACME http-01 challenges, and redirects everything else to
 * the same path over HTTPS.
 */
export function createRedirectServer(options: {
  httpsPort: number;
  acme?: AcmeCertificates;
  onRedirect?: () => void;
}): Server {
  return createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const challenge = options.acme?.challengeResponse(path);
    if (challenge !== undefined) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(challenge);
      return;
    }
    const host = HOST.exec(req.headers.host ?? '');
    if (!host || !url.startsWith('/')) {
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end('bad request: missing or invalid Host header\n');
      return;
    }
    const port = options.httpsPort === 443 ? '' : `:${options.httpsPort}`;
    options.onRedirect?.();
    // 308 keeps the method and body, so an API POST sent to http:// is not silently turned into a GET.
    res.writeHead(308, {
      location: `https://${host[1]}${port}${url}`,
      'content-type': 'text/plain',
    });
    res.end('use HTTPS\n');
  });
}
