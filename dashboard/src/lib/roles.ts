/** What each well-known role lets someone do, shown next to role pickers. */
const DESCRIPTIONS: Record<string, string> = {
  view: 'Read most objects (not secrets)',
  edit: 'Change most objects, including exec into pods',
  admin: 'Everything in a namespace, including RBAC',
  'cluster-admin': 'Everything, everywhere in the cluster',
  exec: 'Just exec into pods',
  logs: 'Just read pod logs',
  'port-forward': 'Just port-forward to pods',
  connect: 'Sign in only; grants nothing by itself',
};

/** Roles listed first, in this order; others (custom ClusterRoles) follow by name. */
const ORDER = ['view', 'edit', 'admin', 'cluster-admin', 'exec', 'logs', 'port-forward', 'connect'];

export function roleDescription(role: string): string {
  return DESCRIPTIONS[role] ?? 'Custom role defined in the cluster';
}

/** The roles a destination offers, plus `connect`, in a helpful order. */
export function grantableRoles(destinationRoles: readonly string[]): string[] {
  const all = new Set([...destinationRoles, 'connect']);
  const known = ORDER.filter((r) => all.has(r));
  const custom = [...all].filter((r) => !ORDER.includes(r)).sort();
  return [...known, ...custom];
}

/** Roles on Infra itself. */
export const INFRA_ROLES = [
  { role: 'admin', description: 'Manage everything: users, groups, access, clusters and keys' },
  { role: 'view', description: 'Read users, groups, grants and access keys' },
  {
    role: 'auditor',
    description: 'Read the audit log, every Kubernetes request and exec recording; nothing else',
  },
] as const;

/** `prod.web` → {destination: 'prod', namespace: 'web'}. */
export function splitResource(resource: string): { destination: string; namespace?: string } {
  const dot = resource.indexOf('.');
  return dot < 0
    ? { destination: resource }
    : { destination: resource.slice(0, dot), namespace: resource.slice(dot + 1) };
}
