import { randomBytes } from 'node:crypto';
import {
  AppError,
  LoginRefusedError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  assertThat,
} from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { hashSecret, secretMatches } from '../crypto/access-keys.js';
import { randomString } from '../crypto/random.js';
import { getAccessKey } from '../data/access-keys.js';
import * as data from '../data/providers.js';
import type { ProviderRow } from '../data/providers.js';
import { createUser, findUser, getUser } from '../data/users.js';
import { classifyIdpError } from '../idp/oidc.js';
import type { IdpError, IdpIdentity, IdpSecrets } from '../idp/provider.js';
import { actorOf, type RequestContext } from './context.js';
import { REFUSED_GROUPS, linkProviderUser } from './provider-sync.js';
import { signIn, type Session } from './sessions.js';

/** How long a started provider login or a device request stays usable. */
export const LOGIN_REQUEST_TTL_MS = 10 * 60_000;
/** Seconds a device waits between polls. */
export const DEVICE_POLL_INTERVAL_S = 2;
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Anyone may start a login; this bounds what anonymous callers can make the server store. */
const MAX_PENDING_REQUESTS = 10_000;
/** ...and what one address can take of it (an office behind one NAT logs in at nine). */
const MAX_PENDING_PER_ADDRESS = 200;

/**
 * Starting a login is open to anyone, so it is neither audited (the login itself is) nor allowed
 * to pile up without bound.
 */
async function admitPendingRequest(ctx: RequestContext): Promise<void> {
  ctx.unchanged();
  const now = ctx.clock.now();
  const pending = await data.countPendingRequests(ctx.db, now, ctx.sourceIp);
  // A place frees up when the oldest pending request expires (or sooner, when one finishes).
  const retryAfter = (expiry = now + LOGIN_REQUEST_TTL_MS) =>
    Math.max(1, Math.ceil((expiry - now) / 1000));
  if (pending.fromAddress >= MAX_PENDING_PER_ADDRESS)
    throw new RateLimitedError(
      retryAfter(pending.firstExpiryFromAddress),
      'too many logins started from your address are waiting to be finished; try again in a few minutes',
    );
  if (pending.all >= MAX_PENDING_REQUESTS)
    throw new RateLimitedError(
      retryAfter(pending.firstExpiry),
      'too many logins are waiting to be finished; try again in a few minutes',
    );
}

const LOOPBACK_CALLBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})\/callback$/;

/** The redirect URIs a provider must accept: the dashboard's and the CLI's loopback one. */
export function redirectUris(origin: string): string[] {
  return [`${origin}/login/callback`, 'http://127.0.0.1/callback'];
}

/**
 * Where a login may return to: this server's dashboard callback, or a loopback listener of the
 * CLI (RFC 8252: any port). Anything else could carry the code to someone else.
 */
function checkRedirect(ctx: RequestContext, redirectUrl: string): void {
  const loopback = LOOPBACK_CALLBACK.exec(redirectUrl);
  const ok =
    redirectUrl === `${ctx.origin}/login/callback` ||
    (loopback !== null && Number(loopback[2]) > 0 && Number(loopback[2]) < 65536);
  assertThat(
    ok,
    () =>
      new AppError(
        'bad_request',
        `redirectURL: must be ${ctx.origin}/login/callback or http://127.0.0.1:<port>/callback`,
      ),
  );
}

/** A provider login about to start: built outside the transaction (discovery may be needed). */
interface PreparedProviderLogin {
  provider: ProviderRow;
  redirectUrl: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  authorizationUrl: string;
}

/** The network half of starting a login: PKCE, state and nonce, and the provider's URL. */
export async function prepareProviderLogin(
  ctx: RequestContext,
  input: { id: string; redirectURL: string },
): Promise<PreparedProviderLogin> {
  checkRedirect(ctx, input.redirectURL);
  const provider = await data.getProvider(ctx.db, { byId: input.id });
  const state = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  const codeVerifier = randomBytes(48).toString('base64url');
  let url: URL;
  try {
    url = await ctx.providers.oidc.authorizationUrl(ctx.providers.settingsOf(provider), {
      redirectUri: input.redirectURL,
      state,
      nonce,
      codeVerifier,
    });
  } catch (err) {
    throw new AppError('upstream_failed', classifyIdpError(err, provider.name).message);
  }
  return {
    provider,
    redirectUrl: input.redirectURL,
    state,
    nonce,
    codeVerifier,
    authorizationUrl: url.href,
  };
}

