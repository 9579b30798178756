import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiErrorBody } from '../../api/errors.js';
import type { Readiness } from '../access/readiness.js';
import {
  AppError,
  LoginRefusedError,
  ValidationError,
  type ErrorCode,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** The one place an error code becomes an HTTP status. */
const statusFor: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  expired: 410,
  precondition_failed: 412,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  misdirected: 421,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  upstream_failed: 502,
  unavailable: 503,
  // After the generic codes, so a status the framework chose maps to the generic one.
  no_grant: 403,
  password_change_required: 403,
  user_removed: 401,
  login_unknown: 401,
  login_expired: 410,
  login_other_browser: 401,
  login_refused: 401,
  login_check_failed: 401,
  login_email_unverified: 401,
  login_email_missing: 401,
  login_account_conflict: 401,
  login_deactivated: 401,
};

// Errors raised by the framework before a handler runs (routing, body parsing).
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
  FST_ERR_BAD_URL: {
    code: 'bad_request',
    message: 'the URL is not valid: a percent-encoded part is malformed or not UTF-8',
  },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri_too_long', message: 'the URL is too long' },
  // The request body stream fails this way when the client goes away before sending all of it.
  ECONNRESET: {
    code: 'bad_request',
    message: 'the client closed the connection before the request was complete',
  },
};

/** The code for a status the framework chose (Fastify errors carry `statusCode`). */
function codeForStatus(status: number): ErrorCode {
  return (
    (Object.keys(statusFor) as ErrorCode[]).find((c) => statusFor[c] === status) ?? 'bad_request'
  );
}

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
    if (err instanceof LoginRefusedError)
      log.info({ reqId: requestId, code: err.code, reason: err.message }, 'provider login refused');
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
  const { code: fastifyCode, statusCode } = err as { code?: unknown; statusCode?: unknown };
  const known = typeof fastifyCode === 'string' ? frameworkErrors[fastifyCode] : undefined;
  if (known) {
    log.debug({ reqId: requestId, code: fastifyCode }, known.message);
    return { status: statusFor[known.code], body: { ...known }, headers: {} };
  }
  // Any other refusal by the framework is about the request, not a bug: a 4xx in our shape,
  // without the framework's message (it may echo the input).
  if (
    typeof fastifyCode === 'string' &&
    /^FST_ERR_\w+$/.test(fastifyCode) &&
    typeof statusCode === 'number' &&
    statusCode >= 400 &&
    statusCode < 500
  ) {
    const code = codeForStatus(statusCode);
    log.info({ reqId: requestId, code: fastifyCode }, 'request refused by the framework');
    return {
      status: statusFor[code],
      body: { code, message: `the request cannot be processed (${fastifyCode})` },
      headers: {},
    };
  }
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

/**
 * The whole HTTP response to a request Node's HTTP parser refused before the framework saw it
 * (headers too large, a malformed request line or header, headers that did not arrive in time),
 * for the server's `clientError` event.
 */
export function clientErrorResponse(
  err: { code?: string },
  extraHeaders: Record<string, string> = {},
): string {
  const { status, body } = clientError(err);
  return wholeResponse(status, body, extraHeaders);
}

/** An error response written straight to a socket, which is closed after it. */
function wholeResponse(
  status: number,
  body: ApiErrorBody,
  extraHeaders: Record<string, string>,
): string {
  const json = JSON.stringify(body);
  const headers = {
    ...extraHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('\r\n')}\r\n\r\n${json}`;
}

/**
 * Answers CONNECT (a request for a tunnel) with 405 in the JSON error shape. Node hands CONNECT
 * to a `connect` listener and, without one, drops the connection unanswered.
 */
export function refuseTunnels(server: Server, extraHeaders: Record<string, string> = {}): void {
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const body: ApiErrorBody = {
      code: 'method_not_allowed',
      message: 'CONNECT is not supported: this server is not a proxy',
    };
    socket.on('error', () => {});
    socket.end(wholeResponse(statusFor.method_not_allowed, body, extraHeaders), () =>
      socket.destroy(),
    );
  });
}

function clientError(err: { code?: string }): { status: number; body: ApiErrorBody } {
  const answer = (code: ErrorCode, message: string) => ({
    status: statusFor[code],
    body: { code, message },
  });
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return answer('headers_too_large', 'the request line and headers are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return answer('request_timeout', 'the request headers did not arrive in time');
    case 'HPE_INVALID_METHOD':
      return answer('bad_request', 'the request method is not valid');
    default:
      return answer('bad_request', 'the request is not valid HTTP/1.1');
  }
}

/** `/readyz`: 200 with each check, or 503 (with Retry-After) saying which checks failed. */
export function readinessResponse(r: Readiness): {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
} {
  if (r.ready) return { status: 200, headers: {}, body: { status: 'ready', checks: r.checks } };
  const failed = Object.entries(r.checks)
    .filter(([, v]) => v !== 'ok')
    .map(([k, v]) => `${k}: ${v}`);
  return {
    status: statusFor.unavailable,
    headers: { 'retry-after': '5' },
    body: { code: 'unavailable', message: `not ready (${failed.join('; ')})`, checks: r.checks },
  };
}
