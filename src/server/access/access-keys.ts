import { AppError, NotFoundError, ValidationError, assertThat } from '../../shared/errors.js';
import { parseDuration } from '../../shared/duration.js';
import { newId } from '../../shared/ids.js';
import { generateAccessKey, hashSecret } from '../crypto/access-keys.js';
import * as data from '../data/access-keys.js';
import { getUser } from '../data/users.js';
import { CONNECTOR_USER_ID, destinationScope, type AccessKey, type Page } from '../models.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';

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

/** Creates a key; the secret is returned once and only its hash is kept. */
export async function createAccessKey(
  ctx: RequestContext,
  input: {
    userID: string;
    name?: string;
    expiry: string;
    inactivityTimeout?: string;
    destination?: string;
  },
): Promise<{ key: AccessKey; accessKey: string }> {
  const userId = resolveUserRef(ctx, input.userID);
  ctx.authorize(userId === actorOf(ctx).userId);
  const user = await getUser(ctx.db, { byId: userId });
  assertThat(
    input.destination === undefined || user.id === CONNECTOR_USER_ID,
    () =>
      new ValidationError([
        { field: 'destination', errors: ['applies only to keys of the connector user'] },
      ]),
  );
  const now = ctx.clock.now();
  const expiry = parseDuration(input.expiry)!;
  const inactivityTimeout =
    input.inactivityTimeout === undefined ? 0 : parseDuration(input.inactivityTimeout)!;
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
    expiresAt: now + expiry,
    inactivityTimeout,
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
    },
  });
  return { key, accessKey: secret.text };
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