/** Starts an authorization-code login: state, nonce and PKCE verifier kept on the server. */
export async function startProviderLogin(
  ctx: RequestContext,
  prepared: PreparedProviderLogin,
): Promise<{ authorizationUrl: string; expiresAt: number; browserBinding?: string }> {
  await admitPendingRequest(ctx);
  const expiresAt = ctx.clock.now() + LOGIN_REQUEST_TTL_MS;
  // A dashboard login must finish in the browser that began it: otherwise someone could send a
  // victim the callback link of their own sign-in and have the victim's browser use their account.
  const browserBinding =
    prepared.redirectUrl === `${ctx.origin}/login/callback`
      ? randomBytes(32).toString('base64url')
      : undefined;
  await data.createLoginRequest(ctx.db, {
    stateHash: hashSecret(prepared.state),
    providerId: prepared.provider.id,
    redirectUri: prepared.redirectUrl,
    nonce: prepared.nonce,
    codeVerifier: prepared.codeVerifier,
    browserBinding: browserBinding === undefined ? null : hashSecret(browserBinding),
    sourceIp: ctx.sourceIp,
    expiresAt,
  });
  return { authorizationUrl: prepared.authorizationUrl, expiresAt, browserBinding };
}

/** The outcome of the network half of a provider login, handed to the transactional half. */
export type ProviderLoginResult =
  | { ok: true; provider: ProviderRow; identity: IdpIdentity }
  | { ok: false; error: AppError; provider?: ProviderRow };

/**
 * The network half of a provider login, run outside the transaction: take the pending login
 * (single use), exchange the code, verify the ID token, read email and groups.
 */
export async function exchangeProviderLogin(
  ctx: RequestContext,
  callback: { state: string; code: string },
): Promise<ProviderLoginResult> {
  const request = await ctx.providers.takeLoginRequest(hashSecret(callback.state));
  if (!request)
    return {
      ok: false,
      error: new LoginRefusedError(
        'login_unknown',
        'this sign-in is unknown, was already finished, or expired a while ago; start again',
      ),
    };
  if (request.expiresAt <= ctx.clock.now())
    return {
      ok: false,
      error: new LoginRefusedError(
        'login_expired',
        `this sign-in was started more than ${LOGIN_REQUEST_TTL_MS / 60_000} minutes ago; start again`,
      ),
    };
  if (
    request.browserBinding !== null &&
    !secretMatches(ctx.loginBinding ?? '', request.browserBinding)
  )
    return {
      ok: false,
      error: new LoginRefusedError(
        'login_other_browser',
        'this sign-in was started in another browser (or its cookie was blocked); start it again here',
      ),
    };
  let provider: ProviderRow;
  try {
    provider = await data.getProvider(ctx.db, { byId: request.providerId });
  } catch {
    return {
      ok: false,
      error: new LoginRefusedError('login_unknown', 'the provider of this sign-in was removed'),
    };
  }
  let secrets: IdpSecrets;
  try {
    secrets = await ctx.providers.secretsOf(provider);
  } catch (err) {
    // The server's own configuration: the log says which reference failed; the caller only
    // learns that it is not their fault.
    ctx.log.error(
      { provider: provider.name, reason: (err as Error).message },
      "cannot read the provider's secrets",
    );
    const error = new AppError(
      'unavailable',
      `signing in through ${provider.name} is misconfigured on this server; tell an admin (the server log says why)`,
    );
    return { ok: false, error, provider };
  }
  try {
    const identity = await ctx.providers.oidc.exchange(
      ctx.providers.settingsOf(provider),
      secrets,
      { redirectUri: request.redirectUri, code: callback.code, state: callback.state },
      { nonce: request.nonce, codeVerifier: request.codeVerifier },
    );
    return { ok: true, provider, identity };
  } catch (err) {
    const failure = classifyIdpError(err, `login through ${provider.name}`);
    ctx.log.warn({ provider: provider.name, reason: failure.message }, 'provider login failed');
    return { ok: false, error: loginFailure(provider.name, failure), provider };
  }
}

/**
 * What the person signing in is told about a failed exchange: a code and a sentence that say
 * what to do, never the provider's details (those go to the log, for an admin).
 */
function loginFailure(provider: string, failure: IdpError): AppError {
  if (failure.failure === 'unreachable')
    return new AppError('upstream_failed', `${provider} did not answer; try again shortly`);
  if (failure.failure === 'refused')
    return new LoginRefusedError(
      'login_refused',
      `${provider} refused the sign-in (it may have been used already or taken too long); start again`,
    );
  switch (failure.problem) {
    case 'email_unverified':
      return new LoginRefusedError(
        'login_email_unverified',
        `${provider} says your email address is not verified; verify it there, then sign in again`,
      );
    case 'email_missing':
      return new LoginRefusedError(
        'login_email_missing',
        `${provider} did not give a usable email address for you; tell an admin (the provider must send the email claim)`,
      );
    default:
      return new LoginRefusedError(
        'login_check_failed',
        `${provider}'s answer failed a security check, so you were not signed in; tell an admin (the server log names the check)`,
      );
  }
}

