/**
 * RBAC as kube-apiserver evaluates it (plugin/pkg/auth/authorizer/rbac and
 * pkg/registry/rbac/validation): rule matching, the binding walk with its allow reasons and
 * resolution errors, the escalation check on role and binding writes, and the default roles.
 */
import { aggregate } from './status.js';
import type { KubeObject } from './store.js';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** What is being asked, as the apiserver's request-info parser and filters describe it. */
export interface Attributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
}

interface Decision {
  allowed: boolean;
  /** `RBAC: allowed by …` when allowed; resolution errors (`RBAC: … not found`) when not. */
  reason: string;
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** The objects RBAC reads, by store: the server's store satisfies this. */
interface RbacObjects {
  list(store: string, namespace?: string): KubeObject[];
  get(store: string, namespace: string, name: string): KubeObject | undefined;
}

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
const CLUSTER_ROLES = `${RBAC_GROUP}/clusterroles`;
const ROLES = `${RBAC_GROUP}/roles`;
export const MASTERS = 'system:masters';

const has = (set: readonly string[] | undefined, value: string) =>
  (set ?? []).some((s) => s === '*' || s === value);

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some(
    (r) =>
      r === '*' ||
      r === combined ||
      (subresource !== '' && r.startsWith('*/') && r.slice(2) === subresource),
  );
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some(
    (u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))),
  );
}

/** rbac.RuleAllows. */
function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path);
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const names = rule.resourceNames ?? [];
  return (
    has(rule.apiGroups, a.apiGroup) &&
    resourceMatches(rule, combined, a.subresource) &&
    (names.length === 0 || names.includes(a.name))
  );
}

function appliesTo(user: UserInfo, subjects: Subject[], namespace: string): Subject | undefined {
  return subjects.find((s) => {
    if (s.kind === 'User') return s.name === user.username;
    if (s.kind === 'Group') return user.groups.includes(s.name);
    if (s.kind !== 'ServiceAccount') return false;
    const ns = s.namespace || namespace;
    return ns !== '' && user.username === `system:serviceaccount:${ns}:${s.name}`;
  });
}

const describeSubject = (s: Subject, bindingNamespace: string) =>
  s.kind === 'ServiceAccount'
    ? `${s.kind} "${s.name}/${s.namespace || bindingNamespace}"`
    : `${s.kind} "${s.name}"`;

export class Rbac {
  private readonly objects: RbacObjects;

  constructor(objects: RbacObjects) {
    this.objects = objects;
  }

  roleRefRules(ref: RoleRef, namespace: string): PolicyRule[] | string {
    const cluster = ref.kind === 'ClusterRole';
    const role = cluster
      ? this.objects.get(CLUSTER_ROLES, '', ref.name)
      : this.objects.get(ROLES, namespace, ref.name);
    if (!role) return `${cluster ? 'clusterrole' : 'role'}.${RBAC_GROUP} "${ref.name}" not found`;
    return (role.rules as PolicyRule[] | undefined) ?? [];
  }

  /** DefaultRuleResolver.VisitRulesFor: cluster role bindings, then role bindings in `namespace`. */
  private visit(
    user: UserInfo,
    namespace: string,
    visitor: (source: string, rule: PolicyRule) => boolean,
  ): string[] {
    const errors: string[] = [];
    const bindings = [
      ...this.objects.list(`${RBAC_GROUP}/clusterrolebindings`).map((b) => ({ b, ns: '' })),
      ...(namespace
        ? this.objects
            .list(`${RBAC_GROUP}/rolebindings`, namespace)
            .map((b) => ({ b, ns: namespace }))
        : []),
    ];
    for (const { b, ns } of bindings) {
      const subject = appliesTo(user, (b.subjects as Subject[] | undefined) ?? [], ns);
      if (!subject) continue;
      const ref = b.roleRef as RoleRef;
      const rules = this.roleRefRules(ref, ns);
      if (typeof rules === 'string') {
        errors.push(rules);
        continue;
      }
      const source = ns
        ? `RoleBinding "${b.metadata.name}/${ns}" of ${ref.kind} "${ref.name}" to ${describeSubject(subject, ns)}`
        : `ClusterRoleBinding "${b.metadata.name}" of ${ref.kind} "${ref.name}" to ${describeSubject(subject, '')}`;
      for (const rule of rules) if (!visitor(source, rule)) return errors;
    }
    return errors;
  }

