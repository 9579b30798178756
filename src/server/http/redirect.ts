import { createServer, type Server } from 'node:http';
import type { ConnectionLimits } from '../../shared/config-loader.js';
import { limitConnectionsPerAddress, timeoutOptions } from '../../shared/listen.js';
import type { Logger } from '../../shared/logger.js';
import type { AcmeCertificates } from '../tls/acme.js';
import type { Readiness } from '../access/readiness.js';
import { clientErrorResponse, readinessResponse, refuseTunnels } from './errors.js';

/**
 * The optional plain-HTTP listener. It never serves the API: it answers `/healthz` and `/readyz` (for load
 * balancers that probe over HTTP), ACME http-01 challenges, and redirects everything else to
 * the same path at the server's public origin (never to a host the request names).
 */
export function createRedirectServer(options: {
  origin: string;
  limits: ConnectionLimits;
  log: Logger;
  acme?: AcmeCertificates;
  onRedirect?: () => void;
  readiness?: () => Promise<Readiness>;
}): Server {
  const server = createServer(timeoutOptions(options.limits, 10_000), (req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (
      path === '/readyz' &&
      options.readiness &&
      (req.method === 'GET' || req.method === 'HEAD')
    ) {
      void options.readiness().then((r) => {
        const { status, headers, body } = readinessResponse(r);
        res.writeHead(status, { ...headers, 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      return;
    }
    const challenge = options.acme?.challengeResponse(path);
    if (challenge !== undefined) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(challenge);
      return;
    }
    options.onRedirect?.();
    // 308 keeps the method and body, so an API POST sent to http:// is not silently turned into a GET.
    res.writeHead(308, {
      location: `${options.origin}${url.startsWith('/') ? url : '/'}`,
      'content-type': 'text/plain',
    });
    res.end('use HTTPS\n');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code !== 'ECONNRESET' && socket.writable) socket.write(clientErrorResponse(err));
    socket.destroy();
  });
  refuseTunnels(server);
  limitConnectionsPerAddress(server, options.limits.connectionsPerIP, { log: options.log });
  return server;
}
