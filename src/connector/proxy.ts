import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type Server, type ServerOptions } from 'node:https';
import { createServer as createPlainServer } from 'node:http';
import {
  STATUS_CODES,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import type { ConnectionLimits } from '../shared/config-loader.js';
import { limitConnectionsPerAddress, timeoutOptions } from '../shared/listen.js';
import type { Logger } from '../shared/logger.js';
import { HOP_BY_HOP, isStreamingRequest, kubeStatus } from '../shared/tunnel.js';
import { decide, type AccessState, type OpenStreams } from './access.js';
import {
  KeysUnavailable,
  TokenRejected,
  type TokenClaims,
  type TokenVerifier,
} from './authenticate.js';
import {
  CHANNEL_PROTOCOLS,
  ExecRecording,
  spdyTaps,
  webSocketTaps,
  type SessionTaps,
} from './exec-recording.js';
import type { KubeAuditLog, ProxiedRequest } from './kube-audit.js';
import { parseKubeRequest } from './kube-request.js';
import type { Upstream } from './kube.js';
import type { ConnectorMetrics } from './metrics.js';

export interface ProxyDeps {
  destination: string;
  verifier: TokenVerifier;
  state(): AccessState | undefined;
  /** Why every request is refused now (503), if it is: the server has been away too long. */
  refusal(): string | undefined;
  upstream(): Promise<Upstream>;
  streams: OpenStreams;
  metrics: ConnectorMetrics;
  log: Logger;
  limits: ConnectionLimits;
  /** Where each request's audit event, and each exec or attach session's recording, goes. */
  audit: Pick<KubeAuditLog, 'record' | 'recordChunk'>;
  /** Record what people type in exec and attach sessions too. */
  recordStdin: boolean;
}

export type Verdict =
  | { ok: true; claims: TokenClaims; user: string; groups: string[]; state: AccessState }
  /** `claims`: the caller was identified, then refused (their request is audited). */
  | { ok: false; code: number; message: string; claims?: TokenClaims };

/** Whether the request may go through, and as whom. */
async function authorize(deps: ProxyDeps, headers: IncomingHttpHeaders): Promise<Verdict> {
  const refusal = deps.refusal();
  if (refusal) return { ok: false, code: 503, message: refusal };
  const m = /^Bearer +(\S+)$/i.exec(headers.authorization ?? '');
  if (!m)
    return {
      ok: false,
      code: 401,
      message: 'no Infra token; run `infra login` and use the kubeconfig it writes',
    };
  let claims: TokenClaims;
  try {
    claims = await deps.verifier.verify(m[1]!);
  } catch (err) {
    if (err instanceof TokenRejected) {
      deps.log.info({ reason: err.message }, 'token refused');
      return {
        ok: false,
        code: 401,
        message: 'your Infra token is not valid here; run `infra login`',
      };
    }
    if (err instanceof KeysUnavailable) {
      // Logged when a fetch fails (at most once a second), not for each request in between.
      if (err.cause) deps.log.warn({ err: (err.cause as Error).message }, err.message);
      return {
        ok: false,
        code: 503,
        message: 'the Infra connector cannot reach the Infra server to check your token; try again',
      };
    }
    throw err;
  }
  const state = deps.state();
  const decision = decide(state, claims, deps.destination);
  if (!decision.allowed)
    return { ok: false, code: decision.status, message: decision.message, claims };
  return { ok: true, claims, user: decision.user, groups: decision.groups, state: state! };
}

/**
 * A name as an `Impersonate-*` header value. The kube-apiserver (Go) takes a header value's
 * bytes as the string it compares with RBAC subjects, so a name goes as its UTF-8 bytes. Node
 * writes a header string one byte per character (Latin-1) and refuses characters beyond it, so
 * those bytes are given as such a string. Names with control characters never get here
 * (`accessState` drops them).
 */
function headerValue(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) ? name : Buffer.from(name, 'utf8').toString('latin1');
}

/**
 * The request headers to send upstream: hop-by-hop headers, the caller's credentials and every
 * `Impersonate-*` header the caller sent are dropped (nobody escalates with `--as`); the
 * connector's own credentials and the caller's identity are added.
 */
function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  upstream: Upstream,
  user: string,
  groups: string[],
  keep: string[] = [],
) {
  const headers: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || name === 'authorization' || name.startsWith('impersonate-'))
      continue;
    if (HOP_BY_HOP.has(name) && !keep.includes(name)) continue;
    headers[name] = value;
  }
  headers.host = `${upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host}:${upstream.port}`;
  if (upstream.authorization) headers.authorization = upstream.authorization;
  headers['impersonate-user'] = headerValue(user);
  if (groups.length > 0) headers['impersonate-group'] = groups.map(headerValue);
  return headers;
}

