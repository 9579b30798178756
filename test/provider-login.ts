/**
 * A provider login the way the dashboard does it, over raw HTTP so the browser-binding cookie the
 * server sets when the login starts goes back with the callback, as a browser would send it.
 */
import type { LoginResponse } from '../src/api/login.js';
import { ApiError } from '../src/api/errors.js';
import { rawRequest } from './http.js';
import type { TestIdp } from './oidc-provider.js';
import type { TestServer } from './server.js';

export interface DashboardLogin {
  /** The cookie the server set when the login started (`name=value`). */
  cookie: string;
  callback: { state: string; code: string };
  /** Finishes the login; `cookie` overrides the browser's cookie (undefined: none). */
  login(options?: { cookie?: string | null }): Promise<LoginResponse>;
}

export async function dashboardLogin(
  server: TestServer,
  idp: TestIdp,
  providerId: string,
  account: string,
): Promise<DashboardLogin> {
  const redirectURL = `${server.url}/login/callback`;
  const started = await rawRequest(`${server.url}/api/providers/${providerId}/authorize`, {
    method: 'POST',
    ca: server.ca,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirectURL }),
  });
  if (started.status !== 201)
    throw new Error(`authorize answered ${started.status}: ${started.body}`);
  const setCookie = ([] as string[]).concat(started.headers['set-cookie'] ?? []);
  const cookie = setCookie.find((c) => c.startsWith('__Host-infra-login='))?.split(';')[0] ?? '';
  const back = await idp.signIn(
    started.json<{ authorizationURL: string }>().authorizationURL,
    account,
  );
  if (`${back.origin}${back.pathname}` !== redirectURL)
    throw new Error(`the provider sent the browser to ${back.href}`);
  const callback = { state: back.searchParams.get('state')!, code: back.searchParams.get('code')! };
  return {
    cookie,
    callback,
    async login(options = {}) {
      const sent = options.cookie === undefined ? cookie : options.cookie;
      const res = await rawRequest(`${server.url}/api/login`, {
        method: 'POST',
        ca: server.ca,
        headers: { 'content-type': 'application/json', ...(sent ? { cookie: sent } : {}) },
        body: JSON.stringify({ oidc: callback }),
      });
      if (res.status !== 201) throw new ApiError(res.status, res.json());
      return res.json<LoginResponse>();
    },
  };
}