/** The transactional half: find or create the user, link them, sync groups, start a session. */
export async function loginWithProvider(
  ctx: RequestContext,
  result: ProviderLoginResult,
): Promise<Session> {
  if (!result.ok) {
    ctx.audit({
      kind: 'provider',
      id: result.provider?.id ?? null,
      name: result.provider?.name ?? null,
      details: { method: 'provider' },
    });
    throw result.error;
  }
  const { provider, identity } = result;
  const now = ctx.clock.now();
  // An account seen before is the user it was linked to, whatever its email says now (emails
  // change; the subject does not).
  const bySubject = await data.findProviderUser(ctx.db, {
    providerId: provider.id,
    subject: identity.subject,
  });
  let user = bySubject
    ? await getUser(ctx.db, { byId: bySubject.userId })
    : await findUser(ctx.db, { byName: identity.email });
  assertThat(
    user === undefined || user.kind === 'user',
    () => new UnauthenticatedError('system users cannot log in'),
  );
  if (!bySubject && user) {
    // Taking over an existing user (a local admin, someone from another provider) needs the
    // provider to vouch for the address, and the user must not be linked here to someone else.
    assertThat(
      identity.emailVerified,
      () =>
        new LoginRefusedError(
          'login_email_unverified',
          `${provider.name} does not say ${identity.email} is verified, so it cannot sign in as the existing user of that name; verify it there, then sign in again`,
        ),
    );
    const linked = await data.findProviderUser(ctx.db, {
      providerId: provider.id,
      userId: user.id,
    });
    assertThat(
      linked === undefined,
      () =>
        new LoginRefusedError(
          'login_account_conflict',
          `${identity.email} is linked to another account at ${provider.name}; tell an admin`,
        ),
    );
  }
  user ??= await createUser(ctx.db, {
    id: newId('user', now),
    name: identity.email,
    managedBy: 'api',
    now,
  });
  if (identity.refreshToken === undefined)
    ctx.log.warn(
      { provider: provider.name },
      'the provider issued no refresh token (add the offline_access scope): groups are synced only at login',
    );
  if (identity.groupsError)
    ctx.log.warn(
      { provider: provider.name, reason: identity.groupsError },
      'could not read groups',
    );
  if (identity.refusedGroups.length > 0)
    ctx.log.warn({ provider: provider.name, refused: identity.refusedGroups }, REFUSED_GROUPS);
  await linkProviderUser(ctx.db, ctx.providers, provider, user.id, identity, now);
  return signIn(ctx, user, {
    issuedVia: 'provider',
    details: { method: 'provider', provider: provider.name },
    providerId: provider.id,
  });
}

// --- device flow ---

function normalizeUserCode(code: string): string {
  const letters = code.replace('-', '');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

export async function createDeviceRequest(ctx: RequestContext): Promise<{
  deviceCode: string;
  userCode: string;
  verificationUrl: string;
  expiresAt: number;
}> {
  await admitPendingRequest(ctx);
  const now = ctx.clock.now();
  const deviceCode = randomBytes(32).toString('base64url');
  const userCode = normalizeUserCode(randomString(8, USER_CODE_ALPHABET));
  const expiresAt = now + LOGIN_REQUEST_TTL_MS;
  await data.createDeviceRequest(ctx.db, {
    deviceCodeHash: hashSecret(deviceCode),
    userCode,
    approvedBy: null,
    approvedKeyId: null,
    sourceIp: ctx.sourceIp,
    expiresAt,
    createdAt: now,
  });
  return { deviceCode, userCode, verificationUrl: `${ctx.origin}/device`, expiresAt };
}

/**
 * A device polls: pending until a browser approves, then the approver's session, once. A pending
 * poll changes nothing (and is not audited).
 */
export async function getDeviceStatus(
  ctx: RequestContext,
  deviceCode: string,
): Promise<Session | undefined> {
  const hash = hashSecret(deviceCode);
  const request = await data.findDeviceRequest(ctx.db, hash);
  assertThat(
    request !== undefined && request.expiresAt > ctx.clock.now(),
    () =>
      new AppError(
        'expired',
        'this device login is unknown, used or expired (codes last 10 minutes); start again',
      ),
  );
  if (request.approvedBy === null) {
    ctx.unchanged();
    return undefined;
  }
  // Whoever deletes it first gets the session; a second poll finds nothing.
  if (!(await data.deleteDeviceRequest(ctx.db, hash)))
    throw new AppError('expired', 'this device login was already used; start again');
  const user = await getUser(ctx.db, { byId: request.approvedBy });
  // The approving session still exists (the request would have gone with it): the device's is
  // made from it, so it ends with it, lasts and idles no longer, and keeps its provider.
  const approver = await getAccessKey(ctx.db, { byId: request.approvedKeyId! });
  return signIn(ctx, user, {
    issuedVia: 'device',
    details: { method: 'device', userCode: request.userCode },
    parent: approver,
  });
}

/** A signed-in browser approves a device login as its own user. */
export async function approveDevice(ctx: RequestContext, userCode: string): Promise<void> {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user',
    () => new AppError('forbidden', 'system users cannot approve device logins'),
  );
  const code = normalizeUserCode(userCode);
  const approved = await data.approveDeviceRequest(
    ctx.db,
    code,
    { userId: actor.userId, keyId: actor.accessKeyId },
    ctx.clock.now(),
  );
  assertThat(
    approved,
    () =>
      new NotFoundError(
        'device login',
        `no device is waiting for code ${code}; codes last 10 minutes and work once`,
      ),
  );
  ctx.audit({ kind: 'deviceRequest', name: code, details: { approvedFor: actor.name } });
}
