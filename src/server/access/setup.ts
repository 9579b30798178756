import { AppError, ConflictError, UnauthenticatedError, assertThat } from '../../shared/errors.js';
import type { Clock } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import { hashSecret, secretMatches } from '../crypto/access-keys.js';
import { hashPassword } from '../crypto/passwords.js';
import { randomString } from '../crypto/random.js';
import { setCredential } from '../data/credentials.js';
import type { Db } from '../data/db.js';
import { countAdmins, createGrant } from '../data/grants.js';
import { deleteSetting, getSetting, setSetting } from '../data/settings.js';
import { createUser, findUser } from '../data/users.js';
import type { RequestContext } from './context.js';
import { checkPasswordPolicy } from './passwords.js';
import { signIn, type Session } from './sessions.js';
import { checkLoginThrottle, recordLoginFailure } from './throttle.js';

const SETUP_TOKEN = 'setupTokenHash';

/**
 * On an install with no admin, makes a new one-time setup token (replacing any earlier one) and
 * returns it for the start-up log; with an admin, forgets any token. Only the token's hash is
 * stored.
 */
export async function prepareSetup(db: Db, clock: Clock): Promise<string | undefined> {
  if ((await countAdmins(db, clock.now())) > 0) {
    await deleteSetting(db, SETUP_TOKEN);
    return undefined;
  }
  const token = randomString(32);
  await setSetting(db, SETUP_TOKEN, hashSecret(token), clock.now());
  return token;
}

export async function getSetup(ctx: RequestContext): Promise<{ required: boolean }> {
  const pending = (await getSetting(ctx.db, SETUP_TOKEN)) !== undefined;
  return { required: pending && (await countAdmins(ctx.db, ctx.clock.now())) === 0 };
}

/** Creates the first admin, given the setup token from the server log, and signs them in. */
export async function setup(
  ctx: RequestContext,
  input: { token: string; name: string; password: string },
): Promise<Session> {
  const now = ctx.clock.now();
  const attempt = { name: 'setup', ip: ctx.sourceIp };
  await checkLoginThrottle(ctx.db, now, attempt);
  const stored = await getSetting(ctx.db, SETUP_TOKEN);
  assertThat(
    stored !== undefined && (await countAdmins(ctx.db, now)) === 0,
    () => new AppError('forbidden', 'setup is already done; sign in instead'),
  );
  if (!secretMatches(input.token, stored)) {
    ctx.afterRollback(async (db) => recordLoginFailure(db, now, attempt));
    ctx.audit({ kind: 'user', name: input.name });
    throw new UnauthenticatedError('wrong setup token');
  }
  checkPasswordPolicy(ctx.settings, input.password, input.name);
  if (await findUser(ctx.db, { byName: input.name })) throw new ConflictError('user', 'name');
  const user = await createUser(ctx.db, {
    id: newId('user', now),
    name: input.name,
    managedBy: 'api',
    now,
  });
  await setCredential(ctx.db, {
    userId: user.id,
    passwordHash: await hashPassword(input.password),
    oneTime: false,
    now,
  });
  await createGrant(ctx.db, {
    id: newId('grant', now),
    subject: { kind: 'user', id: user.id },
    privilege: 'admin',
    resource: 'infra',
    expiresAt: null,
    managedBy: 'api',
    createdBy: user.id,
    now,
  });
  await deleteSetting(ctx.db, SETUP_TOKEN);
  return signIn(ctx, user, { issuedVia: 'setup', details: { role: 'admin' } });
}
