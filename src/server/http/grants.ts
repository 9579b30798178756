import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/grants.js';
import { grantToApi, pageToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listGrants: H<'listGrants'> = async (ctx, input) =>
  pageToApi(await access.listGrants(ctx, input), input.limit, grantToApi);

export const getGrant: H<'getGrant'> = async (ctx, input) =>
  grantToApi(await access.getGrant(ctx, input.id));

export const createGrant: H<'createGrant'> = async (ctx, input) => {
  const { grant, created } = await access.createGrant(ctx, input);
  // An identical grant already existed: nothing was created, so 200 rather than 201.
  if (!created) ctx.setStatus(200);
  return { ...grantToApi(grant), wasCreated: created };
};

export const deleteGrant: H<'deleteGrant'> = async (ctx, input) =>
  access.deleteGrant(ctx, input.id);

export const updateGrants: H<'updateGrants'> = async (ctx, input) => {
  const { added, removed } = await access.updateGrants(ctx, input);
  return { added: added.map(grantToApi), removed };
};
