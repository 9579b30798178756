/**
 * Errors as the apiserver reports them: a `kind: Status` object (k8s.io/apimachinery
 * pkg/api/errors), with the same messages, reasons and details.
 */
import type { Attributes } from './rbac.js';

interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class StatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: StatusDetails;
  readonly headers: Record<string, string>;

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: StatusDetails,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }

  get body() {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details && { details: this.details }),
      code: this.code,
    };
  }
}

/** An error the apiserver writes as plain text rather than as a Status (http.Error). */
export class PlainTextError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** schema.GroupResource.String(): `rolebindings.rbac.authorization.k8s.io`, `pods`. */
const qualified = (group: string, resource: string) => (group ? `${resource}.${group}` : resource);

const details = (group: string, resource: string, name: string): StatusDetails => ({
  ...(name && { name }),
  ...(group && { group }),
  kind: resource,
});

/** Go's utilerrors aggregate text. */
export const aggregate = (errors: string[]) =>
  errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;

export const notFound = (group: string, resource: string, name: string) =>
  new StatusError(
    404,
    'NotFound',
    `${qualified(group, resource)} "${name}" not found`,
    details(group, resource, name),
  );

/** What an unknown path or resource gets. */
export const noSuchResource = () =>
  new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

export const alreadyExists = (group: string, resource: string, name: string) =>
  new StatusError(
    409,
    'AlreadyExists',
    `${qualified(group, resource)} "${name}" already exists`,
    details(group, resource, name),
  );

export const conflict = (group: string, resource: string, name: string) =>
  new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(group, resource, name),
  );

export const badRequest = (message: string) => new StatusError(400, 'BadRequest', message);

export const methodNotAllowed = () =>
  new StatusError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  );

export const internalError = (message: string) =>
  new StatusError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });

export const forbidden = (group: string, resource: string, name: string, message: string) =>
  new StatusError(
    403,
    'Forbidden',
    resource
      ? `${qualified(group, resource)}${name ? ` "${name}"` : ''} is forbidden: ${message}`
      : `forbidden: ${message}`,
    resource ? details(group, resource, name) : {},
  );

/** responsewriters.Forbidden: what an authorization denial looks like. */
export function accessDenied(a: Attributes, reason: string): StatusError {
  const who = `User "${a.user.username}"`;
  let message: string;
  if (!a.resourceRequest) {
    message = `${who} cannot ${a.verb} path "${a.path}"`;
  } else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
    message = `${who} cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`;
  }
  if (reason) message += `: ${reason}`;
  return forbidden(a.apiGroup, a.resourceRequest ? a.resource : '', a.name, message);
}

export interface FieldError {
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported';
  field: string;
  /** ErrorBody(): `Required value`, `Invalid value: "x": why`. */
  body: string;
}

export const required = (field: string): FieldError => ({
  type: 'FieldValueRequired',
  field,
  body: 'Required value',
});

export const notSupported = (field: string, value: string, supported: string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  body: `Unsupported value: "${value}": supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
});

/** errors.NewInvalid: 422 with one cause per field error. */
export function invalid(group: string, kind: string, name: string, errors: FieldError[]) {
  return new StatusError(
    422,
    'Invalid',
    `${qualified(group, kind)} "${name}" is invalid: ${aggregate(
      errors.map((e) => `${e.field}: ${e.body}`),
    )}`,
    {
      name,
      ...(group && { group }),
      kind,
      causes: errors.map((e) => ({ reason: e.type, message: e.body, field: e.field })),
    },
  );
}
