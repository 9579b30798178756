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

/** A framework-free handler: gets the context and the validated input, returns the output. */
export type Handler<E> = (
  ctx: RequestContext,
  input: EndpointParsedInput<E>,
) => Promise<EndpointOutput<E>>;

/** One handler per endpoint, under the endpoint's name. */
export type Handlers = { [K in OperationName]: Handler<Endpoints[K]> };

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
export function checkApiVersion(header: string | string[] | undefined): void {
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
export function validationError(error: z.ZodError): ValidationError {
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

/**
 * Registers every endpoint with its handler. This is the only code that knows the framework:
 * it checks the API version, merges path parameters with the query (GET, DELETE) or JSON body,
 * validates them with the endpoint's schema, runs the handler, strips the response down to the
 * endpoint's output schema and picks the status.
 */
export function registerRoutes(
  app: FastifyInstance,
  endpoints: Endpoints,
  handlers: Handlers,
  context: (req: FastifyRequest) => RequestContext,
): void {
  for (const name of Object.keys(endpoints) as OperationName[]) {
    const e = endpoints[name] as Endpoint;
    const handler = handlers[name] as unknown as (
      ctx: RequestContext,
      input: unknown,
    ) => Promise<unknown>;
    const status = successStatus(e);
    app.route({
      method: e.method,
      url: e.path,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        checkApiVersion(req.headers['infra-version']);
        const parsed = e.input.safeParse(requestInput(e, req));
        if (!parsed.success) throw validationError(parsed.error);
        const result = await handler(context(req), parsed.data);
        reply.code(status);
        if (e.output === undefined) return reply.send();
        // Only declared fields leave the server, whatever the handler returned.
        return reply.send(e.output.parse(result));
      },
    });
  }
}
