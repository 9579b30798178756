import { z } from 'zod';
import { parseDuration } from '../shared/duration.js';
import { isId, type IdKind } from '../shared/ids.js';
import { controlCharacter, invisibleCharacter, mixedScripts } from '../shared/names.js';

/**
 * Free text, trimmed and in Unicode NFC, 1 to `max` characters, with no control characters (they
 * would inject lines into logs, headers and kubeconfig files) and nothing invisible or
 * direction-changing (zero-width characters, U+202E, …: they make a name look like another).
 */
export function text(max: number) {
  return z
    .string()
    .trim()
    .normalize('NFC')
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .superRefine((s, ctx) => {
      if (controlCharacter(s))
        ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
      else {
        const invisible = invisibleCharacter(s);
        if (invisible)
          ctx.addIssue({
            code: 'custom',
            message: `must not contain invisible or text-direction characters (${invisible})`,
          });
      }
    });
}

/**
 * A name people read (a group name): `text`, and each word in one script, so that a Cyrillic
 * `а` cannot pass for a Latin `a` (Unicode TS #39, "highly restrictive": Latin may join Han,
 * kana and Hangul).
 */
export function name(max: number) {
  return text(max).superRefine((s, ctx) => {
    const mixed = mixedScripts(s);
    if (mixed)
      ctx.addIssue({
        code: 'custom',
        message: `must not mix ${mixed.join(' and ')} letters in one word (one script per word)`,
      });
  });
}

const idNames: Record<IdKind, string> = {
  user: 'a user',
  group: 'a group',
  grant: 'a grant',
  accessKey: 'an access key',
  destination: 'a destination',
  provider: 'a provider',
  install: 'an install',
  sshAuthority: 'an SSH certificate authority',
  accessRequest: 'an access request',
  requestPolicy: 'a request policy',
};

/** An id of one kind: `usr_…` for users, `grp_…` for groups. */
export function idOf(kind: IdKind) {
  return z.string().refine((s) => isId(s, kind), `must be ${idNames[kind]} id`);
}

/** A user id, or `self` for the caller. */
export const UserRef = z
  .string()
  .refine((s) => s === 'self' || isId(s, 'user'), 'must be a user id or self');

/** A user name: an email address (ASCII, so nothing invisible or mixed), stored in lower case. */
export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an email address'));

/** A boolean in a query string (`true`/`false`) or a JSON body. */
export const Flag = z
  .union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' })
  .transform((v) => v === true || v === 'true');

/** A timestamp on the wire: RFC 3339 in UTC. */
export const Time = z.iso.datetime();

const TEN_YEARS = 87_600 * 3_600_000;

/** A duration such as `720h` or `30m`: longer than zero, at most ten years. */
export const Duration = z.string().superRefine((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined)
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 72h or 30m' });
  else if (ms <= 0) ctx.addIssue({ code: 'custom', message: 'must be longer than zero' });
  else if (ms > TEN_YEARS)
    ctx.addIssue({ code: 'custom', message: 'must be at most 87600h (ten years)' });
});

/** Paging inputs shared by every list. */
export const Paging = {
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .default(100),
  after: z
    .string()
    .max(700)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be the next value of a previous page')
    .optional()
    .describe('Cursor: the `next` value of the previous page'),
};

/**
 * A page of a list. `next`, when present, fetches the following page (`?after=<next>`). `count`
 * is the number of items on this page; `totalCount`, on lists that count, the number the
 * filters find over all pages.
 */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    count: z.number().int().describe('Items on this page'),
    totalCount: z
      .number()
      .int()
      .optional()
      .describe('Items the filters find over all pages (users, groups, grants, destinations)'),
    limit: z.number().int(),
    next: z.string().optional(),
  });
}

/** Search text (`text`: no control or invisible characters): the items whose name contains it. */
export const Search = text(256)
  .optional()
  .describe('Only items whose name contains this, ignoring case');

/** Repeated query parameters arrive as a string or an array; both become an array. */
export function many<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v) => (v === undefined || Array.isArray(v) ? v : [v]),
    z.array(item).max(1000),
  );
}
