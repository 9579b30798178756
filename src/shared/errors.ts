/**
 * The error codes the API can return. Each maps to exactly one HTTP status in
 * `server/http/errors.ts`; adding a code without a status does not compile.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'precondition_failed'
  | 'request_timeout'
  | 'expired'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'unsupported_media_type'
  | 'misdirected'
  | 'rate_limited'
  | 'headers_too_large'
  | 'internal'
  | 'upstream_failed'
  | 'unavailable'
  // Specific refusals clients act on: switch on these, never on message text.
  | 'no_grant'
  | 'password_change_required'
  | 'user_removed'
  // Why a provider login failed, each with a sentence safe to show the person signing in.
  | 'login_unknown'
  | 'login_expired'
  | 'login_other_browser'
  | 'login_refused'
  | 'login_check_failed'
  | 'login_email_unverified'
  | 'login_email_missing'
  | 'login_account_conflict'
  | 'login_deactivated';

/** A failure the caller can act on. Anything thrown that is not an AppError is a bug (a 500). */
export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface FieldError {
  field: string;
  errors: string[];
}

/** Bad input, with the problems per field so a form can show them next to each input. */
export class ValidationError extends AppError {
  readonly fieldErrors: FieldError[];
  constructor(fieldErrors: FieldError[], message?: string) {
    const sorted = [...fieldErrors].sort((a, b) => a.field.localeCompare(b.field));
    super(
      'bad_request',
      message ??
        `validation failed: ${sorted.map((f) => `${f.field || '(body)'}: ${f.errors.join(', ')}`).join('; ')}`,
    );
    this.fieldErrors = sorted;
  }
}

export class NotFoundError extends AppError {
  readonly resource: string;
  constructor(resource: string, message?: string) {
    super('not_found', message ?? `${resource} not found`);
    this.resource = resource;
  }
}

export class ConflictError extends AppError {
  readonly table: string;
  readonly column: string;
  constructor(table: string, column: string, message?: string) {
    super('conflict', message ?? `another ${table} already has that ${column}`);
    this.table = table;
    this.column = column;
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'unauthenticated', options?: { cause?: unknown }) {
    super('unauthenticated', message, options);
  }
}

/** Why a provider login failed: the person is told (the sentence is safe), and it is audited. */
export type LoginFailure = Extract<ErrorCode, `login_${string}`>;

export class LoginRefusedError extends AppError {
  constructor(code: LoginFailure, message: string) {
    super(code, message);
  }
}

export class ForbiddenError extends AppError {
  readonly operation: string;
  readonly resource: string;
  readonly requiredRoles: readonly string[];
  constructor(operation: string, resource: string, requiredRoles: readonly string[]) {
    super(
      'forbidden',
      `you do not have permission to ${operation} ${resource}` +
        (requiredRoles.length > 0 ? `, requires role ${joinOr(requiredRoles)}` : ''),
    );
    this.operation = operation;
    this.resource = resource;
    this.requiredRoles = requiredRoles;
  }
}

function joinOr(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** `assertThat(user.isAdmin, () => new ForbiddenError(...))`: preconditions that read like specs. */
export function assertThat(condition: unknown, error: () => AppError): asserts condition {
  if (!condition) throw error();
}

/** Too many attempts; try again after `retryAfterSeconds` (sent as the Retry-After header). */
export class RateLimitedError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, message: string) {
    super('rate_limited', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
