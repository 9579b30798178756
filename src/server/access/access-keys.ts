import {
  AppError,
  NotFoundError,
  ValidationError,
  assertThat,
  type FieldError,
} from '../../shared/errors.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { newId } from '../../shared/ids.js';
import { generateAccessKey, hashSecret } from '../crypto/access-keys.js';
import * as data from '../data/access-keys.js';
import { getUser } from '../data/users.js';
import { findUserDeactivation } from '../data/scim.js';
import {
  CONNECTOR_USER_ID,
  SCIM_USER_ID,
  destinationScope,
  type AccessKey,
  type Page,
} from '../models.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';
import { derivedFrom, type CredentialLimits } from './sessions.js';

export async function listAccessKeys(
  ctx: RequestContext,
  input: { userID?: string; name?: string; showExpired?: boolean; after?: string; limit: number },
): Promise<Page<AccessKey>> {
  const userId = input.userID === undefined ? undefined : resolveUserRef(ctx, input.userID);
  ctx.authorize(userId !== undefined && userId === actorOf(ctx).userId);
  return data.listAccessKeys(ctx.db, {
    byUserId: userId,
    byName: input.name,
    includeExpired: input.showExpired,
    now: ctx.clock.now(),
    after: input.after,
    limit: input.limit,
  });
}

/** Lifetime of a key when the request names none. */
const DEFAULT_KEY_EXPIRY = 30 * 24 * 3_600_000;

/**
 * Creates a key; the secret is returned once and only its hash is kept. A key you create for
 * yourself is made from the session creating it: it ends when that session ends and may not
 * live or idle longer. A key an admin creates for someone else stands on its own. Keys bound to
 * a destination (connectors) create no keys at all: a credential never mints a broader one.
 */
export async function createAccessKey(
  ctx: RequestContext,
  input: {
    userID: string;
    name?: string;
    expiry?: string;
    inactivityTimeout?: string;
    destination?: string;
  },
): Promise<{ key: AccessKey; accessKey: string }> {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user' && actor.scopes.length === 0,
    () =>
      new AppError(
        'forbidden',
        'this key cannot create access keys; an admin creates and rotates connector keys',
      ),
  );
  const userId = resolveUserRef(ctx, input.userID);
  const isSelf = userId === actor.userId;
  ctx.authorize(isSelf);
  const user = await getUser(ctx.db, { byId: userId });
  assertThat(
    user.id !== SCIM_USER_ID,
    () =>
      new AppError(
        'bad_request',
        'SCIM tokens are made per provider: POST /api/providers/:id/scim-key (`infra providers scim-key`)',
      ),
  );
  const deactivation = await findUserDeactivation(ctx.db, user.id);
  assertThat(
    deactivation === undefined,
    () =>
      new AppError(
        'bad_request',
        deactivation?.removedProvider === undefined
          ? `${user.name} is deactivated by their identity provider (SCIM); it must reactivate them first`
          : `${user.name} was deactivated by provider ${deactivation.removedProvider}, since removed; remove the user (\`infra users remove ${user.name}\`) and add them again to let them back in`,
      ),
  );
  assertThat(
    input.destination === undefined || user.id === CONNECTOR_USER_ID,
    () =>
      new ValidationError([
        { field: 'destination', errors: ['applies only to keys of the connector user'] },
      ]),
  );
  const now = ctx.clock.now();
  const wanted = {
    expiresAt:
      now + (input.expiry === undefined ? DEFAULT_KEY_EXPIRY : parseDuration(input.expiry)!),
    inactivityTimeout:
      input.inactivityTimeout === undefined ? 0 : parseDuration(input.inactivityTimeout)!,
  };
  const limits = isSelf
    ? derivedFromCaller(
        await data.getAccessKey(ctx.db, { byId: actor.accessKeyId }),
        wanted,
        input,
        now,
      )
    : wanted;
  const secret = generateAccessKey();
  const id = newId('accessKey', now);
  await data.createAccessKey(ctx.db, {
    id,
    keyId: secret.keyId,
    secretHash: hashSecret(secret.secret),
    name: input.name ?? `key-${secret.keyId}`,
    userId: user.id,
    issuedVia: 'api',
    scopes: input.destination === undefined ? [] : [destinationScope(input.destination)],
    managedBy: 'api',
    now,
    ...limits,
  });
  const key = await data.getAccessKey(ctx.db, { byId: id });
  ctx.audit({
    kind: 'accessKey',
    id,
    name: key.name,
    details: {
      user: user.name,
      expires: new Date(key.expiresAt).toISOString(),
      ...(input.destination !== undefined && { destination: input.destination }),
      ...('parentId' in limits && { madeFrom: limits.parentId }),
    },
  });
  return { key, accessKey: secret.text };
}

/**
 * The limits of a key made from the caller's session. Asking for more than the session has left
 * is refused rather than quietly shortened; an unstated limit takes the session's.
 */
function derivedFromCaller(
  parent: AccessKey,
  wanted: CredentialLimits,
  input: { expiry?: string; inactivityTimeout?: string },
  now: number,
): ReturnType<typeof derivedFrom> {
  const limits = derivedFrom(parent, wanted);
  const problems: FieldError[] = [];
  if (input.expiry !== undefined && wanted.expiresAt > limits.expiresAt) {
    problems.push({
      field: 'expiry',
      errors: [
        `must be at most ${formatDuration(Math.floor((limits.expiresAt - now) / 60_000) * 60_000)}: a key you create ends no later than the session creating it (an admin can create a longer-lived key for you)`,
      ],
    });
  }
  if (
    input.inactivityTimeout !== undefined &&
    limits.inactivityTimeout !== wanted.inactivityTimeout
  ) {
    problems.push({
      field: 'inactivityTimeout',
      errors: [
        `must be at most ${formatDuration(limits.inactivityTimeout)}: the inactivity timeout of the session creating the key`,
      ],
    });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return limits;
}

function assertNotDeclared(key: AccessKey): void {
  assertThat(
    key.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `access key ${key.name} is declared in the server's config file; remove it there`,
      ),
  );
}

export async function deleteAccessKey(ctx: RequestContext, id: string): Promise<void> {
  const key = await data.getAccessKey(ctx.db, { byId: id });
  ctx.authorize(key.userId === actorOf(ctx).userId);
  assertNotDeclared(key);
  await data.deleteAccessKey(ctx.db, id, ctx.clock.now());
  ctx.audit({ kind: 'accessKey', id, name: key.name, details: { user: key.userName } });
}

export async function deleteAccessKeysByName(
  ctx: RequestContext,
  input: { name: string; userID: string },
): Promise<void> {
  const userId = resolveUserRef(ctx, input.userID);
  ctx.authorize(userId === actorOf(ctx).userId);
  const named = await data.listAccessKeys(ctx.db, {
    byUserId: userId,
    byName: input.name,
    includeExpired: true,
    now: ctx.clock.now(),
    limit: 1,
  });
  named.items.forEach(assertNotDeclared);
  const deleted = await data.deleteAccessKeys(
    ctx.db,
    { byUserId: userId, byName: input.name },
    ctx.clock.now(),
  );
  if (deleted.length === 0)
    throw new NotFoundError('access key', `no access key named ${input.name}`);
  ctx.audit({ kind: 'accessKey', id: deleted[0], name: input.name });
}
