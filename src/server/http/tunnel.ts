import { randomBytes } from 'node:crypto';
import {
  STATUS_CODES,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../shared/clock.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import {
  CLIENT_ADDRESS_HEADER,
  HELD_HEADER,
  HOP_BY_HOP,
  REPLICAS_HEADER,
  REPLICA_HEADER,
  TUNNEL_PROTOCOL,
  TUNNEL_SESSION_MEMORY_MB,
  TUNNEL_SETTINGS,
  asSocket,
  isStreamingRequest,
  keepAlive,
  kubeStatus,
} from '../../shared/tunnel.js';
import type { TokenService } from '../access/tokens.js';
import type { TunnelRecord } from '../models.js';
import { errorResponse } from './errors.js';

/** Tunnels one destination may hold to one replica (connectors run as a few replicas at most). */
const TUNNELS_PER_DESTINATION = 8;
/** Streams (kubectl requests and upgraded connections) open at once in one tunnel. */
const STREAMS_PER_TUNNEL = TUNNEL_SETTINGS.maxConcurrentStreams;

const TUNNEL = /^\/api\/destinations\/([^/?#]+)\/tunnel(?:\?.*)?$/;
const KUBE = /^\/api\/destinations\/([^/?#]+)\/kube(?=[/?]|$)/;

interface HeldTunnel {
  id: string;
  destination: string;
  session: ClientHttp2Session;
  socket: Duplex;
  connectedAt: number;
  open: number;
}

/** What the relay counts, for the metrics. */
export interface TunnelStats {
  tunnels: number;
  streamsOpen: number;
  streamsTotal: number;
  bytesToClusters: number;
  bytesFromClusters: number;
}

function rawResponse(code: number, headers: Record<string, string | number>, body = ''): string {
  const all = { ...headers, 'content-length': Buffer.byteLength(body), connection: 'close' };
  const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

function destinationOf(match: RegExpExecArray): string | undefined {
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return undefined;
  }
}

/**
 * The server's end of outbound tunnels. Connectors in tunnel mode open one here (an HTTP
 * upgrade, then HTTP/2 with the server as the client); kubectl's requests to
 * `/api/destinations/<name>/kube/...` are relayed as they are through one of the destination's
 * tunnels to its connector, which authenticates, authorizes and impersonates exactly as in
 * direct mode. The relay only refuses early what the connector would refuse anyway (no valid
 * destination token), so strangers use no tunnel.
 */
export class TunnelRelay {
  readonly #authorize: (accessKey: string, destination: string) => Promise<unknown>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tokens: TokenService;
  readonly #replica: () => { id: string; replicas: string[]; changed(): void };
  readonly #held = new Map<string, HeldTunnel[]>();
  #next = 0;
  #closing = false;
  readonly stats: TunnelStats = {
    tunnels: 0,
    streamsOpen: 0,
    streamsTotal: 0,
    bytesToClusters: 0,
    bytesFromClusters: 0,
  };

  constructor(deps: {
    /** Refuses (throws) a key that may not open the destination's tunnel. */
    authorize(accessKey: string, destination: string): Promise<unknown>;
    clock: Clock;
    log: Logger;
    tokens: TokenService;
    /** This replica (its id), the live ones, and a way to publish a change of held tunnels. */
    replica: () => { id: string; replicas: string[]; changed(): void };
  }) {
    this.#authorize = deps.authorize;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#tokens = deps.tokens;
    this.#replica = deps.replica;
  }

  /** The tunnels this replica holds, for its heartbeat. */
  held(): TunnelRecord[] {
    const replicaId = this.#replica().id;
    return [...this.#held.values()].flat().map((t) => ({
      id: t.id,
      destination: t.destination,
      replicaId,
      connectedAt: t.connectedAt,
    }));
  }

  /**
   * Takes kubectl's requests under `/api/destinations/<name>/kube` before the framework sees
   * them (their bodies stream through untouched), and the upgrades: tunnels and kubectl's exec,
   * attach and port-forward.
   */
  attach(server: Server, headers: Record<string, string>): void {
    const others = server.listeners('request') as Array<
      (req: IncomingMessage, res: ServerResponse) => void
    >;
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const kube = KUBE.exec(req.url ?? '');
      if (kube) return this.#relay(kube, req, res);
      for (const listener of others) listener.call(server, req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const url = req.url ?? '';
      const tunnel = TUNNEL.exec(url);
      const kube = KUBE.exec(url);
      const work = tunnel
        ? this.#open(tunnel, req, socket, head, headers)
        : kube
          ? this.#relayUpgrade(kube, req, socket, head)
          : Promise.resolve(
              void socket.end(
                rawResponse(
                  400,
                  { ...headers, 'content-type': 'application/json' },
                  JSON.stringify({
                    code: 'bad_request',
                    message: 'this server upgrades connections only for tunnels and kubectl',
                  }),
                ),
              ),
            );
      work.catch((err: unknown) => {
        this.#log.error({ err }, 'tunnel upgrade failed');
        socket.destroy();
      });
    });
  }

  /** Closes every tunnel (the server stops): connectors reconnect to another replica. */
  close(): void {
    this.#closing = true;
    for (const t of [...this.#held.values()].flat()) {
      t.session.destroy();
      t.socket.destroy();
    }
    this.#held.clear();
  }

  async #open(
    match: RegExpExecArray,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    headers: Record<string, string>,
  ): Promise<void> {
    const refuse = (err: unknown) => {
      const { status, body, headers: extra } = errorResponse(err, 'tunnel', this.#log);
      socket.end(
        rawResponse(
          status,
          { ...headers, ...extra, 'content-type': 'application/json' },
          JSON.stringify(body),
        ),
      );
    };
    const destination = destinationOf(match);
    const key = bearer(req);
    if (req.method !== 'GET' || destination === undefined)
      return refuse(new AppError('bad_request', 'open a tunnel with GET and a destination name'));
    if ((req.headers.upgrade ?? '').toLowerCase() !== TUNNEL_PROTOCOL)
      return refuse(new AppError('bad_request', `a tunnel needs Upgrade: ${TUNNEL_PROTOCOL}`));
    if (!key) return refuse(new AppError('unauthenticated', 'no access key'));
    if (this.#closing) return refuse(new AppError('unavailable', 'the server is stopping'));
    try {
      await this.#authorize(key, destination);
    } catch (err) {
      return refuse(err);
    }
    const replica = this.#replica();
    const live = { [REPLICA_HEADER]: replica.id, [REPLICAS_HEADER]: replica.replicas.join(',') };
    const held = String(req.headers[HELD_HEADER] ?? '').split(',');
    if (held.includes(replica.id)) {
      // The connector holds a tunnel here already and looks for the other replicas.
      socket.end(rawResponse(409, { ...headers, ...live }));
      return;
    }
    const tunnels = this.#held.get(destination) ?? [];
    if (tunnels.length >= TUNNELS_PER_DESTINATION) {
      return refuse(
        new AppError(
          'conflict',
          `destination ${destination} holds ${TUNNELS_PER_DESTINATION} tunnels to this server already`,
        ),
      );
    }
    const switching = { connection: 'Upgrade', upgrade: TUNNEL_PROTOCOL, ...live };
    const lines = Object.entries(switching).map(([k, v]) => `${k}: ${v}`);
    // HTTP/2 takes the TLS socket itself (no JavaScript stream in between: less memory per idle
    // tunnel), which is safe only once no write of ours is in flight on it: Node 20 aborts the
    // process when a write started before the session completes under it.
    await new Promise<void>((resolve, reject) =>
      socket.write(`HTTP/1.1 101 Switching Protocols\r\n${lines.join('\r\n')}\r\n\r\n`, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    if (socket.destroyed) return;
    if (head.length > 0) socket.unshift(head);
    // Many small frames each way: Nagle's delay would hold each answer for the peer's ACK.
    (socket as Socket).setNoDelay?.(true);
    const session = connect('http://tunnel', {
      createConnection: () => socket,
      settings: { initialWindowSize: TUNNEL_SETTINGS.initialWindowSize, enablePush: false },
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
    });
    const tunnel: HeldTunnel = {
      id: `tunnel-${randomBytes(8).toString('hex')}`,
      destination,
      session,
      socket,
      connectedAt: this.#clock.now(),
      open: 0,
    };
    tunnels.push(tunnel);
    this.#held.set(destination, tunnels);
    this.stats.tunnels++;
    keepAlive(session);
    session.on('error', (err) => this.#log.info({ destination, err: err.message }, 'tunnel error'));
    session.once('close', () => {
      socket.destroy();
      const left = (this.#held.get(destination) ?? []).filter((t) => t !== tunnel);
      if (left.length > 0) this.#held.set(destination, left);
      else this.#held.delete(destination);
      this.stats.tunnels--;
      this.#log.info({ destination, tunnel: tunnel.id }, 'tunnel closed');
      if (!this.#closing) replica.changed();
    });
    this.#log.info(
      { destination, tunnel: tunnel.id, address: req.socket.remoteAddress },
      'tunnel opened',
    );
    replica.changed();
  }

  /** A tunnel of `destination` with room for one more stream, taking turns between them. */
  #pick(destination: string): HeldTunnel | undefined {
    const tunnels = (this.#held.get(destination) ?? []).filter(
      (t) => !t.session.closed && !t.session.destroyed && t.open < STREAMS_PER_TUNNEL,
    );
    if (tunnels.length === 0) return undefined;
    return tunnels[this.#next++ % tunnels.length];
  }

  /** Why kubectl's request cannot go through (status and message), or the tunnel to use. */
  async #route(
    match: RegExpExecArray,
    req: IncomingMessage,
  ): Promise<{ tunnel: HeldTunnel; path: string } | { code: number; message: string }> {
    const destination = destinationOf(match);
    if (destination === undefined)
      return { code: 400, message: 'the destination name is not valid' };
    const token = bearer(req);
    if (!token || !(await this.#tokens.isValidFor(token, destination))) {
      return {
        code: 401,
        message: 'no valid Infra token for this destination; run `infra login`',
      };
    }
    const tunnel = this.#pick(destination);
    if (!tunnel) {
      return {
        code: 503,
        message: this.#held.has(destination)
          ? `the tunnel to ${destination} is busy; try again`
          : `the connector of ${destination} holds no tunnel to this server now; it reconnects by itself, try again shortly`,
      };
    }
    const rest = (req.url ?? '').slice(match[0].length);
    return { tunnel, path: rest.startsWith('/') ? rest : `/${rest}` };
  }

  /** Opens a stream to the connector through `tunnel`, counted while it is open. */
  #stream(tunnel: HeldTunnel, req: IncomingMessage): ClientHttp2Stream {
    const stream = asSocket(
      tunnel.session.request(
        {
          ':method': 'POST',
          ':path': '/',
          [CLIENT_ADDRESS_HEADER]: req.socket.remoteAddress ?? '',
        },
        { endStream: false },
      ),
    );
    tunnel.open++;
    this.stats.streamsOpen++;
    this.stats.streamsTotal++;
    stream.on('data', (chunk: Buffer) => (this.stats.bytesFromClusters += chunk.length));
    stream.once('close', () => {
      tunnel.open--;
      this.stats.streamsOpen--;
    });
    return stream;
  }

  #relay(match: RegExpExecArray, req: IncomingMessage, res: ServerResponse): void {
    const refuse = (code: number, message: string) => {
      const headers: OutgoingHttpHeaders = { 'content-type': 'application/json' };
      if (code === 503) headers['retry-after'] = '1';
      res.writeHead(code, headers).end(kubeStatus(code, message));
      req.resume();
    };
    this.#route(match, req).then(
      (route) => {
        if ('code' in route) return refuse(route.code, route.message);
        const headers: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
        }
        headers.connection = 'close';
        const stream = this.#stream(route.tunnel, req);
        const up = httpRequest({
          method: req.method,
          path: route.path,
          headers,
          createConnection: () => stream,
        });
        up.on('response', (upRes) => {
          const out: OutgoingHttpHeaders = {};
          for (const [name, value] of Object.entries(upRes.headers)) {
            if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
          }
          res.writeHead(upRes.statusCode ?? 502, out);
          if (isStreamingRequest(route.path)) res.flushHeaders();
          upRes.pipe(res);
          // The connector ended the answer early (access revoked, tunnel lost): so does kubectl's.
          upRes.once('close', () => {
            if (!upRes.complete) res.destroy();
          });
        });
        up.on('error', (err) => {
          stream.destroy();
          if (res.headersSent) return void res.destroy();
          this.#log.info({ err: err.message }, 'the connector did not answer through the tunnel');
          refuse(502, 'the Infra connector did not answer through the tunnel');
        });
        req.on('data', (chunk: Buffer) => (this.stats.bytesToClusters += chunk.length));
        res.on('close', () => {
          if (!res.writableFinished) {
            up.destroy();
            stream.destroy();
          }
        });
        req.pipe(up);
      },
      (err: unknown) => {
        this.#log.error({ err }, 'tunnel relay error');
        refuse(503, 'the Infra server cannot relay this request now; try again');
      },
    );
  }

  async #relayUpgrade(
    match: RegExpExecArray,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<void> {
    const route = await this.#route(match, req);
    if ('code' in route) {
      const extra: Record<string, string> = { 'content-type': 'application/json' };
      if (route.code === 503) extra['retry-after'] = '1';
      socket.end(rawResponse(route.code, extra, kubeStatus(route.code, route.message)));
      return;
    }
    const stream = this.#stream(route.tunnel, req);
    const lines = [`${req.method} ${route.path} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    // Header strings hold one byte per character, as Node read them.
    stream.write(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
    if (head.length > 0) stream.write(head);
    socket.on('data', (chunk: Buffer) => (this.stats.bytesToClusters += chunk.length));
    stream.pipe(socket);
    socket.pipe(stream);
    const done = () => {
      stream.destroy();
      socket.destroy();
    };
    stream.once('close', done);
    stream.on('error', done);
    socket.once('close', done);
  }
}
