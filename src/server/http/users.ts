import type { Handler } from './route.js';
import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/users.js';
import { pageToApi, userListItemToApi, userToApi } from './convert.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listUsers: H<'listUsers'> = async (ctx, input) =>
  pageToApi(await access.listUsers(ctx, input), input.limit, userListItemToApi);

export const createUser: H<'createUser'> = async (ctx, input) => {
  const { user, oneTimePassword } = await access.createUser(ctx, input.name);
  return { ...userToApi(user), oneTimePassword };
};

export const getUser: H<'getUser'> = async (ctx, input) =>
  userToApi(await access.getUser(ctx, input.id));

export const updateUser: H<'updateUser'> = async (ctx, input) =>
  userToApi(await access.updateUserPassword(ctx, input));

export const deleteUser: H<'deleteUser'> = async (ctx, input) => access.deleteUser(ctx, input.id);
