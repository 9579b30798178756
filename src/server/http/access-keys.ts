import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/access-keys.js';
import { accessKeyToApi, pageToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listAccessKeys: H<'listAccessKeys'> = async (ctx, input) =>
  pageToApi(await access.listAccessKeys(ctx, input), input.limit, (k) =>
    accessKeyToApi(k, ctx.actor?.accessKeyId),
  );

export const createAccessKey: H<'createAccessKey'> = async (ctx, input) => {
  const { key, accessKey } = await access.createAccessKey(ctx, input);
  return { ...accessKeyToApi(key), accessKey };
};

export const deleteAccessKey: H<'deleteAccessKey'> = async (ctx, input) =>
  access.deleteAccessKey(ctx, input.id);

export const deleteAccessKeys: H<'deleteAccessKeys'> = async (ctx, input) =>
  access.deleteAccessKeysByName(ctx, input);
