import { z } from 'zod';
import { Duration, Paging, Time, idOf, listOf, text } from './common.js';
import { endpoint } from './endpoint.js';
import { LoginResponse } from './login.js';
import { routes } from './routes.js';

export const ProviderKind = z.enum(['okta', 'azure', 'google', 'oidc'], {
  error: 'must be one of okta, azure, google, oidc',
});
export type ProviderKind = z.infer<typeof ProviderKind>;

/** Loopback hosts may use plain http: a provider running on this machine (tests, development). */
function isLoopbackHost(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

/** https, or http on loopback; no credentials, query or fragment. */
export const ProviderUrl = z
  .string()
  .trim()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      const secure =
        u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname));
      return secure && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'must be an https:// URL without credentials, query or fragment');

export const ProviderName = z
  .string()
  .trim()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/,
    'must be 1 to 63 lower-case letters, digits, dots, dashes or underscores, starting with a letter or digit',
  );

const Scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/, 'must be an OAuth scope');

/** What anyone may see: enough for a login button and for a CLI to pick a provider. */
export const Provider = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: ProviderKind,
    url: z
      .string()
      .describe('The issuer (OIDC discovery at <url>/.well-known/openid-configuration)'),
    clientID: z.string(),
    scopes: z.array(z.string()),
    groupsClaim: z.string().describe('The ID token or userinfo claim holding group names'),
    managedBy: z.enum(['api', 'config']).describe('config: declared in the config file'),
    created: Time,
    updated: Time,
  })
  .meta({ id: 'Provider' });
export type Provider = z.infer<typeof Provider>;

/** The admin's view: where the secrets come from (never the secrets themselves). */
export const ProviderDetails = Provider.extend({
  clientSecretRef: z
    .string()
    .nullable()
    .describe('The secret reference read at each login; null when the secret is stored (sealed)'),
  apiURL: z.string().nullable().describe('Microsoft Graph or Google Directory API base URL'),
  domainAdminEmail: z.string().nullable().describe('Google: the admin the service account acts as'),
  serviceAccountKeySet: z.boolean().describe('Google: a service account key is configured'),
  redirectURIs: z.array(z.string()).describe('Register these with the identity provider'),
  linkedUsers: z.number().int().describe('Users who signed in through this provider'),
  usersWithoutRefreshToken: z
    .number()
    .int()
    .describe(
      'Linked users the provider issued no refresh token for: they are re-checked (groups, removal upstream) only when they sign in again',
    ),
}).meta({ id: 'ProviderDetails' });
export type ProviderDetails = z.infer<typeof ProviderDetails>;

const SecretValue = z.string().min(1, 'must not be empty').max(16_384);
const SecretRef = z
  .string()
  .max(1024)
  .regex(/^[a-z][a-z0-9-]*:.+$/, 'must be a secret reference such as env:OKTA_CLIENT_SECRET');

const ProviderFields = {
  name: ProviderName,
  kind: ProviderKind,
  url: ProviderUrl,
  clientID: text(512),
  clientSecret: SecretValue.optional().describe('Stored encrypted'),
  clientSecretRef: SecretRef.optional().describe('Read from a secret storage at each login'),
  scopes: z
    .array(Scope)
    .max(50)
    .optional()
    .describe('Default openid, email, profile, offline_access (and groups for Okta)'),
  groupsClaim: z
    .string()
    .regex(/^[A-Za-z0-9_:./-]{1,200}$/, 'must be a claim name')
    .optional()
    .describe('Default groups'),
  apiURL: ProviderUrl.optional().describe(
    'Azure: Microsoft Graph (default https://graph.microsoft.com); Google: Admin Directory API',
  ),
  domainAdminEmail: z
    .email('must be an email address')
    .max(254)
    .optional()
    .describe('Google: a Workspace admin the service account impersonates to read groups'),
  serviceAccountKey: SecretValue.optional().describe(
    'Google: the service account key JSON (stored encrypted)',
  ),
  serviceAccountKeyRef: SecretRef.optional(),
};

function oneSecretSource(v: { clientSecret?: string; clientSecretRef?: string }): boolean {
  return v.clientSecret === undefined || v.clientSecretRef === undefined;
}

export const listProviders = endpoint({
  ...routes.listProviders,
  summary: 'List identity providers (public: the login page shows them)',
  tag: 'Providers',
  auth: 'public',
  input: z.object({ name: ProviderName.optional(), ...Paging }).strict(),
  output: listOf(Provider),
});