/**
 * The connection pool to the kube-apiserver. Node's agent keys its pool by a name built from
 * each request's options, the CA and client key (PEM) included, three times per request; here
 * every connection goes to one place with one TLS configuration, so the name is fixed, and so
 * is the server name (SNI), which Node would otherwise derive from each request's Host header.
 */
class UpstreamAgent extends Agent {
  constructor(upstream: Upstream) {
    super({
      keepAlive: true,
      maxSockets: 512,
      ...upstream.tls,
      // As Node derives it: the host name, none for an IP address.
      servername: upstream.tls.servername ?? (isIP(upstream.host) ? '' : upstream.host),
    });
  }

  override getName(): string {
    return 'kube-apiserver';
  }
}

type Pem = string | Buffer | Array<string | Buffer> | undefined;
function samePem(a: Pem, b: Pem): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    const [x, y] = [[a ?? []].flat(), [b ?? []].flat()];
    return x.length === y.length && x.every((v, i) => samePem(v, y[i]));
  }
  const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v) : v);
  const [x, y] = [bytes(a), bytes(b)];
  return Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y);
}

/** Whether connections made for `a` serve `b` too: same place, same TLS options. */
function sameConnection(a: Upstream, b: Upstream): boolean {
  return (
    a.host === b.host &&
    a.port === b.port &&
    a.tls.rejectUnauthorized === b.tls.rejectUnauthorized &&
    a.tls.servername === b.tls.servername &&
    samePem(a.tls.ca as Pem, b.tls.ca as Pem) &&
    samePem(a.tls.cert as Pem, b.tls.cert as Pem) &&
    samePem(a.tls.key as Pem, b.tls.key as Pem)
  );
}

/**
 * The facts of a request its audit events are made of, as far as the verdict tells them: one
 * object per request, completed (`code`, `at`) and queued as its ResponseComplete event.
 */
export function auditedRequest(
  req: IncomingMessage,
  verdict: Verdict,
  receivedAt: number,
): ProxiedRequest | undefined {
  const claims = verdict.ok ? verdict.claims : verdict.claims;
  if (!claims) return undefined;
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    userId: claims.userId,
    userName: verdict.ok ? verdict.user : claims.name,
    groups: verdict.ok ? verdict.groups : [],
    impersonated: verdict.ok,
    sourceIP: req.socket.remoteAddress,
    userAgent: req.headers['user-agent'],
    stage: 'ResponseComplete',
    code: 0,
    receivedAt,
    at: 0,
  };
}

/** Queues a request's ResponseComplete event. */
function complete(audit: ProxyDeps['audit'], audited: ProxiedRequest, code: number): void {
  audited.code = code;
  audited.at = Date.now();
  audit.record(audited);
}

/** The connector's proxy, served at its own HTTPS listener and to streams of its tunnels. */
export interface Proxy {
  /** The HTTPS server kubectl connects to in direct mode (the connector's certificate). */
  listener(tls: ServerOptions): Server;
  /** Serves one connection that came through a tunnel (HTTP/1.1 over an HTTP/2 stream). */
  serveTunnelStream(stream: Duplex): void;
  close(): void;
}

/**
 * The authenticating proxy kubectl talks to, directly over HTTPS with the connector's
 * certificate or through the Infra server's tunnel: each request needs a valid destination token
 * and live access; it is forwarded to the kube-apiserver with impersonation headers, streaming
 * both ways (watch, logs -f), and upgraded connections (exec, attach, port-forward over WebSocket
 * or SPDY) are piped through.
 */
