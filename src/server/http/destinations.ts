import type { Destination as ApiDestination } from '../../api/destinations.js';
import type { Endpoints } from '../../api/endpoints.js';
import { parseDuration } from '../../shared/duration.js';
import { toIsoString } from '../../shared/time.js';
import * as access from '../access/destinations.js';
import { CONNECTED_WINDOW_MS } from '../access/presence.js';
import { kubePath } from '../../shared/tunnel.js';
import type { DestinationWithTunnel } from '../models.js';
import { grantToApi, pageToApi } from './convert.js';
import { NotModified, type Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

function destinationToApi(d: DestinationWithTunnel, now: number, origin: string): ApiDestination {
  const tunnel = d.connectionMode === 'tunnel';
  return {
    id: d.id,
    name: d.name,
    uniqueID: d.uniqueId,
    kind: d.kind,
    ssh: { address: d.sshAddress, hostKey: d.sshHostKey },
    connection: {
      mode: d.connectionMode,
      // Through this server, as the caller reached it; kubectl trusts the server's certificate.
      url: tunnel ? `${origin}${kubePath(d.name)}` : d.connectionUrl,
      ca: d.connectionCa,
    },
    namespaces: d.namespaces,
    roles: d.roles,
    version: d.version,
    lastSeen: d.lastSeenAt === null ? null : toIsoString(d.lastSeenAt),
    connected: d.lastSeenAt !== null && now - d.lastSeenAt < CONNECTED_WINDOW_MS,
    tunnel: {
      connected: d.tunnel.replicas.length > 0,
      since: d.tunnel.since === null ? null : toIsoString(d.tunnel.since),
      replicas: d.tunnel.replicas,
    },
    created: toIsoString(d.createdAt),
    updated: toIsoString(d.updatedAt),
  };
}

export const listDestinations: H<'listDestinations'> = async (ctx, input) => {
  const now = ctx.clock.now();
  return pageToApi(await access.listDestinations(ctx, input), input.limit, (d) =>
    destinationToApi(d, now, ctx.origin),
  );
};

export const getDestination: H<'getDestination'> = async (ctx, input) =>
  destinationToApi(await access.getDestination(ctx, input.id), ctx.clock.now(), ctx.origin);

export const createDestination: H<'createDestination'> = async (ctx, input) =>
  destinationToApi(await access.createDestination(ctx, input), ctx.clock.now(), ctx.origin);

export const updateDestination: H<'updateDestination'> = async (ctx, input) =>
  destinationToApi(
    await access.updateDestination(ctx, input.id, input),
    ctx.clock.now(),
    ctx.origin,
  );

export const deleteDestination: H<'deleteDestination'> = async (ctx, input) =>
  access.deleteDestination(ctx, input.id);

export const getAccessFeed: H<'getAccessFeed'> = async (ctx, input) => {
  const feed = await access.getAccessFeed(ctx, {
    destination: input.destination,
    lastUpdateIndex: input.lastUpdateIndex,
    waitMs: parseDuration(input.wait)!,
    changes: input.changes,
    page: input.page,
  });
  if (!feed) throw new NotModified();
  const answer = {
    updateIndex: feed.updateIndex,
    destination: input.destination,
    grants: feed.grants.map(grantToApi),
    users: feed.users,
    revokedSessions: feed.revokedSessions,
    removedUsers: feed.removedUsers,
  };
  if (!('kind' in feed)) return { kind: 'full', ...answer };
  return feed.kind === 'snapshot'
    ? { kind: 'snapshot', ...answer, next: feed.next }
    : {
        kind: 'delta',
        ...answer,
        subjects: feed.subjects,
        usersWithoutAccess: feed.usersWithoutAccess,
      };
};

export const createToken: H<'createToken'> = async (ctx, input) => {
  const { token, expiresAt } = await access.createToken(ctx, input.destination);
  return { token, expires: toIsoString(expiresAt) };
};

export const getJwks: H<'getJwks'> = async (ctx) => ({ keys: await access.getJwks(ctx) });

export const rotateSigningKey: H<'rotateSigningKey'> = async (ctx) => ({
  kid: await access.rotateSigningKey(ctx),
});