export const getProvider = endpoint({
  ...routes.getProvider,
  summary: 'Get an identity provider',
  tag: 'Providers',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('provider') }).strict(),
  output: ProviderDetails,
});

export const createProvider = endpoint({
  ...routes.createProvider,
  summary: 'Add an identity provider; its discovery document must be reachable and valid',
  tag: 'Providers',
  auth: { roles: ['admin'] },
  input: z
    .object(ProviderFields)
    .strict()
    .refine((v) => v.clientSecret !== undefined || v.clientSecretRef !== undefined, {
      path: ['clientSecret'],
      message: 'give clientSecret or clientSecretRef',
    })
    .refine(oneSecretSource, {
      path: ['clientSecretRef'],
      message: 'give clientSecret or clientSecretRef, not both',
    }),
  output: ProviderDetails,
});

export const updateProvider = endpoint({
  ...routes.updateProvider,
  summary: 'Replace an identity provider’s settings; omitted secrets are kept',
  tag: 'Providers',
  auth: { roles: ['admin'] },
  input: z
    .object({ id: idOf('provider'), ...ProviderFields })
    .strict()
    .refine(oneSecretSource, {
      path: ['clientSecretRef'],
      message: 'give clientSecret or clientSecretRef, not both',
    }),
  output: ProviderDetails,
});

export const deleteProvider = endpoint({
  ...routes.deleteProvider,
  summary: 'Remove an identity provider: its sessions end and the groups it synced are dropped',
  tag: 'Providers',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('provider') }).strict(),
  output: undefined,
});

export const startProviderLogin = endpoint({
  ...routes.startProviderLogin,
  summary: 'Start a login through a provider: returns where to send the browser',
  tag: 'Providers',
  auth: 'public',
  input: z
    .object({
      id: idOf('provider'),
      redirectURL: z
        .string()
        .max(2048)
        .describe(
          'The dashboard’s https://<server>/login/callback, or the CLI’s http://127.0.0.1:<port>/callback',
        ),
    })
    .strict(),
  output: z.object({
    authorizationURL: z.string(),
    expires: Time.describe('Finish the login before this'),
  }),
});

const UserCode = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{4}-?[A-Z]{4}$/, 'must be a code such as ABCD-EFGH');

const DeviceRequest = z
  .object({
    deviceCode: z.string().describe('Secret: only the device polls with it'),
    userCode: z.string().describe('Shown to the user, who enters or confirms it in a browser'),
    verificationURL: z.string(),
    verificationURLComplete: z.string().describe('The verification URL with the code filled in'),
    expires: Time,
    interval: z.number().int().describe('Seconds between polls'),
  })
  .meta({ id: 'DeviceRequest' });

export const createDeviceRequest = endpoint({
  ...routes.createDeviceRequest,
  summary: 'Start a device login: a signed-in browser approves the user code',
  tag: 'Sessions',
  auth: 'public',
  input: z.object({}).strict(),
  output: DeviceRequest,
});

export const getDeviceStatus = endpoint({
  ...routes.getDeviceStatus,
  summary: 'Poll a device login; once approved it returns the session, once',
  tag: 'Sessions',
  auth: 'public',
  status: 200,
  input: z.object({ deviceCode: z.string().min(1, 'must not be empty').max(100) }).strict(),
  output: z.object({
    status: z.enum(['pending', 'approved']),
    login: LoginResponse.optional(),
  }),
});

export const approveDevice = endpoint({
  ...routes.approveDevice,
  summary: 'Approve a device login as yourself',
  tag: 'Sessions',
  auth: 'session',
  input: z.object({ userCode: UserCode }).strict(),
  output: undefined,
});

export const createScimKey = endpoint({
  ...routes.createScimKey,
  summary:
    'Create a SCIM token for a provider (shown once): it provisions that provider’s users and groups at /api/scim/v2 and can do nothing else',
  tag: 'Providers',
  auth: { roles: ['admin'] },
  input: z
    .object({
      id: idOf('provider'),
      expiry: Duration.optional().describe('Lifetime; default one year'),
    })
    .strict(),
  output: z.object({
    id: z.string().describe('The access key’s id (`infra keys remove` takes its name)'),
    name: z.string(),
    expires: Time,
    url: z.string().describe('The SCIM base URL to give the identity provider'),
    accessKey: z.string().describe('The token; shown only now'),
  }),
});
