import type { Http2Stream } from 'node:http2';
import { Duplex } from 'node:stream';

// The tunnel protocol shared by the server and the connector. The connector dials the server
// (HTTPS, through HTTPS_PROXY when set) and asks to upgrade the connection; once upgraded, the
// server speaks HTTP/2 as the client over it and the connector as the server, so the server opens
// one HTTP/2 stream per kubectl request (or upgraded connection), carrying that request's
// HTTP/1.1 bytes. HTTP/2 gives what a tunnel needs without a dependency: many streams on one
// connection, per-stream flow control (bounded bytes in flight), pings and a graceful close.

/** Headers of one connection, not of the request (RFC 9110 §7.6.1): relays never pass them on. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The `Upgrade` token of a tunnel connection. */
export const TUNNEL_PROTOCOL = 'infra-tunnel/1';
/** Response header: the replica that answered. */
export const REPLICA_HEADER = 'infra-replica';
/** Response header: the live replicas, comma-separated, for the connector to hold one tunnel each. */
export const REPLICAS_HEADER = 'infra-replicas';
/** Stream header: the address kubectl's connection to the server came from. */
export const CLIENT_ADDRESS_HEADER = 'infra-client-address';
/** Request header: the replicas the connector already holds a tunnel to. */
export const HELD_HEADER = 'infra-tunnel-held';

/** Where the connector opens the tunnel of `destination`. */
export function tunnelPath(destination: string): string {
  return `/api/destinations/${encodeURIComponent(destination)}/tunnel`;
}

/** The URL prefix under which the server relays kubectl's requests to `destination`. */
export function kubePath(destination: string): string {
  return `/api/destinations/${encodeURIComponent(destination)}/kube`;
}

/** HTTP/2 settings of both ends: streams one tunnel may carry, and bytes in flight per stream. */
export const TUNNEL_SETTINGS = {
  maxConcurrentStreams: 1000,
  initialWindowSize: 1024 * 1024,
} as const;
/** Memory one tunnel's HTTP/2 session may use for buffered frames, in MB. */
export const TUNNEL_SESSION_MEMORY_MB = 64;
/** Pings keep NATs and proxies from dropping an idle tunnel, and find a dead one. */
export const TUNNEL_PING_MS = 15_000;
export const TUNNEL_PING_TIMEOUT_MS = 10_000;

/**
 * Makes an HTTP/2 stream usable as the socket of an HTTP/1.1 client or server. Node 20's
 * Http2Stream corrupts a vectored write whose chunks mix strings and buffers (HTTP/1.1 writes
 * headers as a latin1 string and the body as a buffer in one writev), so writes go one by one.
 */
export function asSocket<T extends Http2Stream>(stream: T): T {
  (stream as unknown as { _writev: unknown })._writev = null;
  return stream;
}

/** Pings a session every TUNNEL_PING_MS; one unanswered for TUNNEL_PING_TIMEOUT_MS closes it. */
export function keepAlive(session: {
  readonly closed: boolean;
  readonly destroyed: boolean;
  ping(cb: (err: Error | null) => void): boolean;
  destroy(err?: Error): void;
  once(event: 'close', cb: () => void): unknown;
}): void {
  const timer = setInterval(() => {
    // A session can end between its last event and this tick: ping() would throw then.
    if (session.closed || session.destroyed) return clearInterval(timer);
    const deadline = setTimeout(
      () => session.destroy(new Error('the tunnel did not answer a ping')),
      TUNNEL_PING_TIMEOUT_MS,
    );
    deadline.unref();
    try {
      if (!session.ping(() => clearTimeout(deadline))) clearTimeout(deadline);
    } catch {
      clearTimeout(deadline);
      clearInterval(timer);
    }
  }, TUNNEL_PING_MS);
  timer.unref();
  session.once('close', () => clearInterval(timer));
}

/** A Kubernetes request whose answer streams (watch, logs -f): its headers go out at once. */
export function isStreamingRequest(url: string): boolean {
  return /[?&](watch|follow)=(true|1)\b/.test(url) || /\/watch\//.test(url);
}

/**
 * The connector's upgraded connection as a plain stream for its HTTP/2 server to run over: given
 * the TLS socket of Node 20's HTTP/1.1 client after an upgrade, the server end sees a protocol
 * error; over a JavaScript stream it reads and writes through the socket's public API.
 */
export function detachedStream(socket: Duplex): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('error', (err) => stream.destroy(err));
  socket.on('close', () => stream.destroy());
  return stream;
}

/** A Kubernetes Status object, so kubectl prints the message as it prints the apiserver's. */
export function kubeStatus(code: number, message: string): string {
  const reason =
    {
      400: 'BadRequest',
      401: 'Unauthorized',
      403: 'Forbidden',
      408: 'Timeout',
      502: 'BadGateway',
      503: 'ServiceUnavailable',
    }[code] ?? 'Unknown';
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}
