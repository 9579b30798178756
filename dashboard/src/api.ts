/**
 * The dashboard's one way to the API: JSON in and out, the `Infra-Version` header, the session
 * cookie (sent by the browser; never readable here), and errors turned into `ApiError`.
 */
import type { AccessKey } from '../../src/api/access-keys.js';
import type { Destination } from '../../src/api/destinations.js';
import type { EndpointInput, EndpointOutput } from '../../src/api/endpoint.js';
import type { Endpoints, OperationName } from '../../src/api/endpoints.js';
import type { ApiErrorBody } from '../../src/api/errors.js';
import type { Grant } from '../../src/api/grants.js';
import type { Group } from '../../src/api/groups.js';
import type { LoginResponse } from '../../src/api/login.js';
import type { User, UserListItem } from '../../src/api/users.js';
import { apiRequest } from '../../src/api/request.js';
import { routes } from '../../src/api/routes.js';
import { apiVersion } from '../../src/shared/version.js';

export type { AccessKey, Destination, Grant, Group, LoginResponse, User, UserListItem };
export type Input<N extends OperationName> = EndpointInput<Endpoints[N]>;
export type Output<N extends OperationName> = EndpointOutput<Endpoints[N]>;
export type AuditEntry = Output<'listAudit'>['items'][number];
export type FieldErrors = NonNullable<ApiErrorBody['fieldErrors']>;

/** A page of a list, as every list endpoint returns it. */
export interface Page<T> {
  items: T[];
  count: number;
  /** Lists that count: the items the filters find over all pages. */
  totalCount?: number;
  limit: number;
  next?: string;
}

/** A failed call: the server's status, code, message and per-field problems. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fieldErrors: FieldErrors;
  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.fieldErrors = body.fieldErrors ?? [];
  }

  /** The problems the server found with one input field (dotted path, such as `password`). */
  field(name: string): string[] {
    return this.fieldErrors.filter((f) => f.field === name).flatMap((f) => f.errors);
  }
}

/** Problems of one field of a failed call, for showing next to that field. */
export function fieldError(error: unknown, name: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const errors = error.field(name);
  return errors.length > 0 ? errors.join('; ') : undefined;
}

/** Calls that answer 401 for a wrong password rather than a missing session. */
const CREDENTIAL_CALLS = new Set<OperationName>(['login', 'setup', 'getSetup', 'getSettings']);

interface Handlers {
  /** The session is gone (expired, revoked, or never was). */
  unauthenticated(): void;
  /** The session must change its one-time password before anything else. */
  passwordChangeRequired(): void;
}

let handlers: Handlers = { unauthenticated() {}, passwordChangeRequired() {} };

/** Set once by the app: where to go when the session ends or must change its password. */
export function setApiHandlers(next: Handlers): void {
  handlers = next;
}

/**
 * Calls one API operation by its name in the contract (`listUsers`, `createGrant`...). Path
 * parameters are taken from the input; the rest goes in the query (GET, DELETE) or the body.
 */
export async function call<N extends OperationName>(
  name: N,
  // `{}` here asks "may the input be empty?" (every field optional), which is the point.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  ...args: {} extends Input<N>
    ? [input?: Input<N>, options?: CallOptions]
    : [Input<N>, CallOptions?]
): Promise<Output<N>> {
  const [input, options] = args;
  const {
    method,
    path: url,
    body,
  } = apiRequest(routes[name], (input ?? {}) as Record<string, unknown>);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'infra-version': apiVersion,
  };
  if (body !== undefined) headers['content-type'] = 'application/json';

  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: options?.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, {
      code: 'network',
      message: 'Could not reach the Infra server. Check your connection, then try again.',
    });
  }

  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const bodyOk =
      typeof json === 'object' &&
      json !== null &&
      typeof (json as ApiErrorBody).message === 'string' &&
      typeof (json as ApiErrorBody).code === 'string';
    const error = new ApiError(
      res.status,
      bodyOk
        ? (json as ApiErrorBody)
        : {
            code: 'unknown',
            message: `The server answered ${res.status} ${res.statusText}`.trim(),
          },
    );
    if (res.status === 401 && !CREDENTIAL_CALLS.has(name)) handlers.unauthenticated();
    if (error.code === 'password_change_required') {
      handlers.passwordChangeRequired();
    }
    throw error;
  }
  return json as Output<N>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** A readable sentence for any error thrown by a call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The part of a failed form submission that is not shown next to a field: the message, or
 * the problems with fields the form does not have. Undefined when every problem has a field.
 */
export function formError(error: unknown, shownFields: readonly string[]): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (!(error instanceof ApiError) || error.fieldErrors.length === 0) return errorMessage(error);
  const rest = error.fieldErrors.filter((f) => !shownFields.includes(f.field));
  if (rest.length === 0) return undefined;
  return rest.map((f) => `${f.field || 'input'} ${f.errors.join('; ')}`).join('. ');
}
