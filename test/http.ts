import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import {
  connect,
  type DetailedPeerCertificate,
  type SecureVersion,
  type TLSSocket,
} from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = unknown>(): T;
}

/** A plain HTTP(S) request, for asserting exactly what goes over the wire. */
export function rawRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    ca?: string;
    /** The name the certificate is checked for; by default the Host header's, or the URL's. */
    servername?: string;
  } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        method: options.method ?? 'GET',
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: options.headers,
        ca: options.ca,
        servername: options.servername,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens a TLS connection and reports what was negotiated, or the handshake error. */
export function tlsHandshake(
  port: number,
  options: {
    ca?: string;
    minVersion?: SecureVersion;
    maxVersion?: SecureVersion;
    servername?: string;
  },
): Promise<{ protocol: string | null; certificate: DetailedPeerCertificate; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: options.ca,
      servername: options.servername ?? 'localhost',
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => {
      const result = {
        protocol: socket.getProtocol(),
        certificate: socket.getPeerCertificate(true),
        authorized: socket.authorized,
      };
      socket.end();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

/** A TLS connection to a test server, for bytes under the test's control. */
export interface RawConnection {
  socket: TLSSocket;
  /** Resolves once the TLS handshake is done; rejects if the connection ends first. */
  secure: Promise<void>;
  /** Resolves with everything the server sent, once the connection is closed. */
  closed: Promise<string>;
}

/** Opens a TLS connection to `127.0.0.1:port` (or only TCP, with `tls: false`). */
export function rawConnection(
  port: number,
  options: { ca?: string; servername?: string; tls?: boolean } = {},
): RawConnection {
  const socket: TLSSocket | Socket =
    options.tls === false
      ? netConnect({ host: '127.0.0.1', port })
      : connect({
          host: '127.0.0.1',
          port,
          ca: options.ca,
          servername: options.servername ?? 'localhost',
          rejectUnauthorized: options.ca !== undefined,
        });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8'))),
  );
  const secure = new Promise<void>((resolve, reject) => {
    socket.once(options.tls === false ? 'connect' : 'secureConnect', () => resolve());
    socket.once('close', () => reject(new Error('the connection closed before it was set up')));
  });
  secure.catch(() => {});
  return { socket: socket as TLSSocket, secure, closed };
}

/** One HTTP response read off the wire. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP/1.1 response in `text` (a body by Content-Length, chunked, or to the end). */
export function parseResponse(text: string): WireResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no HTTP response in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = Buffer.from(text.slice(end + 4));
  let body: string;
  if (headers['transfer-encoding'] === 'chunked') {
    const chunks: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, eol).toString(), 16);
      if (!(size > 0)) break;
      chunks.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 4 + size);
    }
    body = Buffer.concat(chunks).toString();
  } else {
    const length = headers['content-length'];
    body = (length === undefined ? rest : rest.subarray(0, Number(length))).toString();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body };
}

/**
 * Sends `request` as it is over a new TLS connection and returns the first response. The
 * request should ask for `Connection: close` (or be one the server refuses, which closes).
 */
export async function rawExchange(
  port: number,
  request: string | Buffer,
  options: { ca?: string; servername?: string } = {},
): Promise<WireResponse> {
  const conn = rawConnection(port, options);
  await conn.secure;
  conn.socket.write(request);
  return parseResponse(await conn.closed);
}

/** Resolves with everything read so far once it matches `pattern`. */
export function readUntil(stream: Readable, pattern: RegExp): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) resolve(text);
    });
    stream.on('end', () => reject(new Error(`stream ended before ${pattern}: ${text}`)));
  });
}

/** Connects to a local port, sends `text`, and resolves with what came back once it matches. */
export function talk(port: number, text: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', reject);
    socket.once('connect', () => socket.write(text));
    readUntil(socket, until).then((got) => {
      socket.destroy();
      resolve(got);
    }, reject);
  });
}
