import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/groups.js';
import { groupToApi, pageToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listGroups: H<'listGroups'> = async (ctx, input) =>
  pageToApi(await access.listGroups(ctx, input), input.limit, groupToApi);

export const createGroup: H<'createGroup'> = async (ctx, input) =>
  groupToApi(await access.createGroup(ctx, input.name));

export const getGroup: H<'getGroup'> = async (ctx, input) =>
  groupToApi(await access.getGroup(ctx, input.id));

export const deleteGroup: H<'deleteGroup'> = async (ctx, input) =>
  access.deleteGroup(ctx, input.id);

export const updateGroupUsers: H<'updateGroupUsers'> = async (ctx, input) => {
  const group = await access.updateGroupUsers(ctx, input);
  return { ...groupToApi(group), usersAdded: group.usersAdded, usersRemoved: group.usersRemoved };
};
