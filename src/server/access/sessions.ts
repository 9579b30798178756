import { AppError, UnauthenticatedError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { generateAccessKey, hashSecret } from '../crypto/access-keys.js';
import { decoyHash, hashPassword, needsRehash, verifyPassword } from '../crypto/passwords.js';
import { createAccessKey, deleteAccessKey, getAccessKey } from '../data/access-keys.js';
import { getCredential, setCredential } from '../data/credentials.js';
import type { Db } from '../data/db.js';
import { findUserDeactivation } from '../data/scim.js';
import { findUser } from '../data/users.js';
import { PASSWORD_CHANGE_SCOPE, type AccessKey, type IssuedVia, type User } from '../models.js';
import { checkAccessKey } from './authenticate.js';
import { actorOf, type RequestContext } from './context.js';
import { checkLoginThrottle, clearLoginFailures, recordLoginFailure } from './throttle.js';

/** A session as the client receives it once. */
export interface Session {
  userId: string;
  name: string;
  accessKey: string;
  expiresAt: number;
  passwordUpdateRequired: boolean;
}

/** The limits of a credential: when it ends, and after how long unused (0: never). */
export interface CredentialLimits {
  expiresAt: number;
  inactivityTimeout: number;
}

/**
 * The limits of a credential made from `parent`: it ends when the parent ends (the parent id is
 * recorded and checked at every use), lives no longer and idles no longer than it, and stays tied
 * to the parent's identity provider.
 */
export function derivedFrom(
  parent: Pick<AccessKey, 'id' | 'expiresAt' | 'inactivityTimeout' | 'providerId'>,
  wanted: CredentialLimits,
): CredentialLimits & { parentId: string; providerId?: string } {
  const idle = parent.inactivityTimeout;
  return {
    parentId: parent.id,
    expiresAt: Math.min(wanted.expiresAt, parent.expiresAt),
    inactivityTimeout:
      idle > 0 && (wanted.inactivityTimeout === 0 || wanted.inactivityTimeout > idle)
        ? idle
        : wanted.inactivityTimeout,
    providerId: parent.providerId ?? undefined,
  };
}

/** Creates an access key that serves as a session for `user`. */
async function issueSession(
  db: Db,
  user: Pick<User, 'id' | 'name'>,
  opts: CredentialLimits & {
    issuedVia: IssuedVia;
    now: number;
    scopes?: string[];
    providerId?: string;
    parentId?: string;
  },
): Promise<Session> {
  const key = generateAccessKey();
  await createAccessKey(db, {
    id: newId('accessKey', opts.now),
    keyId: key.keyId,
    secretHash: hashSecret(key.secret),
    name: `session-${key.keyId}`,
    userId: user.id,
    issuedVia: opts.issuedVia,
    scopes: opts.scopes ?? [],
    managedBy: 'api',
    now: opts.now,
    expiresAt: opts.expiresAt,
    inactivityTimeout: opts.inactivityTimeout,
    providerId: opts.providerId,
    parentId: opts.parentId,
  });
  return {
    userId: user.id,
    name: user.name,
    accessKey: key.text,
    expiresAt: opts.expiresAt,
    passwordUpdateRequired: (opts.scopes ?? []).includes(PASSWORD_CHANGE_SCOPE),
  };
}

/** What a login method establishes besides the user: how, and facts for the audit entry. */
interface LoginOutcome {
  issuedVia: IssuedVia;
  /** The audit entry's details (never secrets). */
  details: Record<string, unknown>;
  /** The credential the session is made from (key exchange, device approval), if any. */
  parent?: Pick<AccessKey, 'id' | 'expiresAt' | 'inactivityTimeout' | 'providerId'>;
  scopes?: string[];
  providerId?: string;
}

/**
 * The end of every successful login, whatever proved who the user is (a password, an access
 * key, an identity provider, a device approval, the setup token): one audit entry, then a session
 * with the server's session limits, or within its parent's when made from another credential.
 */
export async function signIn(
  ctx: RequestContext,
  user: Pick<User, 'id' | 'name'>,
  login: LoginOutcome,
): Promise<Session> {
  const now = ctx.clock.now();
  ctx.audit({ kind: 'user', id: user.id, name: user.name, actor: user, details: login.details });
  // Deactivated by their identity provider through SCIM: no way in until it reactivates them.
  if (await findUserDeactivation(ctx.db, user.id))
    throw new AppError(
      'login_deactivated',
      'your identity provider has deactivated your account; ask an admin if this is a mistake',
    );
  const limits = {
    expiresAt: now + ctx.settings.sessionDuration,
    inactivityTimeout: ctx.settings.sessionInactivityTimeout,
  };
  return issueSession(ctx.db, user, {
    issuedVia: login.issuedVia,
    now,
    scopes: login.scopes,
    providerId: login.providerId,
    ...(login.parent ? derivedFrom(login.parent, limits) : limits),
  });
}

/**
 * Password login. Locked-out names and addresses are refused before the password is looked at;
 * a failure is counted (after the request's transaction rolls back) and answered like every
 * other authentication failure, taking as long whether or not the name exists.
 */
export async function loginWithPassword(
  ctx: RequestContext,
  credentials: { name: string; password: string },
): Promise<Session> {
  const now = ctx.clock.now();
  const attempt = { name: credentials.name, ip: ctx.sourceIp };
  await checkLoginThrottle(ctx.db, now, attempt);
  const user = await findUser(ctx.db, { byName: credentials.name });
  const credential =
    user && user.kind === 'user' ? await getCredential(ctx.db, user.id) : undefined;
  const ok = await verifyPassword(
    credential?.passwordHash ?? (await decoyHash()),
    credentials.password,
  );
  if (!user || !credential || !ok) {
    ctx.afterRollback(async (db) => recordLoginFailure(db, now, attempt));
    ctx.audit({ kind: 'user', id: user?.id ?? null, name: credentials.name.slice(0, 254) });
    throw new UnauthenticatedError(`failed password login for ${credentials.name}`);
  }
  await clearLoginFailures(ctx.db, attempt);
  if (needsRehash(credential.passwordHash)) {
    await setCredential(ctx.db, {
      ...credential,
      passwordHash: await hashPassword(credentials.password),
      now,
    });
  }
  return signIn(ctx, user, {
    issuedVia: 'password',
    details: { method: 'password' },
    scopes: credential.oneTime ? [PASSWORD_CHANGE_SCOPE] : [],
  });
}

/**
 * Exchanges an access key (from `infra login --key`) for a session of the same user, made from
 * the key: it ends when the key ends (deleted, expired or idle) and never idles longer than it.
 */
export async function loginWithAccessKey(ctx: RequestContext, presented: string): Promise<Session> {
  const key = await checkAccessKey(ctx.db, ctx.clock, presented).catch((err: unknown) => {
    ctx.audit({ kind: 'accessKey', details: { method: 'accessKey' } });
    throw err;
  });
  assertThat(
    key.userKind === 'user',
    () => new AppError('bad_request', 'system users cannot log in'),
  );
  assertThat(
    !key.scopes.includes(PASSWORD_CHANGE_SCOPE),
    () => new AppError('password_change_required', 'change your one-time password first'),
  );
  return signIn(
    ctx,
    { id: key.userId, name: key.userName },
    { issuedVia: 'key-exchange', details: { method: 'accessKey' }, parent: key },
  );
}

/**
 * Ends the calling session, and the credentials made from it. A key declared in the config file
 * is not a session to end: it is removed from the file, as `DELETE` on it says.
 */
export async function logout(ctx: RequestContext): Promise<void> {
  const actor = actorOf(ctx);
  const key = await getAccessKey(ctx.db, { byId: actor.accessKeyId });
  assertThat(
    key.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `access key ${key.name} is declared in the server's config file; remove it there`,
      ),
  );
  const ended = await deleteAccessKey(ctx.db, actor.accessKeyId, ctx.clock.now());
  ctx.audit({
    kind: 'accessKey',
    id: actor.accessKeyId,
    name: key.name,
    ...(ended.length > 1 && { details: { derivedEnded: ended.length - 1 } }),
  });
}
