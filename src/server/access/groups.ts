import { AppError, ValidationError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import * as data from '../data/groups.js';
import { listUsers } from '../data/users.js';
import type { Group, Page } from '../models.js';
import { assertAdminRemains } from './admins.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';

export async function listGroups(
  ctx: RequestContext,
  opts: { name?: string; search?: string; userID?: string; after?: string; limit: number },
): Promise<Page<Group>> {
  const userId = opts.userID === undefined ? undefined : resolveUserRef(ctx, opts.userID);
  ctx.authorize(userId !== undefined && userId === actorOf(ctx).userId);
  return data.listGroups(ctx.db, {
    byName: opts.name,
    search: opts.search,
    count: true,
    byUserId: userId,
    after: opts.after,
    limit: opts.limit,
  });
}

export async function getGroup(ctx: RequestContext, id: string): Promise<Group> {
  ctx.authorize(await data.isGroupMember(ctx.db, id, actorOf(ctx).userId));
  return data.getGroup(ctx.db, { byId: id });
}

export async function createGroup(ctx: RequestContext, name: string): Promise<Group> {
  const now = ctx.clock.now();
  const group = await data.createGroup(ctx.db, {
    id: newId('group', now),
    name,
    managedBy: 'api',
    now,
  });
  ctx.audit({ kind: 'group', id: group.id, name: group.name });
  return group;
}

export async function deleteGroup(ctx: RequestContext, id: string): Promise<void> {
  const group = await data.getGroup(ctx.db, { byId: id });
  assertThat(
    group.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `group ${group.name} is declared in the server's config file; remove it there`,
      ),
  );
  await data.deleteGroup(ctx.db, id, ctx.clock.now());
  await assertAdminRemains(ctx);
  ctx.audit({ kind: 'group', id, name: group.name });
}

/** Adds and removes members (the memberships admins manage; provider-synced ones stay). */
export async function updateGroupUsers(
  ctx: RequestContext,
  input: { id: string; usersToAdd: string[]; usersToRemove: string[] },
): Promise<Group & { usersAdded: string[]; usersRemoved: string[] }> {
  const group = await data.getGroup(ctx.db, { byId: input.id });
  const mentioned = [...new Set([...input.usersToAdd, ...input.usersToRemove])];
  const found = await listUsers(ctx.db, { byIds: mentioned, limit: mentioned.length || 1 });
  const known = new Set(found.items.map((u) => u.id));
  const unknown = (ids: string[]) => ids.filter((id) => !known.has(id));
  const fieldErrors = [
    { field: 'usersToAdd', errors: unknown(input.usersToAdd).map((id) => `no user with id ${id}`) },
    {
      field: 'usersToRemove',
      errors: unknown(input.usersToRemove).map((id) => `no user with id ${id}`),
    },
  ].filter((f) => f.errors.length > 0);
  if (fieldErrors.length > 0) throw new ValidationError(fieldErrors);
  // Only what changes is done and logged: adding a member twice, or removing a non-member,
  // changes nothing (memberships from other sources are theirs to change).
  const before = new Set(await data.listGroupMemberIds(ctx.db, group.id, mentioned, 'api'));
  const usersAdded = [...new Set(input.usersToAdd)].filter((id) => !before.has(id));
  const usersRemoved = [...new Set(input.usersToRemove)].filter((id) => before.has(id));
  const now = ctx.clock.now();
  await data.addGroupMembers(ctx.db, group.id, usersAdded, 'api', now);
  await data.removeGroupMembers(ctx.db, group.id, usersRemoved, 'api', now);
  if (usersRemoved.length > 0) await assertAdminRemains(ctx);
  if (usersAdded.length === 0 && usersRemoved.length === 0) ctx.unchanged();
  else
    ctx.audit({
      kind: 'group',
      id: group.id,
      name: group.name,
      details: { usersAdded, usersRemoved },
    });
  return { ...(await data.getGroup(ctx.db, { byId: group.id })), usersAdded, usersRemoved };
}
