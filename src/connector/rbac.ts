import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1RoleBinding,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import type { AccessState } from './access.js';
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

/**
 * The bindings the grants at this destination call for: one ClusterRoleBinding per role
 * granted on the cluster, one RoleBinding per role and namespace granted on a namespace, each
 * with every user and group granted it. `connect` grants sign people in and bind nothing; roles
 * and namespaces the cluster does not have are skipped (with a warning).
 */
export function desiredBindings(
  state: AccessState,
  cluster: { namespaces: string[]; roles: string[] },
  log: Logger,
): Map<string, DesiredBinding> {
  const roles = new Set(cluster.roles);
  const namespaces = new Set(cluster.namespaces);
  const bindings = new Map<string, DesiredBinding>();
  for (const g of state.grants) {
    if (g.privilege === 'connect') continue;
    const namespace = g.resource.split('.')[1];
    if (!roles.has(g.privilege)) {
      log.warn(
        { role: g.privilege, resource: g.resource },
        'a grant names a ClusterRole this cluster does not offer; skipped',
      );
      continue;
    }
    if (namespace !== undefined && !namespaces.has(namespace)) {
      log.warn(
        { namespace, resource: g.resource },
        'a grant names a namespace this cluster does not have; skipped',
      );
      continue;
    }
    const subject: RbacV1Subject | undefined = g.userName
      ? { kind: 'User', apiGroup: RBAC_GROUP, name: g.userName }
      : g.groupName && !g.groupName.startsWith('system:')
        ? { kind: 'Group', apiGroup: RBAC_GROUP, name: g.groupName }
        : undefined;
    if (!subject) continue;
    const key = bindingKey({ namespace, role: g.privilege });
    const binding = bindings.get(key) ?? { namespace, role: g.privilege, subjects: [] };
    if (!binding.subjects.some((s) => s.kind === subject.kind && s.name === subject.name))
      binding.subjects.push(subject);
    bindings.set(key, binding);
  }
  for (const b of bindings.values())
    b.subjects.sort((a, z) => `${a.kind}/${a.name}`.localeCompare(`${z.kind}/${z.name}`));
  return bindings;
}

export interface SyncResult {
  created: number;
  updated: number;
  deleted: number;
  failed: number;
}

const sameSubjects = (a: RbacV1Subject[] | undefined, b: RbacV1Subject[]) =>
  JSON.stringify((a ?? []).map((s) => [s.kind, s.name])) ===
  JSON.stringify(b.map((s) => [s.kind, s.name]));

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
 * its labels, so it never touches anyone else's. Failures are counted and logged; the caller
 * retries.
 */
export async function syncBindings(
  kube: Kube,
  destination: string,
  desired: Map<string, DesiredBinding>,
  log: Logger,
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
