import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, NotFoundError, UnauthenticatedError } from '../../shared/errors.js';
import type { RequestContext } from '../access/context.js';
import { authenticateFor, runOperation, type OperationDeps } from '../access/operation.js';
import * as scim from '../access/scim.js';
import { SCIM_SCHEMAS, ScimError, type ScimProvider, type ScimResource } from '../access/scim.js';
import { scimProvider } from '../models.js';
import { errorResponse } from './errors.js';
import { scimResourceTypes, scimSchemas, scimServiceProviderConfig } from './scim-schemas.js';

/** Where SCIM lives; identity providers are given `<origin>/api/scim/v2`. */
export const SCIM_PREFIX = '/api/scim/v2';
const SCIM_TYPE = 'application/scim+json; charset=utf-8';

/** What a SCIM operation answers: a status, a resource (or none), and its version. */
interface ScimAnswer {
  status: number;
  body?: ScimResource;
}

type ScimHandler = (
  ctx: RequestContext,
  p: ScimProvider,
  req: { id?: string; query: Record<string, string | undefined>; body: unknown; ifMatch?: string },
) => Promise<ScimAnswer>;

interface ScimRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** The operation's name in errors and the audit log. */
  name: string;
  handler: ScimHandler;
}

const ok = async (body: Promise<ScimResource> | ScimResource): Promise<ScimAnswer> => ({
  status: 200,
  body: await body,
});
const created = async (body: Promise<ScimResource>): Promise<ScimAnswer> => ({
  status: 201,
  body: await body,
});
const deleted = async (done: Promise<void>): Promise<ScimAnswer> => {
  await done;
  return { status: 204 };
};

