/**
 * What the ClusterRoles Infra grants allow, as a fresh cluster defines them: Kubernetes' default
 * user-facing roles (view, edit, admin, cluster-admin) and the ones Infra ships in
 * deploy/connector/roles.yaml. Connectors report role names only, and an admin may have changed
 * a role on their cluster, so answers from here say they come from the default rules; a role not
 * here is unknown. API groups are left out: `infra explain` names resources as kubectl does.
 */

interface Rule {
  verbs: readonly string[];
  resources: readonly string[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

const VIEW_RESOURCES = [
  'bindings',
  'configmaps',
  'controllerrevisions',
  'cronjobs',
  'cronjobs/status',
  'daemonsets',
  'daemonsets/status',
  'deployments',
  'deployments/scale',
  'deployments/status',
  'endpoints',
  'endpointslices',
  'events',
  'horizontalpodautoscalers',
  'horizontalpodautoscalers/status',
  'ingresses',
  'ingresses/status',
  'jobs',
  'jobs/status',
  'limitranges',
  'namespaces',
  'namespaces/status',
  'networkpolicies',
  'persistentvolumeclaims',
  'persistentvolumeclaims/status',
  'poddisruptionbudgets',
  'poddisruptionbudgets/status',
  'pods',
  'pods/log',
  'pods/status',
  'replicasets',
  'replicasets/scale',
  'replicasets/status',
  'replicationcontrollers',
  'replicationcontrollers/scale',
  'replicationcontrollers/status',
  'resourcequotas',
  'resourcequotas/status',
  'serviceaccounts',
  'services',
  'services/status',
  'statefulsets',
  'statefulsets/scale',
  'statefulsets/status',
];

const POD_ACCESS = ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'];

const EDIT_WRITABLE = [
  'configmaps',
  'cronjobs',
  'daemonsets',
  'deployments',
  'deployments/rollback',
  'deployments/scale',
  'events',
  'horizontalpodautoscalers',
  'ingresses',
  'jobs',
  'leases',
  'networkpolicies',
  'persistentvolumeclaims',
  'poddisruptionbudgets',
  'pods',
  ...POD_ACCESS,
  'replicasets',
  'replicasets/scale',
  'replicationcontrollers',
  'replicationcontrollers/scale',
  'secrets',
  'serviceaccounts',
  'services',
  'services/proxy',
  'statefulsets',
  'statefulsets/scale',
];

const VIEW: Rule[] = [{ verbs: READ, resources: VIEW_RESOURCES }];
const EDIT: Rule[] = [
  ...VIEW,
  { verbs: READ, resources: [...POD_ACCESS, 'secrets', 'services/proxy', 'leases'] },
  { verbs: WRITE, resources: EDIT_WRITABLE },
  { verbs: ['create'], resources: ['pods/eviction', 'serviceaccounts/token'] },
  { verbs: ['impersonate'], resources: ['serviceaccounts'] },
];
const ADMIN: Rule[] = [
  ...EDIT,
  { verbs: [...READ, ...WRITE], resources: ['roles', 'rolebindings'] },
  { verbs: ['create'], resources: ['localsubjectaccessreviews'] },
];
const POD_READ: Rule = { verbs: ['get', 'list'], resources: ['pods'] };

const KNOWN_ROLES: Record<string, Rule[]> = {
  view: VIEW,
  edit: EDIT,
  admin: ADMIN,
  'cluster-admin': [{ verbs: ['*'], resources: ['*'] }],
  exec: [POD_READ, { verbs: ['get', 'create'], resources: ['pods/exec', 'pods/attach'] }],
  logs: [POD_READ, { verbs: READ, resources: ['pods/log'] }],
  'port-forward': [POD_READ, { verbs: ['get', 'create'], resources: ['pods/portforward'] }],
};

/**
 * Known roles from the least to the most powerful, for suggesting the smallest one that
 * would do.
 */
export const ROLES_BY_POWER = [
  'logs',
  'port-forward',
  'exec',
  'view',
  'edit',
  'admin',
  'cluster-admin',
];

/**
 * Whether `role` lets `verb` act on `resource` (`pods`, `pods/exec`) by its default rules;
 * undefined when the role's rules are not known here. `connect` reaches the cluster and
 * allows nothing in it.
 */
export function roleAllows(role: string, verb: string, resource: string): boolean | undefined {
  if (role === 'connect') return false;
  const rules = KNOWN_ROLES[role];
  if (!rules) return undefined;
  return rules.some(
    (r) =>
      (r.verbs.includes('*') || r.verbs.includes(verb)) &&
      (r.resources.includes('*') || r.resources.includes(resource)),
  );
}
