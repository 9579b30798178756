import {
  exchangeProviderLogin,
  loginWithProvider,
  type ProviderLoginResult,
} from './provider-login.js';
import type { RequestContext } from './context.js';
import { loginWithAccessKey, loginWithPassword, type Session } from './sessions.js';

/** A login as the API receives it: exactly one way of proving who the caller is. */
interface LoginInput {
  passwordCredentials?: { name: string; password: string };
  accessKey?: string;
  oidc?: { state: string; code: string };
}

/**
 * The network half of a login, run before the request's transaction: a provider login exchanges
 * its code with the provider (a slow provider never holds the database writer).
 */
export async function prepareLogin(
  ctx: RequestContext,
  input: LoginInput,
): Promise<ProviderLoginResult | undefined> {
  return input.oidc ? exchangeProviderLogin(ctx, input.oidc) : undefined;
}

/** Starts a session by whichever method the input names; each ends in `signIn`. */
export async function login(
  ctx: RequestContext,
  input: LoginInput,
  exchanged: ProviderLoginResult | undefined,
): Promise<Session> {
  if (input.passwordCredentials) return loginWithPassword(ctx, input.passwordCredentials);
  if (input.accessKey !== undefined) return loginWithAccessKey(ctx, input.accessKey);
  return loginWithProvider(ctx, exchanged!);
}