  authorize(a: Attributes): Decision {
    // The privileged-group authorizer runs before RBAC and needs no binding.
    if (a.user.groups.includes(MASTERS)) return { allowed: true, reason: '' };
    let reason = '';
    const errors = this.visit(a.user, a.namespace, (source, rule) => {
      if (!ruleAllows(a, rule)) return true;
      reason = `RBAC: allowed by ${source}`;
      return false;
    });
    if (reason) return { allowed: true, reason };
    return { allowed: false, reason: errors.length ? `RBAC: ${aggregate(errors)}` : '' };
  }

  rulesFor(user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors = this.visit(user, namespace, (_, rule) => {
      rules.push(rule);
      return true;
    });
    return { rules, errors };
  }

  /**
   * ConfirmNoEscalation: the error text when `rules` grant more than `user` holds in `namespace`,
   * or undefined. Callers skip it for system:masters and for users allowed to `bind`/`escalate`.
   */
  escalation(user: UserInfo, namespace: string, rules: PolicyRule[]): string | undefined {
    const owner = this.rulesFor(user, namespace);
    const missing = new Map<string, PolicyRule>();
    for (const atom of rules.flatMap(atoms)) {
      if (owner.rules.some((o) => covers(o, atom))) continue;
      // Compact missing atoms that differ only in verb, as CompactRules does.
      const { verbs, ...rest } = atom;
      const key = JSON.stringify(rest);
      const seen = missing.get(key);
      if (seen) seen.verbs.push(...verbs);
      else missing.set(key, { ...atom, verbs: [...verbs] });
    }
    if (missing.size === 0) return undefined;
    const lines = [...missing.values()].map(compactString).sort();
    const groups = user.groups.map((g) => `"${g}"`).join(' ');
    let msg = `user "${user.username}" (groups=[${groups}]) is attempting to grant RBAC permissions not currently held:\n${lines.join('\n')}`;
    if (owner.errors.length) msg += `; resolution errors: [${aggregate(owner.errors)}]`;
    return msg;
  }
}

/** Splits a rule into one rule per (group, resource, name, verb) or (URL, verb). */
function atoms(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const verb of rule.verbs) {
    for (const url of rule.nonResourceURLs ?? []) {
      out.push({ verbs: [verb], nonResourceURLs: [url] });
    }
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
        for (const name of names) {
          out.push({
            verbs: [verb],
            apiGroups: [group],
            resources: [resource],
            ...(name === undefined ? {} : { resourceNames: [name] }),
          });
        }
      }
    }
  }
  return out;
}

/** validation.Covers for one atomic rule: a `*` in the owner covers anything. */
function covers(owner: PolicyRule, atom: PolicyRule): boolean {
  const verb = atom.verbs[0]!;
  if (!has(owner.verbs, verb)) return false;
  if (atom.nonResourceURLs) return nonResourceURLMatches(owner, atom.nonResourceURLs[0]!);
  const resource = atom.resources![0]!;
  const sub = resource.includes('/') ? resource.slice(resource.indexOf('/') + 1) : '';
  const ownerNames = owner.resourceNames ?? [];
  return (
    has(owner.apiGroups, atom.apiGroups![0]!) &&
    resourceMatches(owner, resource, sub) &&
    (ownerNames.length === 0 ||
      (atom.resourceNames !== undefined && ownerNames.includes(atom.resourceNames[0]!)))
  );
}

/** rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`. */
function compactString(r: PolicyRule): string {
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
  const parts: string[] = [];
  if (r.apiGroups?.length) parts.push(`APIGroups:${list(r.apiGroups)}`);
  if (r.resources?.length) parts.push(`Resources:${list(r.resources)}`);
  if (r.nonResourceURLs?.length) parts.push(`NonResourceURLs:${list(r.nonResourceURLs)}`);
  if (r.resourceNames?.length) parts.push(`ResourceNames:${list(r.resourceNames)}`);
  parts.push(`Verbs:${list(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

// Default policy, abridged from plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go.
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const rule = (verbs: string[], apiGroups: string[], resources: string[]): PolicyRule => ({
  verbs,
  apiGroups,
  resources,
});

const VIEW: PolicyRule[] = [
  rule(
    READ,
    [''],
    [
      'configmaps',
      'endpoints',
      'persistentvolumeclaims',
      'persistentvolumeclaims/status',
      'pods',
      'replicationcontrollers',
      'replicationcontrollers/scale',
      'serviceaccounts',
      'services',
      'services/status',
    ],
  ),
  rule(
    READ,
    [''],
    [
      'bindings',
      'events',
      'limitranges',
      'namespaces/status',
      'pods/log',
      'pods/status',
      'replicationcontrollers/status',
      'resourcequotas',
      'resourcequotas/status',
    ],
  ),
  rule(READ, [''], ['namespaces']),
  rule(READ, ['discovery.k8s.io'], ['endpointslices']),
  rule(
    READ,
    ['apps'],
    [
      'controllerrevisions',
      'daemonsets',
      'daemonsets/status',
      'deployments',
      'deployments/scale',
      'deployments/status',
      'replicasets',
      'replicasets/scale',
      'replicasets/status',
      'statefulsets',
      'statefulsets/scale',
      'statefulsets/status',
    ],
  ),
  rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
  rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
  rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
  rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
];

const EDIT: PolicyRule[] = [
  rule(
    READ,
    [''],
    ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy'],
  ),
  rule(['impersonate'], [''], ['serviceaccounts']),
  rule(WRITE, [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
  rule(['create'], [''], ['pods/eviction']),
  rule(
    WRITE,
    [''],
    [
      'configmaps',
      'events',
      'persistentvolumeclaims',
      'replicationcontrollers',
      'replicationcontrollers/scale',
      'secrets',
      'serviceaccounts',
      'services',
      'services/proxy',
    ],
  ),
  rule(['create'], [''], ['serviceaccounts/token']),
  rule(
    WRITE,
    ['apps'],
    [
      'daemonsets',
      'deployments',
      'deployments/rollback',
      'deployments/scale',
      'replicasets',
      'replicasets/scale',
      'statefulsets',
      'statefulsets/scale',
    ],
  ),
  rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
  rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
  rule(WRITE, ['policy'], ['poddisruptionbudgets']),
  rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
  rule([...READ, ...WRITE], ['coordination.k8s.io'], ['leases']),
];

const ADMIN: PolicyRule[] = [
  rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
  rule([...READ, ...WRITE], [RBAC_GROUP], ['rolebindings', 'roles']),
];

const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];

const BOOTSTRAP = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

/** The ClusterRoles a fresh cluster has that matter here ([name, rules, extra labels]). */
export const defaultClusterRoles: [string, PolicyRule[], Record<string, string>][] = [
  [
    'cluster-admin',
    [
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      { verbs: ['*'], nonResourceURLs: ['*'] },
    ],
    {},
  ],
  ['admin', [...VIEW, ...EDIT, ...ADMIN], {}],
  ['edit', [...VIEW, ...EDIT], { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' }],
  ['view', VIEW, { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' }],
  ['system:discovery', [{ verbs: ['get'], nonResourceURLs: DISCOVERY_URLS }], {}],
  [
    'system:public-info-viewer',
    [
      {
        verbs: ['get'],
        nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'],
      },
    ],
    {},
  ],
  [
    'system:basic-user',
    [
      rule(
        ['create'],
        ['authorization.k8s.io'],
        ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
      ),
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ],
    {},
  ],
  [
    'system:auth-delegator',
    [
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    ],
    {},
  ],
];

/** The default ClusterRoleBindings ([name, role, groups]). */
export const defaultClusterRoleBindings: [string, string, string[]][] = [
  ['cluster-admin', 'cluster-admin', [MASTERS]],
  ['system:discovery', 'system:discovery', ['system:authenticated']],
  ['system:basic-user', 'system:basic-user', ['system:authenticated']],
  [
    'system:public-info-viewer',
    'system:public-info-viewer',
    ['system:authenticated', 'system:unauthenticated'],
  ],
];

export const bootstrapMetadata = (name: string, labels: Record<string, string> = {}) => ({
  name,
  labels: { ...BOOTSTRAP, ...labels },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
});