export function createProxy(deps: ProxyDeps): Proxy {
  let agent: { agent: Agent; upstream: Upstream } | undefined;
  const agentFor = (upstream: Upstream) => {
    // The same Upstream object until its credentials are re-read (a minute): nothing to compare.
    if (agent?.upstream === upstream) return agent.agent;
    if (agent && sameConnection(agent.upstream, upstream)) {
      agent.upstream = upstream;
      return agent.agent;
    }
    agent?.agent.destroy();
    agent = { agent: new UpstreamAgent(upstream), upstream };
    return agent.agent;
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    res.on('finish', () =>
      deps.metrics.observe(res.statusCode, Number(process.hrtime.bigint() - started) / 1e9),
    );
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    handle(req, res).catch((err: unknown) => {
      deps.log.error({ err }, 'proxy error');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(kubeStatus(500, 'internal error in the Infra connector'));
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    const verdict = await authorize(deps, req.headers);
    const audited = auditedRequest(req, verdict, receivedAt);
    if (!verdict.ok) {
      res
        .writeHead(verdict.code, { 'content-type': 'application/json' })
        .end(kubeStatus(verdict.code, verdict.message));
      req.resume();
      if (audited) complete(deps.audit, audited, verdict.code);
      return;
    }
    const upstream = await deps.upstream();
    const up = request({
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: upstreamHeaders(req.headers, upstream, verdict.user, verdict.groups),
      agent: agentFor(upstream),
    });
    let untrack: (() => void) | undefined;
    const streaming = isStreamingRequest(req.url ?? '');
    if (streaming) {
      // A stream's start and end events share one auditID.
      audited!.auditID = randomUUID();
      untrack = deps.streams.add(
        {
          claims: verdict.claims,
          close: () => {
            up.destroy();
            res.destroy();
          },
        },
        verdict.state,
      );
      res.on('close', () => untrack?.());
    }
    up.on('response', (upRes) => {
      const headers: OutgoingHttpHeaders = {};
      for (const name in upRes.headers) {
        const value = upRes.headers[name];
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      }
      res.writeHead(upRes.statusCode ?? 502, headers);
      // A watch answers its headers long before its first event: send them now. Other answers
      // go out with their body, in one write.
      if (streaming) {
        res.flushHeaders();
        deps.audit.record({
          ...audited!,
          stage: 'ResponseStarted',
          code: res.statusCode,
          at: Date.now(),
        });
      }
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      deps.log.warn({ err: err.message }, 'the kube-apiserver did not answer');
      if (!res.headersSent) {
        res
          .writeHead(502, { 'content-type': 'application/json' })
          .end(kubeStatus(502, 'the Kubernetes API server did not answer'));
      } else {
        res.destroy();
      }
    });
    req.on('aborted', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      complete(deps.audit, audited!, res.statusCode);
    });
    req.pipe(up);
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch((err: unknown) => {
      deps.log.error({ err }, 'proxy upgrade error');
      socket.destroy();
    });
  };

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (code: number, message: string) => {
      const body = kubeStatus(code, message);
      socket.end(
        `HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    const receivedAt = Date.now();
    const verdict = await authorize(deps, req.headers);
    const audited = auditedRequest(req, verdict, receivedAt);
    if (!verdict.ok) {
      refuse(verdict.code, verdict.message);
      if (audited) complete(deps.audit, audited, verdict.code);
      return;
    }
    const upstream = await deps.upstream();
    const headers = upstreamHeaders(req.headers, upstream, verdict.user, verdict.groups, [
      'connection',
      'upgrade',
    ]);
    const auditID = randomUUID();
    audited!.auditID = auditID;
    // The kube-apiserver's answer: 101 opens the stream (its start event), anything else ends it.
    let code = 502;
    let ended = false;
    const observe = upgradeObserver((status, response) => {
      code = status;
      if (status !== 101) return;
      deps.audit.record({ ...audited!, stage: 'ResponseStarted', code: status, at: Date.now() });
      return sessionTaps(deps, req, auditID, verdict.claims.userId, verdict.user, response);
    });
    const upSocket = connect({
      host: upstream.host,
      port: upstream.port,
      ALPNProtocols: ['http/1.1'],
      ...upstream.tls,
    });
    const untrack = deps.streams.add(
      {
        claims: verdict.claims,
        close: () => {
          upSocket.destroy();
          socket.destroy();
        },
      },
      verdict.state,
    );
    const done = () => {
      untrack();
      upSocket.destroy();
      socket.destroy();
      if (ended) return;
      ended = true;
      observe.end();
      complete(deps.audit, audited!, code);
    };
    upSocket.once('secureConnect', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (const [name, value] of Object.entries(headers)) {
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
      }
      // Header strings hold one byte per character (as Node read them, or `headerValue`).
      upSocket.write(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
      if (head.length > 0) {
        upSocket.write(head);
        observe.fromClient(head);
      }
      upSocket.on('data', observe.fromServer);
      socket.on('data', observe.fromClient);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
    });
    upSocket.on('error', (err) => {
      deps.log.warn({ err: err.message }, 'upgrade to the kube-apiserver failed');
      if (!upSocket.readyState || upSocket.readyState === 'opening')
        refuse(502, 'the Kubernetes API server did not answer');
      done();
    });
    upSocket.on('close', done);
    socket.on('error', done);
    socket.on('close', done);
  }

  // Requests Node's parser refuses (not HTTP, headers too large or too slow) get a Status too.
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code !== 'ECONNRESET' && socket.writable) {
      const [code, message] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request line and headers are too large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'the request headers did not arrive in time']
            : [400, 'the request is not valid HTTP/1.1'];
      const body = kubeStatus(code, message);
      socket.write(
        `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };

  // As the kube-apiserver's own default: a request (an upload) may take minutes to arrive.
  const timeouts = timeoutOptions(deps.limits, 300_000);
  // Streams from the tunnel: the server relays one request per stream and closes it after.
  const tunnelServer = createPlainServer(timeouts, onRequest);
  tunnelServer.on('upgrade', onUpgrade);
  tunnelServer.on('clientError', onClientError);

  return {
    listener(tls) {
      const server = createServer({ ...tls, ...timeouts, requireHostHeader: false }, onRequest);
      server.on('upgrade', onUpgrade);
      server.on('clientError', onClientError);
      limitConnectionsPerAddress(server, deps.limits.connectionsPerIP, { log: deps.log });
      return server;
    },
    serveTunnelStream(stream) {
      tunnelServer.emit('connection', stream);
    },
    close() {
      agent?.agent.destroy();
    },
  };
}

/** Watches an upgrade's bytes: the kube-apiserver's answer, then the session, if recorded. */
type UpgradeObserver = SessionTaps;

/**
 * Reads the kube-apiserver's answer to an upgrade (status line and headers) as it passes by,
 * tells `onAnswer`, and hands everything after it to the taps `onAnswer` returns, if any.
 */
function upgradeObserver(
  onAnswer: (status: number, headers: IncomingHttpHeaders) => SessionTaps | undefined,
): UpgradeObserver {
  let answer: Buffer | undefined = Buffer.alloc(0);
  let taps: SessionTaps | undefined;
  const early: Buffer[] = [];
  return {
    fromServer(chunk) {
      if (answer === undefined) return taps?.fromServer(chunk);
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf('\r\n\r\n');
      if (end < 0) {
        // An answer without an end in sight is not ours to read.
        if (answer.length > 65_536) answer = undefined;
        return;
      }
      const lines = answer.subarray(0, end).toString('latin1').split('\r\n');
      const rest = answer.subarray(end + 4);
      answer = undefined;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 502);
      const headers: IncomingHttpHeaders = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0)
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      taps = onAnswer(status, headers);
      if (!taps) return;
      for (const c of early) taps.fromClient(c);
      early.length = 0;
      if (rest.length > 0) taps.fromServer(rest);
    },
    fromClient(chunk) {
      // What the client sends before the answer arrives (its first frames) is read after it.
      if (answer !== undefined) early.push(chunk);
      else taps?.fromClient(chunk);
    },
    end() {
      taps?.end();
    },
  };
}

