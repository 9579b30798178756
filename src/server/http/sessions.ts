import { endpoints, type Endpoints } from '../../api/endpoints.js';
import { PASSWORD_MAX_LENGTH } from '../access/passwords.js';
import * as providers from '../access/providers.js';
import * as sessions from '../access/sessions.js';
import * as setupAccess from '../access/setup.js';
import { sessionToApi } from './convert.js';
import { withPrepare, type Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

/** Provider logins exchange the code with the provider before the transaction starts. */
export const login: H<'login'> = withPrepare(
  endpoints.login,
  async (ctx, input) => (input.oidc ? providers.exchangeProviderLogin(ctx, input.oidc) : undefined),
  async (ctx, input, prepared) => {
    const session = input.passwordCredentials
      ? await sessions.loginWithPassword(ctx, input.passwordCredentials)
      : input.accessKey !== undefined
        ? await sessions.loginWithAccessKey(ctx, input.accessKey)
        : await providers.loginWithProvider(ctx, prepared!);
    if (input.oidc) ctx.setLoginBinding(undefined, 0);
    ctx.startSession(session);
    return sessionToApi(session);
  },
);

export const logout: H<'logout'> = async (ctx) => {
  await sessions.logout(ctx);
  ctx.endSession();
};

export const getSetup: H<'getSetup'> = async (ctx) => setupAccess.getSetup(ctx);

export const setup: H<'setup'> = async (ctx, input) => {
  const session = await setupAccess.setup(ctx, input);
  ctx.startSession(session);
  return sessionToApi(session);
};

export const getSettings: H<'getSettings'> = async (ctx) => ({
  passwordRequirements: {
    minLength: ctx.settings.passwordMinLength,
    maxLength: PASSWORD_MAX_LENGTH,
  },
});
