import { AppError, ValidationError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { generateOneTimePassword, hashPassword, verifyPassword } from '../crypto/passwords.js';
import {
  deleteAccessKeys,
  getAccessKey,
  listAccessKeyAncestors,
  updateAccessKeyScopes,
} from '../data/access-keys.js';
import { getCredential, setCredential } from '../data/credentials.js';
import * as data from '../data/users.js';
import { PASSWORD_CHANGE_SCOPE, type Page, type User, type UserSummary } from '../models.js';
import { assertAdminRemains } from './admins.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';
import { checkPasswordPolicy } from './passwords.js';
import { checkLoginThrottle, clearLoginFailures, recordLoginFailure } from './throttle.js';

/** A page of users with who each is at a glance (roles on infra, groups, origin), and the total. */
export async function listUsers(
  ctx: RequestContext,
  opts: {
    name?: string;
    search?: string;
    group?: string;
    ids?: string[];
    showSystem?: boolean;
    after?: string;
    limit: number;
  },
): Promise<Page<User & { summary: UserSummary }>> {
  const page = await data.listUsers(ctx.db, {
    byName: opts.name,
    search: opts.search,
    byGroupId: opts.group,
    byIds: opts.ids,
    includeSystem: opts.showSystem,
    count: true,
    after: opts.after,
    limit: opts.limit,
  });
  const summaries = await data.summarizeUsers(
    ctx.db,
    page.items.map((u) => u.id),
    ctx.clock.now(),
  );
  return { ...page, items: page.items.map((u) => ({ ...u, summary: summaries.get(u.id)! })) };
}

export async function getUser(ctx: RequestContext, ref: string): Promise<User> {
  const id = resolveUserRef(ctx, ref);
  ctx.authorize(id === actorOf(ctx).userId);
  return data.getUser(ctx.db, { byId: id });
}

/** Creates a user with a one-time password they must change at first login. */
export async function createUser(
  ctx: RequestContext,
  name: string,
): Promise<{ user: User; oneTimePassword: string }> {
  const now = ctx.clock.now();
  const user = await data.createUser(ctx.db, {
    id: newId('user', now),
    name,
    managedBy: 'api',
    now,
  });
  const oneTimePassword = generateOneTimePassword();
  await setCredential(ctx.db, {
    userId: user.id,
    passwordHash: await hashPassword(oneTimePassword),
    oneTime: true,
    now,
  });
  ctx.audit({ kind: 'user', id: user.id, name: user.name });
  return { user, oneTimePassword };
}

const SESSIONS = ['password', 'key-exchange', 'provider', 'device', 'setup'] as const;

/**
 * Sets a password. Your own needs your current one, and ends your other sessions; an admin
 * setting someone else's makes it one-time (they choose a new one at next login) and ends all
 * their sessions. Either way the keys and sessions made from the ended sessions end too.
 */
export async function updateUserPassword(
  ctx: RequestContext,
  input: { id: string; password: string; oldPassword?: string },
): Promise<User> {
  const actor = actorOf(ctx);
  const id = resolveUserRef(ctx, input.id);
  const isSelf = id === actor.userId;
  ctx.authorize(isSelf);
  const user = await data.getUser(ctx.db, { byId: id });
  assertThat(
    user.kind === 'user',
    () => new AppError('bad_request', 'system users have no password'),
  );
  assertThat(
    user.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `${user.name} is declared in the server's config file; change the password there`,
      ),
  );
  const now = ctx.clock.now();
  const credential = await getCredential(ctx.db, id);
  if (isSelf) {
    if (input.oldPassword === undefined) {
      throw new ValidationError([
        { field: 'oldPassword', errors: ['is required to change your own password'] },
      ]);
    }
    if (!credential) {
      throw new ValidationError([
        {
          field: 'oldPassword',
          errors: [
            'you have no password here (you sign in through an identity provider or with a key); an admin can set one',
          ],
        },
      ]);
    }
    const attempt = { name: user.name, ip: ctx.sourceIp };
    await checkLoginThrottle(ctx.db, now, attempt);
    if (!(await verifyPassword(credential.passwordHash, input.oldPassword))) {
      ctx.afterRollback(async (db) => recordLoginFailure(db, now, attempt));
      throw new ValidationError([
        { field: 'oldPassword', errors: ['is not your current password'] },
      ]);
    }
    await clearLoginFailures(ctx.db, attempt);
    if (input.password === input.oldPassword) {
      throw new ValidationError([
        { field: 'password', errors: ['must differ from the current password'] },
      ]);
    }
  }
  checkPasswordPolicy(ctx.settings, input.password, user.name);
  await setCredential(ctx.db, {
    userId: id,
    passwordHash: await hashPassword(input.password),
    oneTime: !isSelf,
    now,
  });
  await data.updateUser(ctx.db, id, { now });
  // Sessions end, and with them every credential they made (keys the user created, sessions
  // exchanged from those); keys an admin made for the user stand on their own and stay.
  let ended: string[];
  if (isSelf) {
    await updateAccessKeyScopes(
      ctx.db,
      actor.accessKeyId,
      actor.scopes.filter((s) => s !== PASSWORD_CHANGE_SCOPE),
    );
    // The session changing the password stays, and so do the ones it was made from.
    const current = await getAccessKey(ctx.db, { byId: actor.accessKeyId });
    const ancestors = current.parentId
      ? await listAccessKeyAncestors(ctx.db, current.parentId)
      : [];
    ended = await deleteAccessKeys(
      ctx.db,
      {
        byUserId: id,
        byIssuedVia: [...SESSIONS],
        exceptIds: [current.id, ...ancestors.map((k) => k.id)],
      },
      now,
    );
  } else {
    ended = await deleteAccessKeys(ctx.db, { byUserId: id, byIssuedVia: [...SESSIONS] }, now);
  }
  ctx.audit({
    kind: 'user',
    id,
    name: user.name,
    details: { change: isSelf ? 'password' : 'password reset', credentialsEnded: ended.length },
  });
  return data.getUser(ctx.db, { byId: id });
}

/** Deletes a user with their keys, memberships, credential and grants. */
export async function deleteUser(ctx: RequestContext, id: string): Promise<void> {
  const actor = actorOf(ctx);
  assertThat(id !== actor.userId, () => new AppError('bad_request', 'you cannot delete yourself'));
  const user = await data.getUser(ctx.db, { byId: id });
  assertThat(
    user.kind === 'user',
    () => new AppError('bad_request', `${user.name} is a system user and cannot be deleted`),
  );
  assertThat(
    user.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `${user.name} is declared in the server's config file; remove it there`,
      ),
  );
  await data.deleteUser(ctx.db, id, ctx.clock.now());
  await assertAdminRemains(ctx);
  ctx.audit({ kind: 'user', id, name: user.name });
}
