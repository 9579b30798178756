import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { endpoints } from '../../api/endpoints.js';
import type { ConnectionLimits } from '../../shared/config-loader.js';
import { AppError } from '../../shared/errors.js';
import type { TunnelRelay } from './tunnel.js';
import { addressMatcher, limitConnectionsPerAddress, timeoutOptions } from '../../shared/listen.js';
import type { OperationDeps } from '../access/operation.js';
import type { Readiness } from '../access/readiness.js';
import type { ServerMetrics } from '../metrics.js';
import type { ServerTls } from '../tls/server-tls.js';
import { clientErrorResponse, errorResponse, readinessResponse, refuseTunnels } from './errors.js';
import { checkHost, checkOneHost, useOriginForm } from './host.js';
import { registerRoutes } from './route.js';
import { handlers } from './routes.js';
import { registerScim } from './scim.js';

/** Largest accepted request body. The API takes small JSON documents only. */
export const BODY_LIMIT = 1024 * 1024;

interface AppDeps extends OperationDeps {
  metrics: ServerMetrics;
  tls: ServerTls;
  /** The built dashboard (`dashboard/dist`); the API works without it. */
  dashboardDir?: string;
  /** Reverse proxies whose X-Forwarded-* headers are believed (addresses, CIDR ranges). */
  trustedProxies?: string[];
  /** The origin links are built from (`https://infra.example.com`); known once listening. */
  publicOrigin(): string;
  limits: ConnectionLimits;
  /** Whether to send this server traffic (`/readyz`). */
  readiness(): Promise<Readiness>;
  /** Outbound tunnels of connectors, and kubectl's requests relayed through them. */
  tunnels: TunnelRelay;
}

/** How long a request may take to arrive whole (headers and body). */
const REQUEST_TIMEOUT = 60_000;
/** Longest path quoted back in a 404. */
const QUOTED_PATH = 200;

const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const DASHBOARD_CSP = [
  "default-src 'self'",
  // WebAssembly only (not eval): the recordings' player runs its terminal in it.
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * Builds the HTTPS application: the API routes, `/healthz`, the dashboard, one JSON error
 * shape, security headers and request metrics. The caller listens.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { requestTimeout, ...timeouts } = timeoutOptions(deps.limits, REQUEST_TIMEOUT);
  const app = Fastify({
    https: {
      ...deps.tls.secureContextOptions(),
      ...timeouts,
      // A request without Host gets our JSON answer (checkHost), not Node's empty 400.
      requireHostHeader: false,
    },
    // pino's Logger is what Fastify expects at run time; only the declared types differ.
    loggerInstance: deps.log as FastifyBaseLogger,
    // One line per request is written by the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // The client's address (throttling, audit) comes from X-Forwarded-For only through a proxy
    // we were told to trust; anyone else could claim any address with it.
    trustProxy: deps.trustedProxies?.length ? deps.trustedProxies : false,
    // On shutdown, close keep-alive connections that are idle; in-flight requests finish.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Bound receiving a request and waiting for the next one, never how long an answer takes
    // (the access feed holds its answer for up to five minutes).
    requestTimeout,
    connectionTimeout: 0,
    keepAliveTimeout: deps.limits.idleTimeout,
    // Long enough that an over-long id reaches validation (a 400 naming the field).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 4096 },
    // A URL the router cannot decode, or an over-long path segment.
    frameworkErrors: (err, req, reply: FastifyReply) => {
      const { status, body, headers } = errorResponse(err, req.id, deps.log);
      void reply
        .code(status)
        .headers({ ...SECURITY_HEADERS, ...headers })
        .type('application/json')
        .send(body);
    },
    // Requests Node's parser refuses (headers too large, not HTTP, too slow) get our JSON shape.
    clientErrorHandler: (err, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      deps.log.debug({ code: err.code, reason: err.message }, 'malformed request refused');
      if (socket.writable) socket.write(clientErrorResponse(err, SECURITY_HEADERS));
      socket.destroy();
    },
  });
  limitConnectionsPerAddress(app.server, deps.limits.connectionsPerIP, {
    log: deps.log,
    exempt: deps.trustedProxies?.length ? addressMatcher(deps.trustedProxies) : undefined,
  });
  refuseTunnels(app.server, SECURITY_HEADERS);
  // Before the framework's own listener, so it routes and checks the rewritten request.
  app.server.prependListener('request', useOriginForm);
  deps.tunnels.attach(app.server, SECURITY_HEADERS);
  deps.tls.onChange(() => app.server.setSecureContext(deps.tls.secureContextOptions()));

  // Browsers send text/plain and forms cross-site without a preflight; accepting only JSON
  // keeps those requests out of the API.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    checkOneHost(req.raw.rawHeaders);
    // Load balancers probe by address, whatever names the server has.
    if (req.url !== '/healthz' && req.url !== '/readyz') {
      checkHost(req.host, deps.publicOrigin(), (name) => deps.tls.servesName(name));
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    // A 503 is the database (or the server) being away, whose cause is logged once elsewhere.
    const status = reply.statusCode;
    const level =
      status === 503 ? 'warn' : status >= 500 ? 'error' : req.method === 'GET' ? 'debug' : 'info';
    deps.log[level](
      {
        reqId: req.id,
        method: req.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  app.setErrorHandler(async (err, req, reply) => {
    const { status, body, headers } = errorResponse(err, req.id, deps.log);
    return reply.code(status).headers(headers).type('application/json').send(body);
  });

  // Liveness: the process answers. Readiness: it can serve (database, schema, signing key).
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const { status, headers, body } = readinessResponse(await deps.readiness());
    return reply.code(status).headers(headers).send(body);
  });

  registerRoutes(app, endpoints, handlers, deps);
  await registerScim(app, deps);

  const dashboard = deps.dashboardDir && existsSync(path.join(deps.dashboardDir, 'index.html'));
  if (dashboard) {
    await app.register(fastifyStatic, {
      root: deps.dashboardDir!,
      wildcard: false,
      index: ['index.html'],
    });
  }

  app.setNotFoundHandler(async (req: FastifyRequest, reply: FastifyReply) => {
    const apiPath = req.url.startsWith('/api/') || req.url === '/api';
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (!apiPath && req.method === 'GET' && wantsHtml) {
      if (!dashboard) {
        return reply
          .code(503)
          .type('text/plain')
          .send('The dashboard is not built. Run `npm run build`, then restart the server.\n');
      }
      // Client-side routes (/users, /login/callback...) all load the single page app.
      return reply.sendFile('index.html');
    }
    const path = req.url.split('?')[0]!;
    const quoted = path.length > QUOTED_PATH ? `${path.slice(0, QUOTED_PATH)}…` : path;
    throw new AppError('not_found', `no route for ${req.method} ${quoted}`);
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) reply.header('content-security-policy', DASHBOARD_CSP);
    return payload;
  });

  return app;
}
