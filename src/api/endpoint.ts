import type { z } from 'zod';
import type { InfraRole } from './roles.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call an endpoint: `public` (anyone), `session` (anyone signed in), or holders of one
 * of `roles` on `infra`. With `orSelf`, a caller without the role may still act on their own
 * objects; the operation decides what "own" means for its input.
 */
type EndpointAuth = 'public' | 'session' | { roles: readonly InfraRole[]; orSelf?: boolean };

/**
 * One API operation: the contract shared by the server (which binds a handler to it), the
 * typed client and the OpenAPI document. The input schema covers path parameters (named in
 * `path` as `:name`) plus the query string for GET and DELETE, or the JSON body otherwise.
 */
export interface Endpoint<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: EndpointAuth;
  input: I;
  /** The response body; `undefined` for 204 No Content. */
  output: O | undefined;
  /** Success status; default 201 for POST, 204 when there is no output, else 200. */
  status?: number;
  /** Callable by a session that must change its one-time password first. */
  duringPasswordChange?: boolean;
  /** A POST that changes no stored state (minting a token): no transaction, no audit entry. */
  readOnly?: boolean;
  /** A download, not JSON: the media types the body may have (the handler picks one). */
  produces?: readonly string[];
}

export function endpoint<I extends z.ZodObject, O extends z.ZodType>(
  def: Endpoint<I, O>,
): Endpoint<I, O> {
  return def;
}

/** The path parameter names of an endpoint, in order: `/api/users/:id` → `['id']`. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
}

export function successStatus(e: Pick<Endpoint, 'method' | 'output' | 'status'>): number {
  return e.status ?? (e.output === undefined ? 204 : e.method === 'POST' ? 201 : 200);
}

export type EndpointInput<E> = E extends Endpoint<infer I, z.ZodType> ? z.input<I> : never;
export type EndpointParsedInput<E> = E extends Endpoint<infer I, z.ZodType> ? z.output<I> : never;
export type EndpointOutput<E> = E extends Endpoint<z.ZodObject, infer O> ? z.input<O> : never;
