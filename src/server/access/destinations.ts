import type { JWK } from 'jose';
import { AppError, UnauthenticatedError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { parseSshPublicKey } from '../../shared/ssh.js';
import {
  CONNECTOR_USER_ID,
  boundDestination,
  destinationScope,
  type Destination,
  type AccessChanges,
  type DestinationAccess,
  type DestinationWithTunnel,
  type Page,
} from '../models.js';
import {
  getAccessKey,
  isScopeHeld,
  replaceScope,
  updateAccessKeyScopes,
} from '../data/access-keys.js';
import { latestChangeIndex } from '../data/changes.js';
import * as data from '../data/destinations.js';
import { listGroupNamesOfUser } from '../data/groups.js';
import type { Db } from '../data/db.js';
import type { Authenticator } from './authenticate.js';
import { actorOf, type Actor, type RequestContext } from './context.js';
import { decodeCursor, snapshotPage } from './feed.js';
import { withTunnels } from './tunnels.js';

/** Roles that see every destination. */
const SEE_ALL = ['admin', 'view', 'connector'] as const;

function seesAll(ctx: RequestContext): boolean {
  const actor = actorOf(ctx);
  return SEE_ALL.some((r) => actor.roles.has(r));
}

/**
 * Destinations the caller may see: all for admins and viewers, and for a connector key not yet
 * bound (it looks for its own by uniqueID); its own for a bound one; else those they reach.
 */
export async function listDestinations(
  ctx: RequestContext,
  input: { name?: string; search?: string; uniqueID?: string; after?: string; limit: number },
): Promise<Page<DestinationWithTunnel>> {
  const actor = actorOf(ctx);
  const bound = isConnectorKey(actor) ? boundDestination(actor.scopes) : undefined;
  const byNames =
    bound !== undefined
      ? [bound]
      : seesAll(ctx)
        ? undefined
        : await data.listReachableDestinations(ctx.db, actor.userId, ctx.clock.now());
  const page = await data.listDestinations(ctx.db, {
    byName: input.name,
    search: input.search,
    byUniqueId: input.uniqueID,
    byNames,
    count: true,
    after: input.after,
    limit: input.limit,
  });
  return { ...page, items: await withTunnels(ctx.db, ctx.clock, page.items) };
}

export async function getDestination(
  ctx: RequestContext,
  id: string,
): Promise<DestinationWithTunnel> {
  const destination = await data.getDestination(ctx.db, { byId: id });
  checkConnectorDestination(actorOf(ctx), destination.name);
  const reachable = await data.listReachableDestinations(
    ctx.db,
    actorOf(ctx).userId,
    ctx.clock.now(),
  );
  ctx.authorize(reachable.includes(destination.name));
  return (await withTunnels(ctx.db, ctx.clock, [destination]))[0]!;
}

export interface DestinationInput {
  name: string;
  uniqueID: string;
  kind: 'kubernetes' | 'ssh';
  connection: { mode: 'direct' | 'tunnel'; url: string; ca: string };
  ssh?: { address: string; hostKey: string };
  namespaces: string[];
  roles: string[];
  version: string;
}

function fields(input: DestinationInput): data.DestinationFields {
  return {
    name: input.name,
    uniqueId: input.uniqueID,
    // In tunnel mode kubectl reaches the cluster through this server: no URL or CA of its own.
    connectionMode: input.connection.mode,
    connectionUrl: input.connection.mode === 'tunnel' ? '' : input.connection.url,
    connectionCa: input.connection.mode === 'tunnel' ? '' : input.connection.ca,
    kind: input.kind,
    sshAddress: input.ssh?.address ?? '',
    sshHostKey: input.ssh?.hostKey ?? '',
    namespaces: [...new Set(input.namespaces)].sort(),
    roles: [...new Set(input.roles)].sort(),
    version: input.version,
  };
}

/**
 * A connector's key: any key of the connector user (whatever else it was granted), or of someone
 * holding the connector role without being an admin. Such keys serve one destination.
 */
export function isConnectorKey(actor: Actor): boolean {
  return (
    actor.userId === CONNECTOR_USER_ID ||
    (actor.roles.has('connector') && !actor.roles.has('admin'))
  );
}

/** Refuses a connector key anything about a destination other than its own. */
export function checkConnectorDestination(actor: Actor, destination: string): void {
  if (!isConnectorKey(actor)) return;
  const bound = boundDestination(actor.scopes);
  assertThat(
    bound === destination,
    () =>
      new AppError(
        'forbidden',
        bound === undefined
          ? 'this connector key has registered no destination yet; register first'
          : `this connector key is for destination ${bound}, not ${destination}`,
      ),
  );
}

/**
 * A connector key serves one destination. A key bound to one (by an admin, or by its first
 * registration) may touch only that one; an unbound key may claim a destination no other key
 * holds, and is bound to it from then on. So a connector in one cluster cannot re-register
 * another cluster's destination (its URL and CA are what kubeconfigs trust). Admins are not
 * restricted.
 */
async function claimDestination(ctx: RequestContext, name: string): Promise<void> {
  const actor = actorOf(ctx);
  if (!isConnectorKey(actor)) return;
  // Read inside the transaction: two registrations racing with one key bind it once.
  const { scopes } = await getAccessKey(ctx.db, { byId: actor.accessKeyId });
  const bound = boundDestination(scopes);
  if (bound !== undefined) {
    assertThat(
      bound === name,
      () =>
        new AppError(
          'forbidden',
          `this connector key is for destination ${bound}, not ${name}; create a key for ${name} with \`infra keys add --connector --destination ${name}\``,
        ),
    );
    return;
  }
  const scope = destinationScope(name);
  const held = await isScopeHeld(ctx.db, scope, {
    exceptId: actor.accessKeyId,
    now: ctx.clock.now(),
  });
  assertThat(
    !held,
    () =>
      new AppError(
        'forbidden',
        `destination ${name} belongs to another connector key; create a key for it with \`infra keys add --connector --destination ${name}\``,
      ),
  );
  await updateAccessKeyScopes(ctx.db, actor.accessKeyId, [...scopes, scope]);
}

/** An SSH host's key must be one certificates can be made for. */
function checkHostKey(input: DestinationInput): void {
  if (input.kind !== 'ssh' || !input.ssh) return;
  try {
    parseSshPublicKey(input.ssh.hostKey);
  } catch (err) {
    throw new AppError('bad_request', `ssh.hostKey: ${(err as Error).message}`);
  }
}

export async function createDestination(
  ctx: RequestContext,
  input: DestinationInput,
): Promise<DestinationWithTunnel> {
  checkHostKey(input);
  await claimDestination(ctx, input.name);
  const now = ctx.clock.now();
  const id = newId('destination', now);
  await data.createDestination(ctx.db, { ...fields(input), id, now });
  ctx.audit({ kind: 'destination', id, name: input.name, details: connectionDetails(input) });
  return destinationWithTunnel(ctx, id);
}

function connectionDetails(input: DestinationInput): Record<string, unknown> {
  if (input.kind === 'ssh') return { kind: 'ssh', address: input.ssh?.address };
  return input.connection.mode === 'tunnel' ? { mode: 'tunnel' } : { url: input.connection.url };
}

async function destinationWithTunnel(
  ctx: RequestContext,
  id: string,
): Promise<DestinationWithTunnel> {
  const d = await data.getDestination(ctx.db, { byId: id });
  return (await withTunnels(ctx.db, ctx.clock, [d]))[0]!;
}

export async function updateDestination(
  ctx: RequestContext,
  id: string,
  input: DestinationInput,
): Promise<DestinationWithTunnel> {
  checkHostKey(input);
  const before = await data.getDestination(ctx.db, { byId: id });
  await claimDestination(ctx, before.name);
  if (input.name !== before.name) await claimDestination(ctx, input.name);
  assertThat(
    before.uniqueId === input.uniqueID || actorOf(ctx).roles.has('admin'),
    () =>
      new AppError(
        'forbidden',
        `destination ${before.name} belongs to another cluster (a different uniqueID)`,
      ),
  );
  await data.updateDestination(ctx.db, id, { ...fields(input), now: ctx.clock.now() });
  // Renamed (by an admin): the connector keys bound to it follow the new name.
  if (input.name !== before.name)
    await replaceScope(ctx.db, destinationScope(before.name), destinationScope(input.name));
  ctx.audit({ kind: 'destination', id, name: input.name, details: connectionDetails(input) });
  return destinationWithTunnel(ctx, id);
}

export async function deleteDestination(ctx: RequestContext, id: string): Promise<void> {
  const d = await data.deleteDestination(ctx.db, id, ctx.clock.now());
  ctx.audit({ kind: 'destination', id, name: d.name });
}

/**
 * Checks a request to open the tunnel of `destination`: only a connector key bound to that
 * destination may (an admin's key may not), and the destination must be registered in tunnel
 * mode. So a connector of another cluster, or a second connector with another key, cannot take
 * a destination's traffic.
 */
export async function authorizeTunnel(
  authenticator: Pick<Authenticator, 'authenticate'>,
  db: Db,
  presented: string,
  destination: string,
): Promise<Destination> {
  const actor = await authenticator.authenticate(presented);
  assertThat(
    isConnectorKey(actor),
    () => new AppError('forbidden', `only the connector key of ${destination} may open its tunnel`),
  );
  checkConnectorDestination(actor, destination);
  const d = await data.getDestination(db, { byName: destination });
  assertThat(
    d.connectionMode === 'tunnel',
    () =>
      new AppError(
        'conflict',
        `destination ${destination} is registered in direct mode; run its connector with --tunnel`,
      ),
  );
  return d;
}

/** The longest a feed request may wait for a change. */
export const MAX_FEED_WAIT_MS = 5 * 60_000;

/**
 * Who may reach a destination now. With `lastUpdateIndex`, waits until something that decides
 * access there changes (then answers with the new state) or until `waitMs` passes (undefined:
 * nothing changed). Revoked sessions cover the lifetime of any token they could have minted.
 *
 * With `changes` (the incremental feed), the state comes as a paged snapshot (without an index,
 * with `page`, or when the index is too old or from another database), and after that as deltas:
 * only what changed since `lastUpdateIndex`.
 */
export async function getAccessFeed(
  ctx: RequestContext,
  input: {
    destination: string;
    lastUpdateIndex?: number;
    waitMs: number;
    changes?: boolean;
    page?: string;
  },
): Promise<DestinationAccess | AccessChanges | undefined> {
  checkConnectorDestination(actorOf(ctx), input.destination);
  ctx.presence.seen(input.destination);
  const { destination, lastUpdateIndex } = input;
  if (input.changes && input.page !== undefined) {
    const cursor = decodeCursor(input.page);
    assertThat(cursor, () => new AppError('bad_request', 'page: not a page of this feed'));
    return snapshotPage(ctx.db, destination, cursor, ctx.clock.now());
  }
  const changed = (index: number) =>
    input.changes
      ? ctx.snapshots.changes(destination, lastUpdateIndex, index)
      : ctx.snapshots.get(destination, index);
  const deadline = ctx.clock.now() + Math.min(input.waitMs, MAX_FEED_WAIT_MS);
  for (;;) {
    const subscription = ctx.changes.subscribe(destination);
    const updateIndex = await latestChangeIndex(ctx.db, destination);
    // An index behind the client's means the client saw another database: resend everything.
    if (lastUpdateIndex === undefined || updateIndex !== lastUpdateIndex) {
      subscription.cancel();
      return changed(updateIndex);
    }
    const remaining = deadline - ctx.clock.now();
    if (remaining <= 0 || ctx.changes.closed) {
      subscription.cancel();
      return undefined;
    }
    const index = await subscription.wait(remaining);
    if (index === undefined || ctx.changes.closed) return undefined;
    if (index > updateIndex) return changed(index);
    // Woken by a change read as this request subscribed, one it had already seen: wait again.
  }
}

/** A destination token for the caller, if they may reach the destination. */
export async function createToken(
  ctx: RequestContext,
  destination: string,
): Promise<{ token: string; expiresAt: number }> {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user' && actor.userId !== CONNECTOR_USER_ID,
    () => new AppError('forbidden', 'system users cannot get destination tokens'),
  );
  // Users from an identity provider are re-checked with it (at most once per sync interval):
  // removed there, their sessions end here, this one included.
  if ((await ctx.providers.syncUserIfDue(actor.userId)) === 'offboarded')
    throw new UnauthenticatedError('your identity provider no longer lets you sign in');
  const reachable = await data.listReachableDestinations(ctx.db, actor.userId, ctx.clock.now());
  assertThat(
    reachable.includes(destination),
    () =>
      new AppError(
        'no_grant',
        `you have no grant on destination ${destination}; ask an admin for one`,
      ),
  );
  // Under temporary grants only, the token ends with them: a credential never outlives access.
  const endsAt = await data.accessEndsAt(ctx.db, actor.userId, destination, ctx.clock.now());
  return ctx.tokens.mint(
    {
      userId: actor.userId,
      name: actor.name,
      groups: await listGroupNamesOfUser(ctx.db, actor.userId),
      destination,
      sessionId: actor.accessKeyId,
    },
    endsAt,
  );
}

/** The public keys connectors verify destination tokens with (current and recent). */
export async function getJwks(ctx: RequestContext): Promise<JWK[]> {
  return ctx.tokens.publishedKeys();
}

/** Starts signing destination tokens with a new key; the old one stays published a while. */
export async function rotateSigningKey(ctx: RequestContext): Promise<string> {
  const kid = await ctx.tokens.rotate(ctx.db);
  ctx.audit({ kind: 'signingKey', id: kid });
  return kid;
}