/** Taps that record an interactive exec or attach session; none for anything else. */
function sessionTaps(
  deps: ProxyDeps,
  req: IncomingMessage,
  id: string,
  userId: string,
  userName: string,
  response: IncomingHttpHeaders,
): SessionTaps | undefined {
  const { objectRef } = parseKubeRequest(req.method ?? 'GET', req.url ?? '/');
  const subresource = objectRef?.subresource;
  if (objectRef?.resource !== 'pods' || (subresource !== 'exec' && subresource !== 'attach'))
    return undefined;
  const query = new URL(req.url ?? '/', 'https://connector').searchParams;
  // A WebSocket names its protocol in the subprotocol header, SPDY in its own.
  const spdy = /^SPDY\/3\.1$/i.test(String(response.upgrade ?? ''));
  const protocol = String(
    (spdy ? response['x-stream-protocol-version'] : response['sec-websocket-protocol']) ?? '',
  );
  if (!CHANNEL_PROTOCOLS.has(protocol)) {
    deps.log.warn(
      { protocol },
      `${subresource} session not recorded: its stream protocol is not one the connector reads`,
    );
    return undefined;
  }
  const recording = new ExecRecording(
    {
      id,
      destination: deps.destination,
      user: { username: userName, uid: userId },
      namespace: objectRef.namespace ?? '',
      pod: objectRef.name ?? '',
      container: query.get('container') ?? '',
      command: query.getAll('command'),
      subresource,
      recordStdin: deps.recordStdin,
    },
    (chunk) => deps.audit.recordChunk(chunk),
  );
  return spdy ? spdyTaps(recording) : webSocketTaps(recording);
}
