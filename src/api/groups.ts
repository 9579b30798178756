import { z } from 'zod';
import { Paging, Search, Time, UserRef, idOf, listOf, name } from './common.js';
import { endpoint } from './endpoint.js';
import { routes } from './routes.js';

export const Group = z
  .object({
    id: z.string(),
    name: z.string(),
    created: Time,
    updated: Time,
    totalUsers: z.number().int(),
    managedBy: z.enum(['api', 'config', 'system']),
  })
  .meta({ id: 'Group' });
export type Group = z.infer<typeof Group>;

/** Kubernetes gives `system:` groups powers (`system:masters` is cluster-admin): not ours to name. */
export function isReservedGroupName(s: string): boolean {
  return /^system:/i.test(s);
}

/**
 * A group name: a name people read (`name`: NFC, nothing invisible, one script per word), not
 * starting with `system:` in any case. Slashes and dots are fine: a group name is never a path.
 */
export const GroupName = name(256).refine(
  (s) => !isReservedGroupName(s),
  'must not start with system: (Kubernetes reserves those groups)',
);

export const listGroups = endpoint({
  ...routes.listGroups,
  summary: 'List groups, by name',
  tag: 'Groups',
  auth: { roles: ['admin', 'view', 'connector'], orSelf: true },
  input: z
    .object({
      name: GroupName.optional(),
      search: Search.describe('Only groups whose name contains this, ignoring case'),
      userID: UserRef.optional().describe('Only groups this user is in; `self` is always allowed'),
      ...Paging,
    })
    .strict(),
  output: listOf(Group),
});

export const createGroup = endpoint({
  ...routes.createGroup,
  summary: 'Create a group',
  tag: 'Groups',
  auth: { roles: ['admin'] },
  input: z.object({ name: GroupName }).strict(),
  output: Group,
});

export const getGroup = endpoint({
  ...routes.getGroup,
  summary: 'Get a group (members may see their own groups)',
  tag: 'Groups',
  auth: { roles: ['admin', 'view', 'connector'], orSelf: true },
  input: z.object({ id: idOf('group') }).strict(),
  output: Group,
});

export const deleteGroup = endpoint({
  ...routes.deleteGroup,
  summary: 'Delete a group, with its memberships and grants',
  tag: 'Groups',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('group') }).strict(),
  output: undefined,
});

export const updateGroupUsers = endpoint({
  ...routes.updateGroupUsers,
  summary: 'Add and remove members',
  tag: 'Groups',
  auth: { roles: ['admin'] },
  input: z
    .object({
      id: idOf('group'),
      usersToAdd: z.array(idOf('user')).max(1000).default([]),
      usersToRemove: z.array(idOf('user')).max(1000).default([]),
    })
    .strict(),
  output: Group.extend({
    usersAdded: z.array(z.string()).describe('Users who were not members and now are'),
    usersRemoved: z.array(z.string()).describe('Users who were members and no longer are'),
  }),
});
