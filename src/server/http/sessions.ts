import type { Endpoints } from '../../api/endpoints.js';
import { PASSWORD_MAX_LENGTH } from '../access/passwords.js';
import * as sessions from '../access/sessions.js';
import * as setupAccess from '../access/setup.js';
import { sessionToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const login: H<'login'> = async (ctx, input) => {
  const session = input.passwordCredentials
    ? await sessions.loginWithPassword(ctx, input.passwordCredentials)
    : await sessions.loginWithAccessKey(ctx, input.accessKey!);
  ctx.startSession(session);
  return sessionToApi(session);
};

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