function listOf(resources: Record<string, unknown>[]): ScimResource {
  return {
    schemas: [SCIM_SCHEMAS.listResponse],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

function one(resources: Record<string, unknown>[], id: string, what: string): ScimResource {
  const found = resources.find((r) => r.id === id);
  if (!found) throw new NotFoundError(what, `no ${what} ${id.slice(0, 200)}`);
  return found;
}

const base = (ctx: RequestContext) => `${ctx.origin}${SCIM_PREFIX}`;

/** Every SCIM endpoint: the one table of what a SCIM token can do. */
const routes: ScimRoute[] = [
  {
    method: 'GET',
    url: '/ServiceProviderConfig',
    name: 'getScimServiceProviderConfig',
    handler: async (ctx) => ok(scimServiceProviderConfig(base(ctx), scim.MAX_COUNT)),
  },
  {
    method: 'GET',
    url: '/Schemas',
    name: 'listScimSchemas',
    handler: async (ctx) => ok(listOf(scimSchemas(base(ctx)))),
  },
  {
    method: 'GET',
    url: '/Schemas/:id',
    name: 'getScimSchema',
    handler: async (ctx, _p, r) => ok(one(scimSchemas(base(ctx)), r.id!, 'schema')),
  },
  {
    method: 'GET',
    url: '/ResourceTypes',
    name: 'listScimResourceTypes',
    handler: async (ctx) => ok(listOf(scimResourceTypes(base(ctx)))),
  },
  {
    method: 'GET',
    url: '/ResourceTypes/:id',
    name: 'getScimResourceType',
    handler: async (ctx, _p, r) => ok(one(scimResourceTypes(base(ctx)), r.id!, 'resource type')),
  },
  {
    method: 'GET',
    url: '/Users',
    name: 'listScimUsers',
    handler: async (ctx, p, r) => ok(scim.listScimUsers(ctx, p, r.query)),
  },
  {
    method: 'POST',
    url: '/Users',
    name: 'createScimUser',
    handler: async (ctx, p, r) => created(scim.createScimUser(ctx, p, r.body)),
  },
  {
    method: 'GET',
    url: '/Users/:id',
    name: 'getScimUser',
    handler: async (ctx, p, r) => ok(scim.getScimUser(ctx, p, r.id!)),
  },
  {
    method: 'PUT',
    url: '/Users/:id',
    name: 'replaceScimUser',
    handler: async (ctx, p, r) => ok(scim.replaceScimUser(ctx, p, r.id!, r.body, r.ifMatch)),
  },
  {
    method: 'PATCH',
    url: '/Users/:id',
    name: 'patchScimUser',
    handler: async (ctx, p, r) => ok(scim.patchScimUser(ctx, p, r.id!, r.body, r.ifMatch)),
  },
  {
    method: 'DELETE',
    url: '/Users/:id',
    name: 'deleteScimUser',
    handler: async (ctx, p, r) => deleted(scim.deleteScimUser(ctx, p, r.id!, r.ifMatch)),
  },
  {
    method: 'GET',
    url: '/Groups',
    name: 'listScimGroups',
    handler: async (ctx, p, r) => ok(scim.listScimGroups(ctx, p, r.query)),
  },
  {
    method: 'POST',
    url: '/Groups',
    name: 'createScimGroup',
    handler: async (ctx, p, r) => created(scim.createScimGroup(ctx, p, r.body)),
  },
  {
    method: 'GET',
    url: '/Groups/:id',
    name: 'getScimGroup',
    handler: async (ctx, p, r) => ok(scim.getScimGroup(ctx, p, r.id!, r.query)),
  },
  {
    method: 'PUT',
    url: '/Groups/:id',
    name: 'replaceScimGroup',
    handler: async (ctx, p, r) => ok(scim.replaceScimGroup(ctx, p, r.id!, r.body, r.ifMatch)),
  },
  {
    method: 'PATCH',
    url: '/Groups/:id',
    name: 'patchScimGroup',
    handler: async (ctx, p, r) => ok(scim.patchScimGroup(ctx, p, r.id!, r.body, r.ifMatch)),
  },
  {
    method: 'DELETE',
    url: '/Groups/:id',
    name: 'deleteScimGroup',
    handler: async (ctx, p, r) => deleted(scim.deleteScimGroup(ctx, p, r.id!, r.ifMatch)),
  },
];

/** The operation names of the SCIM endpoints (for tests and docs). */
export const scimRoutes: ReadonlyArray<Pick<ScimRoute, 'method' | 'url' | 'name'>> = routes;

/** Query parameters as single strings; a repeated one is refused. */
function queryOf(req: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    if (typeof v !== 'string')
      throw new ScimError(
        'bad_request',
        `query parameter ${k} is given more than once`,
        'invalidValue',
      );
    out[k] = v;
  }
  return out;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Turns any failure into SCIM's error shape (RFC 7644 §3.12): nothing internal leaks. */
function scimErrorResponse(
  err: unknown,
  requestId: string,
  log: OperationDeps['log'],
): { status: number; body: Record<string, unknown>; headers: Record<string, string> } {
  const { status, body, headers } = errorResponse(err, requestId, log);
  const scimType =
    err instanceof ScimError
      ? err.scimType
      : status === 409
        ? 'uniqueness'
        : err instanceof AppError && err.code === 'bad_request'
          ? 'invalidValue'
          : undefined;
  return {
    status,
    headers,
    body: {
      schemas: [SCIM_SCHEMAS.error],
      status: String(status),
      ...(scimType && { scimType }),
      detail: body.message,
    },
  };
}

/**
 * Registers the SCIM 2.0 service under `/api/scim/v2`: its own media type
 * (`application/scim+json`, plain JSON too), its own error shape, and one credential: a
 * provider's SCIM token, which scopes every read and write to what that provider provisioned.
 * Each request runs as an operation (transaction, audit) like the rest of the API.
 */
export async function registerScim(
  app: FastifyInstance,
  deps: OperationDeps & { publicOrigin(): string },
): Promise<void> {
  await app.register(
    async (scope) => {
      scope.addContentTypeParser(
        'application/scim+json',
        { parseAs: 'string' },
        scope.getDefaultJsonParser('error', 'error'),
      );
      scope.setErrorHandler(async (err, req, reply) => {
        const { status, body, headers } = scimErrorResponse(err, req.id, deps.log);
        return reply.code(status).headers(headers).type(SCIM_TYPE).send(JSON.stringify(body));
      });
      scope.setNotFoundHandler(async (req) => {
        const path = req.url.split('?')[0]!.slice(0, 200);
        throw new ScimError('not_found', `no SCIM endpoint ${req.method} ${path}`);
      });
      for (const route of routes) {
        const writes = route.method !== 'GET';
        const spec = { name: route.name, auth: 'session' as const, writes, scim: true };
        scope.route({
          method: route.method,
          url: route.url,
          handler: async (req: FastifyRequest, reply: FastifyReply) => {
            // Bearer only: a browser's session cookie is never a provisioning credential.
            const m = /^Bearer +(\S+)$/i.exec(header(req, 'authorization') ?? '');
            if (!m) throw new UnauthenticatedError('no bearer token');
            const actor = (await authenticateFor(deps, spec, m[1]))!;
            const providerId = scimProvider(actor.scopes);
            if (providerId === undefined)
              throw new ScimError(
                'forbidden',
                'the SCIM endpoints take a provider’s SCIM token (`infra providers scim-key`); other credentials cannot use them',
              );
            const input = {
              id: (req.params as { id?: string }).id,
              query: queryOf(req),
              body: req.body,
              ifMatch: header(req, 'if-match'),
            };
            const answer = await runOperation(
              deps,
              spec,
              {
                actor,
                sourceIp: req.ip,
                origin: deps.publicOrigin(),
                log: req.log as unknown as OperationDeps['log'],
              },
              async (ctx) => route.handler(ctx, await scim.providerOf(ctx, providerId), input),
            );
            reply.code(answer.status);
            if (answer.body === undefined) return reply.send();
            const meta = answer.body.meta as { version?: string; location?: string } | undefined;
            if (meta?.version) {
              reply.header('etag', meta.version);
              const none = header(req, 'if-none-match');
              if (route.method === 'GET' && none !== undefined && etagMatches(none, meta.version))
                return reply.code(304).send();
            }
            if (answer.status === 201 && meta?.location) reply.header('location', meta.location);
            return reply.type(SCIM_TYPE).send(JSON.stringify(answer.body));
          },
        });
      }
    },
    { prefix: SCIM_PREFIX },
  );
}

function etagMatches(list: string, tag: string): boolean {
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return list.split(',').some((t) => t.trim() === '*' || bare(t) === bare(tag));
}
