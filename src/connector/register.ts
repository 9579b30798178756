import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import type { Logger } from '../shared/logger.js';
import { jitter, nextDelay } from './follow.js';
import type { Kube } from './kube.js';

export interface Registration {
  name: string;
  uniqueID: string;
  /** direct: kubectl reaches `endpoint`; tunnel: through the server (no endpoint or CA). */
  mode: 'direct' | 'tunnel';
  endpoint: string;
  ca: string;
  version: string;
}

type Client = Pick<ApiClient, 'listDestinations' | 'createDestination' | 'updateDestination'>;

/** What the cluster offers: its namespaces and the ClusterRoles that may be granted. */
export interface ClusterFacts {
  namespaces: string[];
  roles: string[];
}

/**
 * Registers the destination, or brings its record up to date: found by the cluster's unique id,
 * updated when the endpoint, CA, namespaces or roles differ, created when missing.
 */
export async function registerDestination(
  client: Client,
  reg: Registration,
  facts: ClusterFacts,
): Promise<void> {
  const body = {
    name: reg.name,
    uniqueID: reg.uniqueID,
    connection:
      reg.mode === 'tunnel'
        ? { mode: reg.mode, url: '', ca: '' }
        : { mode: reg.mode, url: reg.endpoint, ca: reg.ca },
    namespaces: facts.namespaces,
    roles: facts.roles,
    version: reg.version,
  };
  const [existing] = (await client.listDestinations({ uniqueID: reg.uniqueID })).items;
  if (!existing) {
    await client.createDestination(body);
    return;
  }
  const same =
    existing.name === body.name &&
    existing.connection.mode === body.connection.mode &&
    // In tunnel mode the server gives its own URL for kubectl.
    (body.connection.mode === 'tunnel' ||
      (existing.connection.url === body.connection.url &&
        existing.connection.ca === body.connection.ca)) &&
    existing.version === body.version &&
    existing.namespaces.join() === body.namespaces.join() &&
    existing.roles.join() === body.roles.join();
  if (!same) await client.updateDestination({ id: existing.id, ...body });
}

/**
 * Keeps the registration current: registers now (retrying with back-off until the server and the
 * cluster answer), then re-reads the cluster's namespaces and roles every `intervalMs` and
 * reports them to `onFacts` (RBAC sync needs them) and to the server. `retryNow` cuts a back-off
 * short (the server answers again).
 */
export function keepRegistered(deps: {
  client: Client;
  cluster: Pick<Kube, 'listNamespaces' | 'listGrantableRoles'>;
  registration: Registration;
  log: Logger;
  intervalMs: number;
  onFacts(facts: ClusterFacts): void;
  /** After each registration the server accepted. */
  onRegistered?(): void;
}): { stop(): void; retryNow(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let retrying = false;
  let delay = 1000;
  let registered = false;
  const schedule = (ms: number) => {
    if (!stopped) timer = setTimeout(() => void round(), ms);
  };
  const round = async () => {
    retrying = false;
    try {
      const facts = {
        namespaces: await deps.cluster.listNamespaces(),
        roles: await deps.cluster.listGrantableRoles(),
      };
      deps.onFacts(facts);
      await registerDestination(deps.client, deps.registration, facts);
      if (!registered)
        deps.log.info({ destination: deps.registration.name }, 'registered with the Infra server');
      registered = true;
      deps.onRegistered?.();
      delay = 1000;
      schedule(deps.intervalMs);
    } catch (err) {
      const conflict = err instanceof ApiError && err.status === 409;
      deps.log[registered ? 'warn' : 'error'](
        { err: (err as Error).message, retryInMs: Math.round(delay) },
        conflict
          ? `another cluster is registered as ${deps.registration.name}; choose another --name`
          : 'could not register the cluster with the Infra server; retrying',
      );
      retrying = true;
      schedule(jitter(delay));
      delay = nextDelay(delay);
    }
  };
  void round();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    retryNow() {
      if (!retrying) return;
      clearTimeout(timer);
      retrying = false;
      // Spread over a second, as the connectors that come back with the server are.
      schedule(Math.random() * 1000);
    },
  };
}
