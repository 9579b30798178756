import { Agent, request, type RequestOptions } from 'node:https';
import type { z } from 'zod';
import { ProxyAgent } from '../shared/https-proxy.js';
import { apiVersion, productVersion } from '../shared/version.js';
import type { Endpoint, EndpointInput } from './endpoint.js';
import { endpoints, type Endpoints, type OperationName } from './endpoints.js';
import { ApiError, ApiErrorBody } from './errors.js';
import { apiRequest } from './request.js';

export interface ClientOptions {
  /** `https://host:port` of the server. */
  baseUrl: string;
  /**
   * An access key (`<id>.<secret>`), sent as a bearer token; a function is asked at every request
   * (a key re-read from its storage after a rotation).
   */
  accessKey?: string | (() => string);
  /** PEM certificates to trust besides the system's (the server's own CA). */
  ca?: string;
  /** Turn off certificate checks. Only for tests and emergencies. */
  skipTlsVerify?: boolean;
  /** Who is calling, for the User-Agent header: `cli`, `connector`... */
  component?: string;
  timeoutMs?: number;
  /** Aborts every request of this client (to stop a long poll on shutdown) and closes its connections. */
  signal?: AbortSignal;
  /** An HTTP proxy to reach the server through (CONNECT), from HTTPS_PROXY. */
  proxy?: URL;
}

/** A 304 answer: the server's state has not changed since the index the client gave. */
export class NotModified extends Error {
  constructor() {
    super('not modified');
    this.name = 'NotModified';
  }
}

type Output<N extends OperationName> =
  Endpoints[N] extends Endpoint<z.ZodObject, infer O> ? z.output<O> : never;

/** One method per API operation, named as in `endpoints`. */
export type ApiClient = {
  [N in OperationName]: Record<never, never> extends EndpointInput<Endpoints[N]>
    ? (input?: EndpointInput<Endpoints[N]>) => Promise<Output<N>>
    : (input: EndpointInput<Endpoints[N]>) => Promise<Output<N>>;
};

/**
 * The typed API client used by the CLI, the connector and the tests. It speaks HTTPS only,
 * sends the API version it was built for, and turns error responses into `ApiError`s.
 */
export function createApiClient(options: ClientOptions): ApiClient {
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'https:') throw new TypeError('the server URL must start with https://');
  const agentOptions = {
    keepAlive: true,
    ca: options.ca,
    rejectUnauthorized: !options.skipTlsVerify,
  };
  const agent = options.proxy
    ? new ProxyAgent(options.proxy, agentOptions)
    : new Agent(agentOptions);
  // Connections kept alive for later requests would hold the server (or the proxy) open.
  options.signal?.addEventListener('abort', () => agent.destroy(), { once: true });
  const userAgent = `Infra/${productVersion} (${options.component ?? 'client'}; ${process.platform}/${process.arch})`;

  async function call(name: OperationName, input: Record<string, unknown> = {}): Promise<unknown> {
    const e = endpoints[name] as Endpoint;
    const { path, body } = apiRequest(e, input);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'infra-version': apiVersion,
      'user-agent': userAgent,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const key = typeof options.accessKey === 'function' ? options.accessKey() : options.accessKey;
    if (key) headers.authorization = `Bearer ${key}`;
    const { status, text, retryAfter } = await send(
      {
        agent,
        method: e.method,
        hostname: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port || 443,
        path,
        headers,
        timeout: options.timeoutMs ?? 60_000,
        signal: options.signal,
      },
      body,
    );
    if (status === 304) throw new NotModified();
    // A download (the audit export) is text, not JSON.
    if (e.produces && status < 400) return text;
    // Only the delay-seconds form: the server sends no dates.
    const retryAfterSeconds = /^\d+$/.test(retryAfter ?? '') ? Number(retryAfter) : undefined;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ApiError(
        status,
        {
          code: 'bad_response',
          message: `the server answered ${status} with a body that is not JSON`,
        },
        retryAfterSeconds,
      );
    }
    if (status >= 400) {
      const parsed = ApiErrorBody.safeParse(json);
      throw new ApiError(
        status,
        parsed.success
          ? parsed.data
          : { code: 'unknown', message: `the server answered ${status}` },
        retryAfterSeconds,
      );
    }
    return e.output ? e.output.parse(json) : undefined;
  }

  return Object.fromEntries(
    Object.keys(endpoints).map((name) => [
      name,
      (input?: Record<string, unknown>) => call(name as OperationName, input),
    ]),
  ) as unknown as ApiClient;
}

/** The largest page the API serves. */
export const MAX_PAGE = 1000;

/**
 * Every item of a list, following `next` page after page (lists are cursor-paged; one call
 * returns at most `MAX_PAGE` items).
 */
export async function listAll<I extends { after?: string; limit?: unknown }, T>(
  list: (input?: I) => Promise<{ items: T[]; next?: string }>,
  input: NoInfer<I>,
): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  do {
    const page = await list({ ...input, limit: MAX_PAGE, ...(after && { after }) });
    items.push(...page.items);
    after = page.next;
  } while (after);
  return items;
}

function send(
  options: RequestOptions,
  body: string | undefined,
): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          retryAfter: res.headers['retry-after'],
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(new Error(`no answer from the server within ${options.timeout} ms`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}
