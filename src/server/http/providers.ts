import { endpoints, type Endpoints } from '../../api/endpoints.js';
import type { Provider as ApiProvider, ProviderDetails } from '../../api/providers.js';
import { toIsoString } from '../../shared/time.js';
import * as login from '../access/provider-login.js';
import * as access from '../access/providers.js';
import { createScimKey as createScimKeyOp } from '../access/scim.js';
import type { Provider, ProviderDetails as Details } from '../models.js';
import { pageToApi, sessionToApi } from './convert.js';
import { withPrepare, type Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

function providerToApi(p: Provider): ApiProvider {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind,
    url: p.issuer,
    clientID: p.clientId,
    scopes: p.scopes,
    groupsClaim: p.groupsClaim,
    managedBy: p.managedBy === 'config' ? 'config' : 'api',
    created: toIsoString(p.createdAt),
    updated: toIsoString(p.updatedAt),
  };
}

function providerDetailsToApi(p: Details, origin: string): ProviderDetails {
  return {
    ...providerToApi(p),
    clientSecretRef: p.clientSecretRef,
    apiURL: p.apiUrl,
    domainAdminEmail: p.domainAdminEmail,
    serviceAccountKeySet: p.serviceAccountKeySet,
    redirectURIs: login.redirectUris(origin),
    linkedUsers: p.linkedUsers,
    usersWithoutRefreshToken: p.usersWithoutRefreshToken,
  };
}

export const listProviders: H<'listProviders'> = async (ctx, input) =>
  pageToApi(await access.listProviders(ctx, input), input.limit, providerToApi);

export const getProvider: H<'getProvider'> = async (ctx, input) =>
  providerDetailsToApi(await access.getProvider(ctx, input.id), ctx.origin);

export const createProvider: H<'createProvider'> = withPrepare(
  endpoints.createProvider,
  (ctx, input) => access.checkProvider(ctx, input),
  async (ctx, input) => providerDetailsToApi(await access.createProvider(ctx, input), ctx.origin),
);

export const updateProvider: H<'updateProvider'> = withPrepare(
  endpoints.updateProvider,
  (ctx, input) => access.checkProvider(ctx, input),
  async (ctx, { id, ...input }) =>
    providerDetailsToApi(await access.updateProvider(ctx, id, input), ctx.origin),
);

export const deleteProvider: H<'deleteProvider'> = async (ctx, input) =>
  access.deleteProvider(ctx, input.id);

/** Discovery (when not cached) happens before the transaction, never holding the writer. */
export const startProviderLogin: H<'startProviderLogin'> = withPrepare(
  endpoints.startProviderLogin,
  (ctx, input) => login.prepareProviderLogin(ctx, input),
  async (ctx, _input, prepared) => {
    const started = await login.startProviderLogin(ctx, prepared);
    if (started.browserBinding)
      ctx.setLoginBinding(started.browserBinding, login.LOGIN_REQUEST_TTL_MS / 1000);
    return {
      authorizationURL: started.authorizationUrl,
      expires: toIsoString(started.expiresAt),
    };
  },
);

export const createDeviceRequest: H<'createDeviceRequest'> = async (ctx) => {
  const r = await login.createDeviceRequest(ctx);
  return {
    deviceCode: r.deviceCode,
    userCode: r.userCode,
    verificationURL: r.verificationUrl,
    verificationURLComplete: `${r.verificationUrl}?code=${r.userCode}`,
    expires: toIsoString(r.expiresAt),
    interval: login.DEVICE_POLL_INTERVAL_S,
  };
};

export const getDeviceStatus: H<'getDeviceStatus'> = async (ctx, input) => {
  const session = await login.getDeviceStatus(ctx, input.deviceCode);
  return session
    ? { status: 'approved' as const, login: sessionToApi(session) }
    : { status: 'pending' as const };
};

export const approveDevice: H<'approveDevice'> = async (ctx, input) =>
  login.approveDevice(ctx, input.userCode);

export const createScimKey: H<'createScimKey'> = async (ctx, input) => {
  const key = await createScimKeyOp(ctx, input);
  return {
    id: key.id,
    name: key.name,
    expires: toIsoString(key.expiresAt),
    url: key.url,
    accessKey: key.accessKey,
  };
};
