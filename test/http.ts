import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type DetailedPeerCertificate, type SecureVersion } from 'node:tls';

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
