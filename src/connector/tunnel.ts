import { isIP } from 'node:net';
import { createServer, type ServerHttp2Session } from 'node:http2';
import { request, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from '../shared/logger.js';
import { tlsThroughProxy } from '../shared/https-proxy.js';
import {
  CLIENT_ADDRESS_HEADER,
  HELD_HEADER,
  REPLICAS_HEADER,
  REPLICA_HEADER,
  TUNNEL_PROTOCOL,
  TUNNEL_SESSION_MEMORY_MB,
  TUNNEL_SETTINGS,
  asSocket,
  detachedStream,
  keepAlive,
  tunnelPath,
} from '../shared/tunnel.js';
import { jitter } from './follow.js';

/** First wait after a failed dial; it grows by half up to MAX_DELAY_MS (with jitter). */
const FIRST_DELAY_MS = 250;
/** Short, unlike the feed's: while no tunnel is held, kubectl cannot reach the cluster. */
const MAX_DELAY_MS = 10_000;
const nextDelay = (delay: number) => Math.min(delay * 1.5, MAX_DELAY_MS);
/** With every replica covered, the connector asks this often whether replicas were added. */
const COVERAGE_CHECK_MS = 30_000;
/** Dials in a row that land on replicas already held before it waits (a load balancer's luck). */
const MISSES_BEFORE_WAIT = 8;

export interface TunnelOptions {
  serverUrl: string;
  destination: string;
  accessKey(): string;
  ca?: string;
  skipTlsVerify?: boolean;
  /** The HTTP proxy to dial through (HTTPS_PROXY). */
  proxy?: URL;
  log: Logger;
  /** Serves a connection that came through the tunnel. */
  serve(stream: Duplex): void;
}

/** What the dial got: a tunnel, a replica already held, or a refusal to wait out. */
type Dialled =
  | { kind: 'open'; replica: string; replicas: string[]; session: ServerHttp2Session }
  | { kind: 'held'; replicas: string[] }
  | { kind: 'refused'; status: number; message: string };

/**
 * The connector's outbound tunnels. It dials the server (through HTTPS_PROXY when set), asks to
 * upgrade with its connector key, and serves HTTP/2 over the connection: the server opens a
 * stream per kubectl request. Behind a load balancer in front of several replicas, it keeps
 * dialing until it holds a tunnel to every live replica the server names, so kubectl may land on
 * any of them. Lost tunnels are dialed again with back-off and jitter.
 */
export class TunnelClient {
  readonly #o: TunnelOptions;
  readonly #sessions = new Map<string, ServerHttp2Session>();
  readonly #h2 = createServer({
    settings: { ...TUNNEL_SETTINGS, enablePush: false },
    maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
  });
  #wanted: string[] = [];
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.#h2.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      // The server says where kubectl's connection came from (it saw it; the tunnel is
      // authenticated), so audit events and logs name kubectl's address, not the tunnel's.
      const address = headers[CLIENT_ADDRESS_HEADER];
      if (typeof address === 'string' && isIP(address)) {
        Object.defineProperty(stream, 'remoteAddress', { value: address });
      }
      this.#o.serve(asSocket(stream));
    });
  }

  /** The replicas a tunnel is held to now. */
  get replicas(): string[] {
    return [...this.#sessions.keys()];
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    for (const s of this.#sessions.values()) s.destroy();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let delay = FIRST_DELAY_MS;
    let misses = 0;
    while (!this.#stopped) {
      const missing = this.#wanted.filter((r) => !this.#sessions.has(r));
      const covered = this.#sessions.size > 0 && missing.length === 0;
      if (covered || misses >= MISSES_BEFORE_WAIT) {
        misses = 0;
        await this.#sleep(covered ? COVERAGE_CHECK_MS : jitter(delay));
        delay = nextDelay(delay);
        if (this.#stopped) break;
      }
      let result: Dialled;
      try {
        result = await this.#dial();
      } catch (err) {
        result = { kind: 'refused', status: 0, message: (err as Error).message };
      }
      if (this.#stopped) {
        if (result.kind === 'open') result.session.destroy();
        break;
      }
      if (result.kind === 'refused') {
        this.#o.log.warn(
          { status: result.status || undefined, err: result.message, retryInMs: delay },
          'cannot open the tunnel to the Infra server; retrying',
        );
        await this.#sleep(jitter(delay));
        delay = nextDelay(delay);
        continue;
      }
      this.#wanted = result.replicas;
      if (result.kind === 'held') {
        misses++;
        continue;
      }
      misses = 0;
      delay = FIRST_DELAY_MS;
      this.#hold(result.replica, result.session);
    }
  }

  #hold(replica: string, session: ServerHttp2Session): void {
    this.#sessions.set(replica, session);
    this.#o.log.info({ replica, held: this.replicas }, 'tunnel to the Infra server open');
    keepAlive(session);
    session.on('error', (err) => this.#o.log.info({ replica, err: err.message }, 'tunnel error'));
    session.once('close', () => {
      if (this.#sessions.get(replica) === session) this.#sessions.delete(replica);
      if (this.#stopped) return;
      this.#o.log.warn({ replica, held: this.replicas }, 'tunnel to the Infra server closed');
      this.#wanted = this.#wanted.filter((r) => r !== replica);
      this.#wake?.();
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        clearTimeout(this.#timer);
        this.#wake = undefined;
        resolve();
      };
      this.#timer = setTimeout(() => this.#wake?.(), ms);
    });
  }

  async #dial(): Promise<Dialled> {
    const url = new URL(this.#o.serverUrl);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const tls = { ca: this.#o.ca, rejectUnauthorized: !this.#o.skipTlsVerify };
    const proxy = this.#o.proxy;
    const options: RequestOptions = {
      host,
      port,
      method: 'GET',
      path: tunnelPath(this.#o.destination),
      headers: {
        authorization: `Bearer ${this.#o.accessKey()}`,
        connection: 'Upgrade',
        upgrade: TUNNEL_PROTOCOL,
        [HELD_HEADER]: this.replicas.join(','),
      },
      timeout: 10_000,
      agent: false,
      ...tls,
    };
    if (proxy) {
      const socket = await tlsThroughProxy(proxy, { host, port, ...tls });
      options.createConnection = () => socket;
    }
    return new Promise<Dialled>((resolve, reject) => {
      const req = request(options);
      req.once('upgrade', (res, socket, head) => {
        const replica = String(res.headers[REPLICA_HEADER] ?? '');
        if (head.length > 0) socket.unshift(head);
        socket.setTimeout(0);
        // Many small frames each way: Nagle's delay would hold each request for the peer's ACK.
        socket.setNoDelay(true);
        this.#h2.once('session', (session: ServerHttp2Session) => {
          // HTTP/2 runs over a stream wrapping the socket: ending the session leaves it open.
          session.once('close', () => socket.destroy());
          resolve({ kind: 'open', replica, replicas: replicasOf(res.headers), session });
        });
        this.#h2.emit('connection', detachedStream(socket));
      });
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4096)));
        res.on('end', () => {
          if (res.statusCode === 409 && res.headers[REPLICA_HEADER]) {
            resolve({ kind: 'held', replicas: replicasOf(res.headers) });
            return;
          }
          let message = `HTTP ${res.statusCode}`;
          try {
            message = (JSON.parse(body) as { message?: string }).message ?? message;
          } catch {
            // Not our JSON: a proxy or load balancer answered.
          }
          resolve({ kind: 'refused', status: res.statusCode ?? 0, message });
        });
      });
      req.once('timeout', () => req.destroy(new Error('the Infra server did not answer')));
      req.once('error', reject);
      req.end();
    });
  }
}

function replicasOf(headers: Record<string, string | string[] | undefined>): string[] {
  return String(headers[REPLICAS_HEADER] ?? '')
    .split(',')
    .filter(Boolean);
}
