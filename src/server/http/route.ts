import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import {
  pathParams,
  successStatus,
  type Endpoint,
  type EndpointOutput,
  type EndpointParsedInput,
} from '../../api/endpoint.js';
import type { Endpoints, OperationName } from '../../api/endpoints.js';
import { AppError, ValidationError } from '../../shared/errors.js';
import { apiVersion } from '../../shared/version.js';
import type { RequestContext } from '../access/context.js';
import { authenticateFor, runOperation, type OperationDeps } from '../access/operation.js';
import type { Session } from '../access/sessions.js';
import { Pacer } from './pacer.js';
import { compileSerializer } from './serialize.js';

/** What a handler gets: the operation context plus the few things only HTTP can do. */
interface HttpContext extends RequestContext {
  /** Sets the session cookie for the dashboard. */
  startSession(session: Session): void;
  /** Clears the session cookie. */
  endSession(): void;
  /** Sets (or, with undefined, clears) the cookie that ties a provider login to this browser. */
  setLoginBinding(value: string | undefined, maxAgeSeconds: number): void;
  /** Overrides the endpoint's success status (createGrant answers 200 for an existing grant). */
  setStatus(status: number): void;
  /** The TLS certificate this server serves now (connectors pin its fingerprint). */
  serverCertificate(): ServerCertificate;
}

/** What clients may know of the serving certificate (never its key). */
export interface ServerCertificate {
  /** SHA-256 of the leaf, `AB:CD:…`. */
  fingerprint: string;
  source: 'generated' | 'configured' | 'acme';
}

/**
 * A framework-free handler: gets the context and the validated input, returns the output. A
 * handler with `prepare` has it run first, outside the transaction (calls to an identity
 * provider), and gets its result as `prepared`.
 */
export type Handler<E> = ((
  ctx: HttpContext,
  input: EndpointParsedInput<E>,
  prepared?: unknown,
) => Promise<EndpointOutput<E>>) & {
  prepare?: (ctx: RequestContext, input: EndpointParsedInput<E>) => Promise<unknown>;
};

/** Attaches the network half of an operation to its handler (`endpoint` fixes the types). */
export function withPrepare<E, P>(
  _endpoint: E,
  prepare: (ctx: RequestContext, input: EndpointParsedInput<E>) => Promise<P>,
  handle: (
    ctx: HttpContext,
    input: EndpointParsedInput<E>,
    prepared: P,
  ) => Promise<EndpointOutput<E>>,
): Handler<E> {
  const handler = ((ctx: HttpContext, input: EndpointParsedInput<E>, prepared?: unknown) =>
    handle(ctx, input, prepared as P)) as Handler<E>;
  handler.prepare = prepare;
  return handler;
}

/** One handler per endpoint, under the endpoint's name. */
export type Handlers = { [K in OperationName]: Handler<Endpoints[K]> };

/** Endpoints every connector calls at the same moment (after a change): started a few at a time. */
const PACED: ReadonlySet<OperationName> = new Set(['getAccessFeed']);
/** About 20 ms of work per turn of the event loop on SQLite, where queries are synchronous. */
const FEEDS_PER_TURN = 32;

/** What Fastify sends objects as; the answers here are already JSON text. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** Thrown by a handler whose answer is "nothing changed" (304, no body). */
export class NotModified extends Error {}

/** A handler's answer that is a file to save, sent as it is produced rather than held whole. */
export class Download {
  readonly type: string;
  readonly filename: string;
  readonly body: AsyncIterable<string>;
  constructor(type: string, filename: string, body: AsyncIterable<string>) {
    this.type = type;
    this.filename = filename;
    this.body = body;
  }
}

/** The session cookie: `__Host-` makes browsers insist on Secure, Path=/ and no Domain. */
const SESSION_COOKIE = '__Host-infra-session';
/** Ties a provider login started in a browser to that browser (login CSRF). */
const LOGIN_BINDING_COOKIE = '__Host-infra-login';

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

function versionTuple(text: string): [number, number, number] | undefined {
  const m = VERSION.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

const serverApiVersion = versionTuple(apiVersion)!;

/**
 * Checks the `Infra-Version` request header. Absent means "the newest version"; a client
 * written for a newer API than this server speaks is refused rather than half-served.
 */
function checkApiVersion(header: string | string[] | undefined): void {
  if (header === undefined) return;
  const text = Array.isArray(header) ? (header[0] ?? '') : header;
  const v = versionTuple(text);
  if (!v) {
    throw new AppError(
      'bad_request',
      `Infra-Version header must be a version such as ${apiVersion}`,
    );
  }
  for (let i = 0; i < 3; i++) {
    if (v[i]! < serverApiVersion[i]!) return;
    if (v[i]! > serverApiVersion[i]!) {
      throw new AppError(
        'bad_request',
        `this server speaks API version ${apiVersion} but the client asked for ${text}; upgrade the server or use an older client`,
      );
    }
  }
}

/** Converts zod issues into field errors keyed by the dotted input path. */
function validationError(error: z.ZodError): ValidationError {
  const byField = new Map<string, string[]>();
  for (const issue of error.issues) {
    const extra = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    for (const key of extra) {
      const field = [...issue.path, ...(key ? [key] : [])].map(String).join('.');
      const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
      byField.set(field, [...(byField.get(field) ?? []), message]);
    }
  }
  return new ValidationError([...byField].map(([field, errors]) => ({ field, errors })));
}

function requestInput(e: Endpoint, req: FastifyRequest): Record<string, unknown> {
  const params = req.params as Record<string, string>;
  const source = e.method === 'GET' || e.method === 'DELETE' ? req.query : req.body;
  if (
    source !== undefined &&
    source !== null &&
    (typeof source !== 'object' || Array.isArray(source))
  ) {
    throw new AppError('bad_request', 'the request body must be a JSON object');
  }
  const input: Record<string, unknown> = { ...(source as Record<string, unknown> | undefined) };
  for (const name of pathParams(e.path)) input[name] = params[name];
  return input;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        // Not ours (we encode what we set): as it is, it matches no key or login.
        return value;
      }
    }
  }
  return undefined;
}

