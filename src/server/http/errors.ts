import type { ApiErrorBody } from '../../api/errors.js';
import { AppError, ValidationError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** The one place an error code becomes an HTTP status. */
export const statusFor: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  upstream_failed: 502,
  unavailable: 503,
};

// Errors raised by the framework before a handler runs (body parsing, routing).
const frameworkErrors: Record<string, { code: ErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: 'bad_request',
    message: 'the request body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'bad_request',
    message: 'the request body is empty but Content-Type says JSON; send {} or no Content-Type',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: 'payload_too_large',
    message: 'the request body is too large',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: 'send the request body as JSON with Content-Type: application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'bad_request',
    message: 'the Content-Length header does not match the body',
  },
};

/**
 * Turns anything thrown while serving a request into a status and the JSON error body. Only
 * AppErrors say what went wrong; anything else is a bug, logged with its cause and answered
 * with a fixed sentence so nothing internal leaks.
 */
export function errorResponse(
  err: unknown,
  requestId: string,
  log: Logger,
): { status: number; body: ApiErrorBody; headers: Record<string, string> } {
  if (err instanceof AppError) {
    const status = statusFor[err.code];
    if (err.code === 'unauthenticated') {
      // The reason (expired, unknown key...) can help an attacker; it goes to the log only.
      log.info({ reqId: requestId, reason: err.message }, 'request not authenticated');
      return { status, body: { code: err.code, message: 'unauthenticated' }, headers: {} };
    }
    // An unavailable database is logged once per episode where it is noticed, not per request.
    if (status >= 500 && err.code !== 'unavailable')
      log.error({ reqId: requestId, err }, err.message);
    const body: ApiErrorBody = { code: err.code, message: err.message };
    if (err instanceof ValidationError) body.fieldErrors = err.fieldErrors;
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    const headers: Record<string, string> =
      typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {};
    return { status, body, headers };
  }
  const fastifyCode = (err as { code?: string }).code;
  const known = fastifyCode ? frameworkErrors[fastifyCode] : undefined;
  if (known) return { status: statusFor[known.code], body: { ...known }, headers: {} };
  log.error({ reqId: requestId, err }, 'internal server error');
  return {
    status: 500,
    body: {
      code: 'internal',
      message: `internal server error; the server log has the details under request id ${requestId}`,
    },
    headers: {},
  };
}
