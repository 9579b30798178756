import { ValidationError } from '../../shared/errors.js';
import type { Page } from '../models.js';

/**
 * Turns `limit + 1` fetched rows into a page: the first `limit` items, and a cursor (the sort
 * key of the last item) when the extra row shows there is more.
 */
export function toPage<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, next: encodeCursor(cursorOf(items[items.length - 1]!)) };
}

function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** The sort key inside a cursor, or undefined when the cursor was not made by us. */
function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,700}$/.test(cursor)) return undefined;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  // Our cursors hold names and ids: never control characters (PostgreSQL refuses NUL outright).
  return encodeCursor(key) === cursor && !/\p{Cc}/u.test(key) ? key : undefined;
}

/** The sort key in an `after` cursor given by a client; a cursor we did not make is a 400. */
export function afterKey(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const key = decodeCursor(cursor);
  if (key === undefined) {
    throw new ValidationError([
      { field: 'after', errors: ['is not the next value of a previous page'] },
    ]);
  }
  return key;
}
