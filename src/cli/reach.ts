import { listAll, type ApiClient } from '../api/client.js';
import { kubePath } from '../shared/tunnel.js';
import type { DesiredContext } from './kubeconfig.js';

/** A place the user can reach with kubectl, and the roles they hold there. */
export interface Reachable {
  context: DesiredContext;
  roles: string[];
}

/**
 * Everything the signed-in user may reach: for each destination they hold grants on (directly or
 * through groups), a context for the cluster when granted cluster-wide, and one per namespace
 * granted. Destinations are matched by exact name, never by prefix. A cluster in tunnel mode is
 * reached through the server, with the server's certificate.
 */
export async function listReachable(
  client: ApiClient,
  /**
   * The server as this CLI reaches it, for clusters reached through it (tunnel mode): its URL
   * (kubectl goes where the CLI goes, whatever the replica that answered calls itself) and the
   * PEM the CLI trusts it with.
   */
  server: { url: string; trustedCa?: string },
): Promise<Reachable[]> {
  const [destinations, grants] = await Promise.all([
    listAll(client.listDestinations, {}),
    listAll(client.listGrants, { user: 'self', showInherited: true }),
  ]);
  const byName = new Map(destinations.map((d) => [d.name, d]));
  const reach = new Map<string, Reachable>();
  for (const g of grants) {
    if (g.resource === 'infra') continue;
    const [destination, namespace] = g.resource.split('.') as [string, string | undefined];
    const d = byName.get(destination);
    // SSH hosts are reached with `infra ssh`, not kubectl.
    if (!d || d.kind === 'ssh') continue;
    const name = namespace ? `infra:${destination}:${namespace}` : `infra:${destination}`;
    const entry = reach.get(name) ?? {
      context: {
        name,
        destination,
        namespace,
        ...(d.connection.mode === 'tunnel'
          ? { server: `${server.url}${kubePath(destination)}`, ca: server.trustedCa ?? '' }
          : { server: d.connection.url, ca: d.connection.ca }),
      },
      roles: [],
    };
    if (!entry.roles.includes(g.privilege)) entry.roles.push(g.privilege);
    reach.set(name, entry);
  }
  return [...reach.values()]
    .map((r) => ({ ...r, roles: r.roles.sort() }))
    .sort((a, b) => a.context.name.localeCompare(b.context.name));
}
