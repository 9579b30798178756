import { request as httpRequest } from 'node:http';
import { Agent, type AgentOptions, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

/**
 * The proxy outbound HTTPS to `target` goes through, from HTTPS_PROXY (or https_proxy), unless
 * NO_PROXY names the host: `*`, an exact name, or a suffix (`.example.com` or `example.com`
 * both match `a.example.com`). Only http:// proxies (the CONNECT method) are supported.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const raw = env.HTTPS_PROXY || env.https_proxy;
  if (!raw) return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const noProxy = (env.NO_PROXY || env.no_proxy || '')
    .split(',')
    .map((s) => s.trim().toLowerCase().replace(/:\d+$/, ''))
    .filter(Boolean);
  for (const entry of noProxy) {
    if (entry === '*') return undefined;
    const suffix = entry.replace(/^\*?\.?/, '');
    if (host === suffix || host.endsWith(`.${suffix}`)) return undefined;
  }
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new Error(`HTTPS_PROXY is not a URL: ${raw}`);
  }
  if (proxy.protocol !== 'http:') {
    throw new Error(`HTTPS_PROXY must be an http:// proxy (CONNECT), not ${proxy.protocol}`);
  }
  return proxy;
}

/** Opens a TCP tunnel to host:port through an HTTP proxy (CONNECT). */
export function connectThroughProxy(
  proxy: URL,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<Duplex> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username) {
    const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(user).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: authority,
      headers,
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(
          new Error(`the proxy ${proxy.host} refused CONNECT to ${authority}: ${res.statusCode}`),
        );
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('timeout', () => req.destroy(new Error(`the proxy ${proxy.host} did not answer`)));
    req.once('error', (err) =>
      reject(new Error(`cannot reach the proxy ${proxy.host}: ${err.message}`, { cause: err })),
    );
    req.end();
  });
}

/** TLS to host:port over a CONNECT tunnel through `proxy`. */
export async function tlsThroughProxy(
  proxy: URL,
  options: ConnectionOptions & { host: string; port: number },
): Promise<TLSSocket> {
  const socket = await connectThroughProxy(proxy, options.host, options.port);
  return new Promise((resolve, reject) => {
    // SNI carries names only (RFC 6066), never an address.
    const servername = options.servername ?? (isIP(options.host) ? undefined : options.host);
    const tls = connect({ ...options, socket, servername });
    tls.once('secureConnect', () => resolve(tls));
    tls.once('error', reject);
  });
}

/** An HTTPS agent whose connections go through an HTTP proxy (CONNECT). */
export class ProxyAgent extends Agent {
  readonly #proxy: URL;
  constructor(proxy: URL, options: AgentOptions) {
    super(options);
    this.#proxy = proxy;
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    const host = options.hostname ?? options.host ?? 'localhost';
    tlsThroughProxy(this.#proxy, {
      ...(options as ConnectionOptions),
      host,
      port: Number(options.port ?? 443),
    }).then(
      (socket) => callback?.(null, socket),
      // The agent fails the request with the error; the stream argument is not read then.
      (err: Error) => callback?.(err, undefined as never),
    );
    return undefined;
  }
}
