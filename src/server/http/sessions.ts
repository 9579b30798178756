import { endpoints, type Endpoints } from '../../api/endpoints.js';
import { PASSWORD_MAX_LENGTH } from '../access/passwords.js';
import * as access from '../access/login.js';
import * as sessions from '../access/sessions.js';
import * as setupAccess from '../access/setup.js';
import { sessionToApi } from './convert.js';
import { withPrepare, type Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const login: H<'login'> = withPrepare(
  endpoints.login,
  (ctx, input) => access.prepareLogin(ctx, input),
  async (ctx, input, exchanged) => {
    const session = await access.login(ctx, input, exchanged);
    // The browser binding of a provider login is spent.
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
  tls: ctx.serverCertificate(),
});
