import { z } from 'zod';
import type { ErrorCode } from '../shared/errors.js';

/** The body of every error response. */
export const ApiErrorBody = z
  .object({
    code: z.string().describe('Machine-readable error code, such as not_found or bad_request'),
    message: z.string().describe('A sentence for people'),
    fieldErrors: z
      .array(z.object({ field: z.string(), errors: z.array(z.string()) }))
      .optional()
      .describe('Problems per input field, for validation errors'),
  })
  .meta({ id: 'Error' });
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/** An error response as the client sees it, with the server's code and status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | string;
  readonly fieldErrors: ApiErrorBody['fieldErrors'];
  /** The Retry-After header's delay, when the server sent one in seconds. */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, body: ApiErrorBody, retryAfterSeconds?: number) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.fieldErrors = body.fieldErrors;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
