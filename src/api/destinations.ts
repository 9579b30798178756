import { z } from 'zod';
import { Duration, Flag, Paging, Search, Time, idOf, listOf, text } from './common.js';
import { endpoint } from './endpoint.js';
import { DestinationName, Grant } from './grants.js';
import { routes } from './routes.js';

const Pem = z
  .string()
  .max(65_536)
  .refine(
    (s) => s === '' || s.trimStart().startsWith('-----BEGIN CERTIFICATE-----'),
    'must be a PEM certificate',
  );

const HttpsUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (
        u.protocol === 'https:' &&
        u.username === '' &&
        u.password === '' &&
        u.search === '' &&
        u.hash === ''
      );
    } catch {
      return false;
    }
  }, 'must be an https:// URL without credentials or query');

const Namespace = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name');
const RoleName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,252}$/, 'must be a ClusterRole name');

const ConnectionMode = z
  .enum(['direct', 'tunnel'])
  .describe('direct: kubectl reaches the connector at its URL; tunnel: through this server');

export const Destination = z
  .object({
    id: z.string(),
    name: z.string(),
    uniqueID: z.string().describe('Chosen by the connector; stable for a cluster'),
    connection: z.object({
      mode: ConnectionMode,
      url: z
        .string()
        .describe(
          'Where kubectl reaches the cluster: the connector (direct), or this server (tunnel)',
        ),
      ca: z
        .string()
        .describe("PEM of the connector's CA, for kubeconfig; empty in tunnel mode (the server's)"),
    }),
    namespaces: z.array(z.string()),
    roles: z.array(z.string()).describe('ClusterRoles that may be granted'),
    version: z.string(),
    lastSeen: Time.nullable(),
    connected: z.boolean().describe('Its connector was in touch in the last two minutes'),
    tunnel: z
      .object({
        connected: z.boolean().describe('Its connector holds a tunnel to at least one replica'),
        since: Time.nullable().describe('When the oldest tunnel held now was opened'),
        replicas: z.array(z.string()).describe('The server replicas it holds tunnels to'),
      })
      .describe('Tunnel mode: the state of its tunnels'),
    created: Time,
    updated: Time,
  })
  .meta({ id: 'Destination' });
export type Destination = z.infer<typeof Destination>;

const DestinationFields = {
  name: DestinationName,
  uniqueID: text(256),
  connection: z
    .object({
      mode: ConnectionMode.default('direct'),
      url: z.union([z.literal(''), HttpsUrl]).default(''),
      ca: Pem.default(''),
    })
    .strict()
    .refine((c) => c.mode === 'tunnel' || c.url !== '', {
      message: 'url is required in direct mode',
      path: ['url'],
    }),
  namespaces: z.array(Namespace).max(10_000).default([]),
  roles: z.array(RoleName).max(1000).default([]),
  version: text(64).default('unknown'),
};

export const listDestinations = endpoint({
  ...routes.listDestinations,
  summary: 'List destinations (each user sees those they may reach; admins see all)',
  tag: 'Destinations',
  auth: 'session',
  input: z
    .object({
      name: DestinationName.optional(),
      search: Search.describe('Only destinations whose name contains this, ignoring case'),
      uniqueID: text(256).optional(),
      ...Paging,
    })
    .strict(),
  output: listOf(Destination),
});

export const getDestination = endpoint({
  ...routes.getDestination,
  summary: 'Get a destination',
  tag: 'Destinations',
  auth: { roles: ['admin', 'view', 'connector'], orSelf: true },
  input: z.object({ id: idOf('destination') }).strict(),
  output: Destination,
});

export const createDestination = endpoint({
  ...routes.createDestination,
  summary: 'Register a destination (connectors do this)',
  tag: 'Destinations',
  auth: { roles: ['admin', 'connector'] },
  input: z.object(DestinationFields).strict(),
  output: Destination,
});

export const updateDestination = endpoint({
  ...routes.updateDestination,
  summary: "Replace a destination's details (connectors do this)",
  tag: 'Destinations',
  auth: { roles: ['admin', 'connector'] },
  input: z.object({ id: idOf('destination'), ...DestinationFields }).strict(),
  output: Destination,
});

export const deleteDestination = endpoint({
  ...routes.deleteDestination,
  summary: 'Remove a destination (its grants stay)',
  tag: 'Destinations',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('destination') }).strict(),
  output: undefined,
});

export const AccessFeed = z
  .object({
    kind: z
      .enum(['full', 'snapshot', 'delta'])
      .default('full')
      .describe(
        'full: the whole state (without changes=true); snapshot: one page of it (with changes=true); delta: what changed since lastUpdateIndex',
      ),
    updateIndex: z.number().int().describe('Pass as lastUpdateIndex to wait for the next change'),
    destination: z.string(),
    grants: z.array(Grant).describe('Active grants on the destination and its namespaces'),
    users: z
      .array(z.object({ id: z.string(), name: z.string(), groups: z.array(z.string()) }))
      .describe('Users with access there, with their groups that hold grants there'),
    revokedSessions: z
      .array(z.string())
      .describe('Sessions ended recently (the sid of tokens to refuse)'),
    removedUsers: z
      .array(z.string())
      .default([])
      .describe('Users removed recently: their sessions ended because the user no longer exists'),
    next: z
      .string()
      .nullable()
      .optional()
      .describe('snapshot: pass as page for the next page; null on the last one'),
    subjects: z
      .array(z.string())
      .optional()
      .describe('delta: the users and groups whose grants here are now those in grants'),
    usersWithoutAccess: z
      .array(z.string())
      .optional()
      .describe('delta: users who no longer have access here'),
  })
  .meta({ id: 'AccessFeed' });

export const getAccessFeed = endpoint({
  ...routes.getAccessFeed,
  summary:
    'Who may reach a destination; with lastUpdateIndex, waits for a change (304 on timeout); with changes=true, a paged snapshot and then only what changed',
  tag: 'Destinations',
  auth: { roles: ['connector', 'admin', 'view'] },
  input: z
    .object({
      destination: DestinationName,
      lastUpdateIndex: z.coerce.number({ error: 'must be a number' }).int().min(0).optional(),
      wait: Duration.default('60s').describe('Longest wait for a change (at most 5m)'),
      changes: Flag.optional().describe(
        'The incremental feed: a snapshot in pages, then deltas since lastUpdateIndex',
      ),
      page: z
        .string()
        .max(1024)
        .optional()
        .describe("With changes=true: a snapshot's next page (its next)"),
    })
    .strict(),
  output: AccessFeed,
});

export const createToken = endpoint({
  ...routes.createToken,
  summary: 'Get a short-lived token (ES512 JWT) for a destination you may reach',
  tag: 'Destinations',
  auth: 'session',
  readOnly: true,
  input: z.object({ destination: DestinationName }).strict(),
  output: z.object({ token: z.string(), expires: Time }).meta({ id: 'Token' }),
});

export const getJwks = endpoint({
  ...routes.getJwks,
  summary: 'The public keys that verify destination tokens',
  tag: 'Destinations',
  auth: 'public',
  input: z.object({}).strict(),
  output: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
});

export const rotateSigningKey = endpoint({
  ...routes.rotateSigningKey,
  summary: 'Start signing tokens with a new key (the old one verifies until its tokens expire)',
  tag: 'Destinations',
  auth: { roles: ['admin'] },
  input: z.object({}).strict(),
  output: z.object({ kid: z.string() }),
});
