import { z } from 'zod';
import { pathParams, successStatus, type Endpoint } from '../../api/endpoint.js';
import { ApiErrorBody } from '../../api/errors.js';
import { apiVersion, productVersion } from '../../shared/version.js';

type JsonSchema = Record<string, unknown>;

/**
 * Generates the OpenAPI 3.1 document from the endpoint contracts, so the document cannot drift
 * from what the server validates. Named schemas (`.meta({ id })`) become components.
 */
export function buildOpenApiDocument(endpoints: Record<string, Endpoint>): JsonSchema {
  const components: Record<string, JsonSchema> = {};
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    delete json.$schema;
    const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
    delete json.$defs;
    for (const [name, def] of Object.entries(defs)) components[name] = rewriteRefs(def);
    return rewriteRefs(json);
  };
  const errorRef = toSchema(ApiErrorBody, 'output');

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [operationId, e] of Object.entries(endpoints)) {
    const inPath = pathParams(e.path);
    const shape = e.input.shape as Record<string, z.ZodType>;
    const parameters: unknown[] = inPath.map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: toSchema(shape[name]!, 'input'),
    }));
    const rest = Object.keys(shape).filter((k) => !inPath.includes(k));
    let requestBody: unknown;
    if (e.method === 'GET' || e.method === 'DELETE') {
      for (const name of rest) {
        const field = shape[name]!;
        parameters.push({
          name,
          in: 'query',
          required: !field.safeParse(undefined).success,
          schema: toSchema(field, 'input'),
          ...(field.description ? { description: field.description } : {}),
        });
      }
    } else if (rest.length > 0) {
      // The body is the input without the path parameters (pick() refuses refined objects).
      const body = toSchema(e.input, 'input') as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const name of inPath) delete body.properties?.[name];
      if (body.required) body.required = body.required.filter((r) => !inPath.includes(r));
      requestBody = { required: true, content: { 'application/json': { schema: body } } };
    }
    if (e.path.startsWith('/api/')) {
      parameters.push({
        name: 'Infra-Version',
        in: 'header',
        required: false,
        description: `API version the client was written for; absent means the newest (${apiVersion})`,
        schema: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+$' },
      });
    }
    const status = successStatus(e);
    const responses: Record<string, unknown> = {
      [status]: e.output
        ? {
            description: 'Success',
            content: { 'application/json': { schema: toSchema(e.output, 'output') } },
          }
        : e.produces
          ? {
              description: 'Success: a download',
              content: Object.fromEntries(
                e.produces.map((type) => [type, { schema: { type: 'string' } }]),
              ),
            }
          : { description: 'Success, no content' },
      default: { description: 'Error', content: { 'application/json': { schema: errorRef } } },
    };
    const openApiPath = e.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[openApiPath] ??= {};
    paths[openApiPath][e.method.toLowerCase()] = {
      operationId,
      summary: e.summary,
      tags: [e.tag],
      ...(e.auth === 'public' ? { security: [] } : {}),
      'x-infra-access': describeAccess(e),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Infra API',
      version: apiVersion,
      description: `Access management for infrastructure. Server ${productVersion}.`,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    security: [{ accessKey: [] }, { sessionCookie: [] }],
    paths,
    components: {
      schemas: Object.fromEntries(
        Object.entries(components).sort(([a], [b]) => a.localeCompare(b)),
      ),
      securitySchemes: {
        accessKey: { type: 'http', scheme: 'bearer', description: 'An access key: <id>.<secret>' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'infra_session' },
      },
    },
  };
}

function describeAccess(e: Endpoint): string {
  if (e.auth === 'public') return 'anyone';
  if (e.auth === 'session') return 'any signed-in user';
  const roles = `role ${e.auth.roles.join(', ')} on infra`;
  return e.auth.orSelf ? `${roles}, or the caller for their own objects` : roles;
}

function rewriteRefs(schema: JsonSchema): JsonSchema {
  return JSON.parse(
    JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/'),
  ) as JsonSchema;
}
