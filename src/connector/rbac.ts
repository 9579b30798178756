import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1RoleBinding,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import type { AccessState, Grant } from './access.js';
import {
  DESTINATION_LABEL,
  INCLUDE_ROLE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type Kube,
} from './kube.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** A binding the grants call for: a ClusterRole bound cluster-wide or in one namespace. */
export interface DesiredBinding {
  namespace?: string;
  role: string;
  subjects: RbacV1Subject[];
}

/** `infra:<role>`, plus the namespace for RoleBindings: the binding's identity. */
export function bindingKey(b: { namespace?: string; role: string }): string {
  return `${b.namespace ?? ''}/infra:${b.role}`;
}

/** Grants indexed between two yields to the event loop (the proxy shares the thread). */
const CHUNK = 2000;

/** Code unit order: the same everywhere, and far cheaper than `localeCompare`. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The bindings the grants at this destination call for: one ClusterRoleBinding per role
 * granted on the cluster, one RoleBinding per role and namespace granted on a namespace, each
 * with every user and group granted it. `connect` grants sign people in and bind nothing; roles
 * and namespaces the cluster does not have are skipped (with a warning). Kept up to date grant
 * by grant: each subject of a binding counts the grants that call for it, so a delta touches
 * only its bindings, in time proportional to the change.
 */
export class BindingIndex {
  readonly #roles: Set<string>;
  readonly #namespaces: Set<string>;
  readonly #log: Logger;
  readonly #bindings = new Map<
    string,
    {
      namespace?: string;
      role: string;
      subjects: Map<string, RbacV1Subject>;
      counts: Map<string, number>;
    }
  >();

  constructor(cluster: { namespaces: string[]; roles: string[] }, log: Logger) {
    this.#roles = new Set(cluster.roles);
    this.#namespaces = new Set(cluster.namespaces);
    this.#log = log;
  }