/** The caller's access key: the bearer token, or else the dashboard's session cookie. */
function presentedKey(req: FastifyRequest): { key: string; via: 'bearer' | 'cookie' } | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer +(\S+)$/i.exec(auth);
    // A malformed Authorization header is a failed credential, not an absent one.
    return { key: m?.[1] ?? '', via: 'bearer' };
  }
  const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
  return cookie === undefined ? undefined : { key: cookie, via: 'cookie' };
}

/**
 * Cookie-authenticated requests that change something must come from our own pages. SameSite
 * already keeps the cookie off cross-site requests and the API takes only JSON; this also
 * refuses a request a browser marks as cross-site or from another origin.
 */
function checkSameOrigin(req: FastifyRequest, publicOrigin: string): void {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  // The request's own host was checked to be one of ours (checkHost).
  const sameOrigin =
    origin === undefined || origin === publicOrigin || origin === `https://${req.host}`;
  if ((site !== undefined && site !== 'same-origin' && site !== 'none') || !sameOrigin) {
    throw new AppError('forbidden', 'cross-site requests cannot use the session cookie');
  }
}

function sessionCookie(value: string, maxAgeSeconds: number, name = SESSION_COOKIE): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

/**
 * Registers every endpoint with its handler. This is the only code that knows the framework:
 * it checks the API version, authenticates the caller, merges path parameters with the query
 * (GET, DELETE) or JSON body and validates them with the endpoint's schema, runs the handler
 * as an operation (roles, transaction, audit), writes the response with the serializer built
 * from the endpoint's output schema (declared fields only) and picks the status.
 */
export function registerRoutes(
  app: FastifyInstance,
  endpoints: Endpoints,
  handlers: Handlers,
  deps: OperationDeps & { publicOrigin(): string; tls: { current: ServerCertificate } },
): void {
  const pacer = new Pacer(FEEDS_PER_TURN);
  for (const name of Object.keys(endpoints) as OperationName[]) {
    const e = endpoints[name] as Endpoint;
    const handler = handlers[name] as unknown as ((
      ctx: HttpContext,
      input: unknown,
      prepared: unknown,
    ) => Promise<unknown>) & {
      prepare?: (ctx: RequestContext, input: unknown) => Promise<unknown>;
    };
    const serialize = e.output && compileSerializer(e.output);
    const writes = e.method !== 'GET' && e.readOnly !== true;
    const paced = PACED.has(name);
    const spec = { name, auth: e.auth, writes, duringPasswordChange: e.duringPasswordChange };
    app.route({
      method: e.method,
      url: e.path,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        if (paced) await pacer.turn();
        checkApiVersion(req.headers['infra-version']);
        const presented = presentedKey(req);
        const actor = await authenticateFor(deps, spec, presented?.key);
        const origin = deps.publicOrigin();
        if (actor && presented?.via === 'cookie' && e.method !== 'GET')
          checkSameOrigin(req, origin);
        const parsed = e.input.safeParse(requestInput(e, req));
        if (!parsed.success) throw validationError(parsed.error);

        let status = successStatus(e);
        const log = req.log as unknown as OperationDeps['log'];
        const prepare = handler.prepare;
        const run = runOperation(
          deps,
          spec,
          {
            actor,
            sourceIp: req.ip,
            origin,
            loginBinding: readCookie(req.headers.cookie, LOGIN_BINDING_COOKIE),
            log,
          },
          (ctx, prepared) =>
            handler(
              // Not `{ ...ctx, startSession() {...} }`: V8 gives every object made that way a
              // hidden class of its own, which a waiting feed request keeps (about 0.7 KB).
              Object.assign({}, ctx, {
                startSession(session) {
                  const maxAge = Math.max(
                    0,
                    Math.floor((session.expiresAt - deps.clock.now()) / 1000),
                  );
                  reply.header('set-cookie', sessionCookie(session.accessKey, maxAge));
                },
                endSession() {
                  reply.header('set-cookie', sessionCookie('', 0));
                },
                setLoginBinding(value, maxAgeSeconds) {
                  reply.header(
                    'set-cookie',
                    sessionCookie(value ?? '', value ? maxAgeSeconds : 0, LOGIN_BINDING_COOKIE),
                  );
                },
                setStatus(s) {
                  status = s;
                },
                serverCertificate() {
                  const { fingerprint, source } = deps.tls.current;
                  return { fingerprint, source };
                },
              } satisfies Omit<HttpContext, keyof RequestContext>),
              parsed.data,
              prepared,
            ),
          prepare && ((ctx) => prepare(ctx, parsed.data)),
        );
        let result: unknown;
        try {
          result = await run;
        } catch (err) {
          if (err instanceof NotModified) return reply.code(304).send();
          throw err;
        }
        reply.code(status);
        if (result instanceof Download) {
          return reply
            .type(result.type)
            .header('content-disposition', `attachment; filename="${result.filename}"`)
            .send(Readable.from(result.body));
        }
        if (serialize === undefined) return reply.send();
        // Only declared fields leave the server, whatever the handler returned.
        return reply.type(JSON_TYPE).send(serialize(result));
      },
    });
  }
}
