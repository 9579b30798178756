import { z } from 'zod';
import { Time } from './common.js';
import { endpoint } from './endpoint.js';
import { Resource } from './grants.js';
import { routes } from './routes.js';

const Membership = z.object({
  source: z
    .enum(['manual', 'config', 'provider', 'scim', 'other'])
    .describe('manual: added by an admin; provider: synced from an identity provider'),
  provider: z.string().optional().describe('provider, scim: the identity provider'),
  detail: z.string().optional().describe('other: the membership source as recorded'),
  since: Time,
});

const Binding = z.object({
  kind: z.enum(['ClusterRoleBinding', 'RoleBinding']),
  name: z.string(),
  namespace: z.string().nullable(),
  subject: z.object({ kind: z.enum(['User', 'Group']), name: z.string() }),
});

const AccessPath = z.object({
  role: z.string(),
  resource: z.string().describe("The grant's resource"),
  appliesToTarget: z
    .boolean()
    .describe(
      'A grant on the cluster applies to all its namespaces; one on a namespace, there only',
    ),
  via: z.object({
    kind: z.enum(['user', 'group']),
    group: z.string().optional(),
    memberships: z
      .array(Membership)
      .optional()
      .describe('group: how the user is in it (one entry per source)'),
  }),
  grant: z.object({
    id: z.string(),
    managedBy: z.enum(['api', 'config', 'system']),
    expiresAt: Time.nullable(),
  }),
  request: z
    .object({ id: z.string(), reason: z.string(), approvedBy: z.array(z.string()) })
    .nullable()
    .describe('The access request that made this temporary grant'),
  binding: Binding.nullable().describe('What the connector writes for it (none for connect)'),
  roleOffered: z.boolean().describe('The destination offers this ClusterRole'),
  allows: z
    .boolean()
    .nullable()
    .describe('With verb and resource: whether the role allows it (null: its rules are unknown)'),
});

const Suggestion = z.object({
  role: z.string(),
  resource: z.string(),
  requestable: z.boolean().describe('A request policy lets the user ask for it'),
  policy: z.string().nullable(),
  approvers: z.object({ users: z.array(z.string()), groups: z.array(z.string()) }).nullable(),
  approvalsRequired: z.number().int().nullable(),
  maxDuration: z.string().nullable(),
  command: z.string().describe('What to run'),
});

export const Explanation = z
  .object({
    user: z.object({ id: z.string(), name: z.string() }),
    target: z.string(),
    destination: z.string(),
    namespace: z.string().nullable(),
    destinationConnected: z.boolean().describe('A connector registered this destination'),
    hasAccess: z.boolean().describe('Some grant lets the user reach the target'),
    check: z
      .object({ verb: z.string(), resource: z.string(), allowed: z.boolean().nullable() })
      .nullable(),
    paths: z.array(AccessPath),
    suggestion: Suggestion.nullable().describe(
      'When access (or the verb) is missing: the smallest grant that would give it',
    ),
  })
  .meta({ id: 'Explanation' });
export type Explanation = z.infer<typeof Explanation>;

const KubeVerb = z
  .string()
  .regex(/^[a-z*]{1,32}$/, 'must be a Kubernetes verb such as get or create');
const KubeResource = z
  .string()
  .regex(/^[a-z0-9*.-]{1,100}(\/[a-z*]{1,50})?$/, 'must be a resource such as pods or pods/exec');

export const explainAccess = endpoint({
  ...routes.explainAccess,
  summary: 'Why a user has (or lacks) access to a destination or namespace, and what would give it',
  tag: 'Access requests',
  auth: { roles: ['admin'], orSelf: true },
  input: z
    .object({
      user: z.string().min(1).max(254).describe('A user id, name (email) or self'),
      destination: Resource.refine((r) => r !== 'infra', 'must be a destination or namespace'),
      verb: KubeVerb.optional(),
      resource: KubeResource.optional(),
    })
    .strict()
    .refine((v) => (v.verb === undefined) === (v.resource === undefined), {
      path: ['resource'],
      message: 'give verb and resource together',
    }),
  output: Explanation,
});