  /** Counts grant `g` in (+1) or out (-1); returns the key of the binding it changes. */
  apply(g: Grant, sign: 1 | -1): string | undefined {
    if (g.privilege === 'connect') return undefined;
    const namespace = g.resource.split('.')[1];
    if (!this.#roles.has(g.privilege)) {
      if (sign > 0)
        this.#log.warn(
          { role: g.privilege, resource: g.resource },
          'a grant names a ClusterRole this cluster does not offer; skipped',
        );
      return undefined;
    }
    if (namespace !== undefined && !this.#namespaces.has(namespace)) {
      if (sign > 0)
        this.#log.warn(
          { namespace, resource: g.resource },
          'a grant names a namespace this cluster does not have; skipped',
        );
      return undefined;
    }
    const subject: RbacV1Subject | undefined = g.userName
      ? { kind: 'User', apiGroup: RBAC_GROUP, name: g.userName }
      : g.groupName && !g.groupName.startsWith('system:')
        ? { kind: 'Group', apiGroup: RBAC_GROUP, name: g.groupName }
        : undefined;
    if (!subject) return undefined;
    const key = bindingKey({ namespace, role: g.privilege });
    let binding = this.#bindings.get(key);
    if (!binding) {
      binding = { namespace, role: g.privilege, subjects: new Map(), counts: new Map() };
      this.#bindings.set(key, binding);
    }
    const id = `${subject.kind}/${subject.name}`;
    const count = (binding.counts.get(id) ?? 0) + sign;
    if (count > 0) {
      binding.counts.set(id, count);
      binding.subjects.set(id, subject);
    } else {
      binding.counts.delete(id);
      binding.subjects.delete(id);
    }
    if (binding.counts.size === 0) this.#bindings.delete(key);
    return key;
  }

  /** The binding `key` calls for now (undefined: none), its subjects in code unit order. */
  binding(key: string): DesiredBinding | undefined {
    const b = this.#bindings.get(key);
    if (!b) return undefined;
    const ids = [...b.subjects.keys()].sort(byCodeUnit);
    return { namespace: b.namespace, role: b.role, subjects: ids.map((id) => b.subjects.get(id)!) };
  }

  /** Every binding called for. */
  all(): Map<string, DesiredBinding> {
    const all = new Map<string, DesiredBinding>();
    for (const key of this.#bindings.keys()) all.set(key, this.binding(key)!);
    return all;
  }

  /** An index of every grant of `state`, yielding to the event loop between chunks. */
  static async build(
    state: AccessState,
    cluster: { namespaces: string[]; roles: string[] },
    log: Logger,
  ): Promise<BindingIndex> {
    const index = new BindingIndex(cluster, log);
    let n = 0;
    for (const g of state.grants.values()) {
      index.apply(g, 1);
      if (++n % CHUNK === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return index;
  }
}

/** The bindings the grants of `state` call for (see BindingIndex). */
export function desiredBindings(
  state: AccessState,
  cluster: { namespaces: string[]; roles: string[] },
  log: Logger,
): Map<string, DesiredBinding> {
  const index = new BindingIndex(cluster, log);
  for (const g of state.grants.values()) index.apply(g, 1);
  return index.all();
}

export interface SyncResult {
  created: number;
  updated: number;
  deleted: number;
  failed: number;
}

/** Whether two bindings name the same subjects, in any order. */
function sameSubjects(a: RbacV1Subject[] | undefined, b: RbacV1Subject[]): boolean {
  if ((a ?? []).length !== b.length) return false;
  const want = new Set(b.map((s) => `${s.kind}/${s.name}`));
  return (a ?? []).every((s) => want.has(`${s.kind}/${s.name}`));
}

/** Runs at most `limit` tasks at a time. */
async function inParallel<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Makes the cluster's bindings match `desired`: creates what is missing, replaces what differs,
 * deletes bindings this connector made that are no longer granted. It lists only objects with
 * its labels, so it never touches anyone else's. With `only`, just those bindings are looked at
 * (the ones a delta changed; `desired` holds those still called for). Failures are counted and
 * logged; the caller retries.
 */
export async function syncBindings(
  kube: Kube,
  destination: string,
  desired: Map<string, DesiredBinding>,
  log: Logger,
  only?: ReadonlySet<string>,
): Promise<SyncResult> {
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, [DESTINATION_LABEL]: destination };
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${DESTINATION_LABEL}=${destination}`;
  const [clusterBindings, roleBindings] = await Promise.all([
    kube.listClusterRoleBindings(selector),
    kube.listRoleBindings(selector),
  ]);
  const existing = new Map<string, V1ClusterRoleBinding | V1RoleBinding>();
  for (const b of clusterBindings) existing.set(`/${b.metadata!.name}`, b);
  for (const b of roleBindings) existing.set(`${b.metadata!.namespace}/${b.metadata!.name}`, b);
  if (only) for (const key of existing.keys()) if (!only.has(key)) existing.delete(key);

  const result: SyncResult = { created: 0, updated: 0, deleted: 0, failed: 0 };
  const attempt = async (what: string, fn: () => Promise<unknown>, counter: keyof SyncResult) => {
    try {
      await fn();
      result[counter]++;
    } catch (err) {
      result.failed++;
      log.warn(
        {
          binding: what,
          err: (err as { body?: unknown; message?: string }).body ?? (err as Error).message,
        },
        'could not write a binding',
      );
    }
  };

  const work: Array<() => Promise<void>> = [];
  for (const [key, want] of desired) {
    const name = `infra:${want.role}`;
    const body = {
      metadata: { name, namespace: want.namespace, labels },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: want.role },
      subjects: want.subjects,
    };
    const have = existing.get(key);
    existing.delete(key);
    if (have && sameSubjects(have.subjects, want.subjects) && have.roleRef.name === want.role)
      continue;
    const ns = want.namespace;
    if (!have) {
      work.push(() =>
        attempt(
          key,
          () =>
            ns
              ? kube.rbac.createNamespacedRoleBinding({ namespace: ns, body })
              : kube.rbac.createClusterRoleBinding({ body }),
          'created',
        ),
      );
    } else {
      const replacement = {
        ...body,
        metadata: { ...body.metadata, resourceVersion: have.metadata!.resourceVersion },
      };
      work.push(() =>
        attempt(
          key,
          () =>
            ns
              ? kube.rbac.replaceNamespacedRoleBinding({ name, namespace: ns, body: replacement })
              : kube.rbac.replaceClusterRoleBinding({ name, body: replacement }),
          'updated',
        ),
      );
    }
  }
  for (const [key, stale] of existing) {
    const name = stale.metadata!.name!;
    const ns = stale.metadata!.namespace;
    work.push(() =>
      attempt(
        key,
        () =>
          ns
            ? kube.rbac.deleteNamespacedRoleBinding({ name, namespace: ns })
            : kube.rbac.deleteClusterRoleBinding({ name }),
        'deleted',
      ),
    );
  }
  await inParallel(work, 8, (fn) => fn());
  return result;
}

const include = { [INCLUDE_ROLE_LABEL]: 'true', [MANAGED_BY_LABEL]: MANAGED_BY };

/** The ClusterRoles Infra offers besides Kubernetes' own: exec, logs and port-forward. */
export const infraClusterRoles: V1ClusterRole[] = [
  {
    metadata: { name: 'exec', labels: include },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/exec', 'pods/attach'], verbs: ['get', 'create'] },
    ],
  },
  {
    metadata: { name: 'logs', labels: include },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get', 'list', 'watch'] },
    ],
  },
  {
    metadata: { name: 'port-forward', labels: include },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
    ],
  },
];
