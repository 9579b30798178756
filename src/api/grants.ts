import { z } from 'zod';
import { Email, Flag, Paging, Search, Time, UserRef, idOf, listOf } from './common.js';
import { endpoint } from './endpoint.js';
import { GroupName } from './groups.js';
import { routes } from './routes.js';

/** A destination (cluster) name: letters, digits, `-` and `_`; no dots. */
export const DestinationName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'must be 1-63 letters, digits, - or _, starting with a letter or digit',
  );

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What a grant is on: `infra` (this API), `<destination>` or `<destination>.<namespace>`. */
export const Resource = z.string().superRefine((value, ctx) => {
  if (value === 'infra') return;
  const [destination, namespace, ...rest] = value.split('.');
  if (
    rest.length > 0 ||
    !DestinationName.safeParse(destination).success ||
    (namespace !== undefined && !NAMESPACE.test(namespace))
  ) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be infra, a destination name, or <destination>.<namespace> (a Kubernetes namespace name)',
    });
  }
});

/** A role: `admin` or `view` on `infra`, a Kubernetes ClusterRole name, or `connect`. */
export const Privilege = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,252}$/, 'must be a role name (letters, digits, : . _ -)');

export const Grant = z
  .object({
    id: z.string(),
    user: z.string().optional(),
    userName: z.string().optional(),
    group: z.string().optional(),
    groupName: z.string().optional(),
    privilege: z.string(),
    resource: z.string(),
    created: Time,
    createdBy: z.string().nullable().describe('Id of the user who created it'),
    expiresAt: Time.nullable(),
    managedBy: z.enum(['api', 'config', 'system']),
    request: z
      .string()
      .optional()
      .describe('The access request whose approval made it (a temporary grant)'),
  })
  .meta({ id: 'Grant' });
export type Grant = z.infer<typeof Grant>;

/** Whom a grant is for: exactly one of a user or group, by id or by name. */
const subjectFields = {
  user: idOf('user').optional(),
  userName: Email.optional(),
  group: idOf('group').optional(),
  groupName: GroupName.optional(),
};

function exactlyOneSubject(v: Record<string, unknown>, ctx: z.RefinementCtx) {
  const given = ['user', 'userName', 'group', 'groupName'].filter((k) => v[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: given.length === 0 ? ['user'] : [given[1]!],
      message: 'give exactly one of user, userName, group or groupName',
    });
  }
  if (
    v.resource === 'infra' &&
    v.privilege !== undefined &&
    !['admin', 'view', 'auditor'].includes(v.privilege as string)
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['privilege'],
      message: 'on infra, the role must be admin, view or auditor',
    });
  }
}

const grantFields = {
  ...subjectFields,
  privilege: Privilege,
  resource: Resource,
};

const GrantSpec = z
  .object({
    ...grantFields,
    expiresAt: Time.optional().describe('After this the grant stops counting and is removed'),
  })
  .strict()
  .superRefine(exactlyOneSubject);

export const listGrants = endpoint({
  ...routes.listGrants,
  summary: 'List grants',
  tag: 'Grants',
  auth: { roles: ['admin', 'view', 'connector'], orSelf: true },
  input: z
    .object({
      user: UserRef.optional().describe('Grants of this user (`self` is always allowed)'),
      group: idOf('group').optional().describe('Grants of this group (members may ask)'),
      resource: Resource.optional(),
      privilege: Privilege.optional(),
      kind: z
        .enum(['user', 'group'], { error: 'must be user or group' })
        .optional()
        .describe('Grants of users only, or of groups only'),
      search: Search.describe('Only grants whose user or group name contains this, ignoring case'),
      destination: DestinationName.optional().describe(
        'Grants on the destination and its namespaces',
      ),
      showInherited: Flag.optional().describe("With user: also the grants of the user's groups"),
      showSystem: Flag.optional().describe('Include the connector grant'),
      ...Paging,
    })
    .strict()
    .refine((v) => !(v.user && v.group), {
      path: ['group'],
      message: 'give user or group, not both',
    }),
  output: listOf(Grant),
});

export const getGrant = endpoint({
  ...routes.getGrant,
  summary: 'Get a grant',
  tag: 'Grants',
  auth: { roles: ['admin', 'view', 'connector'] },
  input: z.object({ id: idOf('grant') }).strict(),
  output: Grant,
});

export const createGrant = endpoint({
  ...routes.createGrant,
  summary: 'Grant a role; an existing identical grant is returned with 200',
  tag: 'Grants',
  auth: { roles: ['admin'] },
  input: GrantSpec,
  output: Grant.extend({ wasCreated: z.boolean() }),
});

export const deleteGrant = endpoint({
  ...routes.deleteGrant,
  summary: 'Revoke a grant (not the last admin grant)',
  tag: 'Grants',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('grant') }).strict(),
  output: undefined,
});

const GrantToRemove = z.union([
  z.object({ id: idOf('grant') }).strict(),
  z.object(grantFields).strict().superRefine(exactlyOneSubject),
]);

export const updateGrants = endpoint({
  ...routes.updateGrants,
  summary: 'Add and remove grants in one transaction',
  tag: 'Grants',
  auth: { roles: ['admin'] },
  input: z
    .object({
      grantsToAdd: z.array(GrantSpec).max(1000).default([]),
      grantsToRemove: z.array(GrantToRemove).max(1000).default([]),
    })
    .strict(),
  output: z.object({ added: z.array(Grant), removed: z.array(z.string()) }),
});
