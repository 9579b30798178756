import { z } from 'zod';
import { Email, Flag, Paging, Search, Time, UserRef, idOf, listOf, many, text } from './common.js';
import { endpoint } from './endpoint.js';
import { routes } from './routes.js';

export const User = z
  .object({
    id: z.string(),
    name: z.string().describe('Email address'),
    created: Time,
    updated: Time,
    lastSeenAt: Time.nullable().describe('Last authenticated request, to the minute'),
    managedBy: z.enum(['api', 'config', 'system']).describe('config: declared in the config file'),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof User>;

/** A user in the list, with who they are at a glance. */
export const UserListItem = User.extend({
  infraRoles: z.array(z.string()).describe('Roles on infra, held directly or through a group'),
  groups: z.array(z.string()).describe('The first few of their groups, by name'),
  totalGroups: z.number().int(),
  origin: z
    .enum(['local', 'provider', 'config', 'system'])
    .describe(
      'config: declared in the config file; provider: signs in through an identity provider; local: has a password here',
    ),
  providers: z.array(z.string()).describe('Identity providers they signed in through'),
  deactivatedBy: z
    .string()
    .nullable()
    .describe(
      'The identity provider that deactivated the user through SCIM (they cannot sign in), or null',
    ),
}).meta({ id: 'UserListItem' });
export type UserListItem = z.infer<typeof UserListItem>;

const allowed = { roles: ['admin', 'view', 'connector'] } as const;

export const listUsers = endpoint({
  ...routes.listUsers,
  summary: 'List users, by name',
  tag: 'Users',
  auth: allowed,
  input: z
    .object({
      name: text(254)
        .transform((s) => s.toLowerCase())
        .optional()
        .describe('Exact name (email; `connector` for the system user)'),
      search: Search.describe('Only users whose email contains this, ignoring case'),
      group: idOf('group').optional().describe('Only members of this group'),
      ids: many(idOf('user')).optional(),
      showSystem: Flag.optional().describe('Include the connector system user'),
      ...Paging,
    })
    .strict(),
  output: listOf(UserListItem),
});

export const createUser = endpoint({
  ...routes.createUser,
  summary: 'Create a user with a one-time password',
  tag: 'Users',
  auth: { roles: ['admin'] },
  input: z.object({ name: Email }).strict(),
  output: User.extend({
    oneTimePassword: z.string().describe('Shown once; the user must change it at first login'),
  }),
});

export const getUser = endpoint({
  ...routes.getUser,
  summary: 'Get a user (`self` for the caller)',
  tag: 'Users',
  auth: { ...allowed, orSelf: true },
  duringPasswordChange: true,
  input: z.object({ id: UserRef }).strict(),
  output: User,
});

export const updateUser = endpoint({
  ...routes.updateUser,
  summary: "Change a user's password",
  tag: 'Users',
  auth: { roles: ['admin'], orSelf: true },
  duringPasswordChange: true,
  input: z
    .object({
      id: UserRef,
      password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
      oldPassword: z
        .string()
        .max(1024)
        .optional()
        .describe('Required when changing your own password'),
    })
    .strict(),
  output: User,
});

export const deleteUser = endpoint({
  ...routes.deleteUser,
  summary: 'Delete a user, with their keys, memberships and grants',
  tag: 'Users',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('user') }).strict(),
  output: undefined,
});
