import { z } from 'zod';
import { Duration, Flag, Paging, Time, UserRef, idOf, listOf } from './common.js';
import { endpoint } from './endpoint.js';
import { DestinationName } from './grants.js';
import { routes } from './routes.js';

/** Key names: letters, digits, `.`, `_` and `-`. */
const KeyName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,256}$/, 'must be 1-256 letters, digits, . _ or -');

export const AccessKey = z
  .object({
    id: z.string(),
    name: z.string(),
    userID: z.string(),
    userName: z.string(),
    issuedVia: z.enum(['password', 'key-exchange', 'provider', 'device', 'setup', 'api', 'config']),
    created: Time,
    expires: Time,
    inactivityTimeout: z
      .string()
      .nullable()
      .describe('Duration of inactivity that ends the key, or null'),
    lastUsed: Time.nullable(),
    destination: z
      .string()
      .nullable()
      .describe('Connector keys: the one destination this key may register and follow'),
    current: z.boolean().describe('The key (or session) the request that lists it came with'),
  })
  .meta({ id: 'AccessKey' });
export type AccessKey = z.infer<typeof AccessKey>;

export const listAccessKeys = endpoint({
  ...routes.listAccessKeys,
  summary: 'List access keys (never their secrets)',
  tag: 'Access keys',
  auth: { roles: ['admin', 'view'], orSelf: true },
  input: z
    .object({
      userID: UserRef.optional().describe('Keys of this user; `self` is always allowed'),
      name: KeyName.optional(),
      showExpired: Flag.optional(),
      ...Paging,
    })
    .strict(),
  output: listOf(AccessKey),
});

export const createAccessKey = endpoint({
  ...routes.createAccessKey,
  summary: 'Create an access key for yourself (made from your session), or (admins) for any user',
  tag: 'Access keys',
  auth: { roles: ['admin'], orSelf: true },
  input: z
    .object({
      userID: UserRef.default('self'),
      name: KeyName.optional(),
      expiry: Duration.optional().describe(
        'Lifetime; default 30 days. A key for yourself ends with the session creating it and may not outlive it',
      ),
      inactivityTimeout: Duration.optional().describe(
        "Ends the key after this long unused; default none (a key for yourself: the session's)",
      ),
      destination: DestinationName.optional().describe(
        'Connector keys only: bind the key to this destination (else its first registration does)',
      ),
    })
    .strict(),
  output: AccessKey.extend({ accessKey: z.string().describe('The key; shown only now') }),
});

export const deleteAccessKey = endpoint({
  ...routes.deleteAccessKey,
  summary: 'Delete an access key (yours, or any as admin)',
  tag: 'Access keys',
  auth: { roles: ['admin'], orSelf: true },
  input: z.object({ id: idOf('accessKey') }).strict(),
  output: undefined,
});

export const deleteAccessKeys = endpoint({
  ...routes.deleteAccessKeys,
  summary: 'Delete access keys by name (yours, or a user’s as admin)',
  tag: 'Access keys',
  auth: { roles: ['admin'], orSelf: true },
  input: z.object({ name: KeyName, userID: UserRef.default('self') }).strict(),
  output: undefined,
});
