import { formatDuration } from '../../shared/duration.js';
import { NotFoundError } from '../../shared/errors.js';
import { isId } from '../../shared/ids.js';
import { getAccessRequest } from '../data/access-requests.js';
import { getDestination } from '../data/destinations.js';
import { listGrants, type Subject } from '../data/grants.js';
import { listMembershipsOfUser } from '../data/groups.js';
import { listAllProviders } from '../data/providers.js';
import { listRequestPolicies } from '../data/request-policies.js';
import { getUser } from '../data/users.js';
import type { Destination, Grant, RequestPolicy } from '../models.js';
import { actorOf, type RequestContext } from './context.js';
import { isAmong, policyCovers } from './request-policies.js';
import { ROLES_BY_POWER, roleAllows } from './role-rules.js';

export interface Membership {
  source: 'manual' | 'config' | 'provider' | 'scim' | 'other';
  provider?: string;
  detail?: string;
  since: number;
}

export interface AccessPath {
  role: string;
  resource: string;
  appliesToTarget: boolean;
  via: { kind: 'user' } | { kind: 'group'; group: string; memberships: Membership[] };
  grant: Pick<Grant, 'id' | 'managedBy' | 'expiresAt'>;
  request: { id: string; reason: string; approvedBy: string[] } | null;
  binding: {
    kind: 'ClusterRoleBinding' | 'RoleBinding';
    name: string;
    namespace: string | null;
    subject: { kind: 'User' | 'Group'; name: string };
  } | null;
  roleOffered: boolean;
  allows: boolean | null;
}

export interface Suggestion {
  role: string;
  resource: string;
  requestable: boolean;
  policy: RequestPolicy | null;
  command: string;
}

export interface Explanation {
  user: { id: string; name: string };
  target: string;
  destination: string;
  namespace: string | null;
  destinationConnected: boolean;
  hasAccess: boolean;
  check: { verb: string; resource: string; allowed: boolean | null } | null;
  paths: AccessPath[];
  suggestion: Suggestion | null;
}

/** Membership sources as recorded (`api`, `provider:<id>`, ...), said for people. */
function membershipOf(source: string, since: number, providers: Map<string, string>): Membership {
  if (source === 'api') return { source: 'manual', since };
  if (source === 'config') return { source: 'config', since };
  const [kind, id] = source.split(':') as [string, string | undefined];
  if (kind === 'provider' || kind === 'scim')
    return { source: kind, provider: providers.get(id ?? '') ?? id ?? '', since };
  return { source: 'other', detail: source, since };
}

/** Three-valued any: true if one is, else unknown if one is, else false. */
function anyOf(values: Array<boolean | null>): boolean | null {
  if (values.includes(true)) return true;
  return values.includes(null) ? null : false;
}

/**
 * Why a user has, or lacks, access to a destination or one of its namespaces: every grant that
 * gives it (to the user, or to a group with how the user came to be in it), temporary grants with
 * their request, the binding the connector writes for each, and for a verb on a resource whether
 * the role allows it. When access is missing, the smallest grant that would give it and whether
 * a request policy lets the user ask for it. Admins ask about anyone; others about themselves.
 */
export async function explainAccess(
  ctx: RequestContext,
  input: { user: string; destination: string; verb?: string; resource?: string },
): Promise<Explanation> {
  const actor = actorOf(ctx);
  const ref = input.user === 'self' ? actor.userId : input.user.toLowerCase();
  ctx.authorize(ref === actor.userId || ref === actor.name);
  const user = await getUser(ctx.db, isId(ref, 'user') ? { byId: ref } : { byName: ref }).catch(
    (err: unknown) => {
      throw err instanceof NotFoundError ? new NotFoundError('user', `no user ${ref}`) : err;
    },
  );
  const now = ctx.clock.now();
  const [destinationName, namespace] = input.destination.split('.') as [string, string?];
  const destination: Destination | undefined = await getDestination(ctx.db, {
    byName: destinationName,
  }).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  const providers = new Map((await listAllProviders(ctx.db)).map((p) => [p.id, p.name]));
  const memberships = await listMembershipsOfUser(ctx.db, user.id);
  const groups = new Map<string, { name: string; memberships: Membership[] }>();
  for (const m of memberships) {
    const group = groups.get(m.groupId) ?? { name: m.groupName, memberships: [] };
    group.memberships.push(membershipOf(m.source, m.createdAt, providers));
    groups.set(m.groupId, group);
  }
  const subjects: Subject[] = [
    { kind: 'user', id: user.id },
    ...[...groups.keys()].map((id) => ({ kind: 'group' as const, id })),
  ];
  const grants = await listGrants(ctx.db, {
    bySubjects: subjects,
    byDestination: destinationName,
    activeAt: now,
    limit: 1000,
  });
  const check =
    input.verb !== undefined && input.resource !== undefined
      ? { verb: input.verb, resource: input.resource }
      : undefined;

  const paths: AccessPath[] = [];
  for (const g of grants.items) {
    const grantNamespace = g.resource.split('.')[1];
    const appliesToTarget = grantNamespace === undefined || grantNamespace === namespace;
    // A namespace's grants still show when asking about the whole cluster: they reach it.
    if (!appliesToTarget && namespace !== undefined) continue;
    const request = g.requestId
      ? await getAccessRequest(ctx.db, g.requestId).catch(() => undefined)
      : undefined;
    const group = g.subjectKind === 'group' ? groups.get(g.subjectId) : undefined;
    paths.push({
      role: g.privilege,
      resource: g.resource,
      appliesToTarget,
      via: group
        ? { kind: 'group', group: group.name, memberships: group.memberships }
        : { kind: 'user' },
      grant: { id: g.id, managedBy: g.managedBy, expiresAt: g.expiresAt },
      request: request
        ? {
            id: request.id,
            reason: request.reason,
            approvedBy: request.reviews
              .filter((r) => r.decision === 'approve')
              .map((r) => r.reviewerName),
          }
        : null,
      binding:
        g.privilege === 'connect'
          ? null
          : {
              kind: grantNamespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding',
              name: `infra:${g.privilege}`,
              namespace: grantNamespace ?? null,
              subject: group
                ? { kind: 'Group', name: group.name }
                : { kind: 'User', name: user.name },
            },
      roleOffered: g.privilege === 'connect' || (destination?.roles.includes(g.privilege) ?? false),
      allows:
        check && appliesToTarget
          ? (roleAllows(g.privilege, check.verb, check.resource) ?? null)
          : null,
    });
  }
  const applying = paths.filter((p) => p.appliesToTarget);
  const hasAccess = paths.length > 0;
  const allowed = check ? anyOf(applying.filter((p) => p.roleOffered).map((p) => p.allows)) : null;
  const missing = !hasAccess || (check !== undefined && allowed === false);
  return {
    user: { id: user.id, name: user.name },
    target: input.destination,
    destination: destinationName,
    namespace: namespace ?? null,
    destinationConnected: destination !== undefined,
    hasAccess,
    check: check ? { ...check, allowed } : null,
    paths,
    suggestion: missing
      ? await suggest(
          ctx,
          { id: user.id, name: user.name, groups: [...groups.values()].map((g) => g.name) },
          input.destination,
          destination,
          check,
        )
      : null,
  };
}

/**
 * The smallest role (by ROLES_BY_POWER; roles with unknown rules last) that the destination
 * offers and, given a verb, allows it: one the user may request if a policy allows, else one to
 * ask an admin for.
 */
async function suggest(
  ctx: RequestContext,
  user: { id: string; name: string; groups: string[] },
  target: string,
  destination: Destination | undefined,
  check: { verb: string; resource: string } | undefined,
): Promise<Suggestion | null> {
  const offered = destination?.roles ?? ROLES_BY_POWER;
  const power = (role: string) => {
    const i = ROLES_BY_POWER.indexOf(role);
    return i < 0 ? ROLES_BY_POWER.length : i;
  };
  const fitting = offered
    .filter((role) => (check ? roleAllows(role, check.verb, check.resource) === true : true))
    // Without a verb, any role reaches the cluster: view says the least beyond connecting.
    .sort((a, b) =>
      check
        ? power(a) - power(b)
        : Number(b === 'view') - Number(a === 'view') || power(a) - power(b),
    );
  const policies = (await listRequestPolicies(ctx.db)).filter((p) =>
    isAmong(p.requesters, user.name, user.groups),
  );
  for (const role of fitting) {
    const policy = policies.find((p) => policyCovers(p, role, target));
    if (policy) {
      const duration = formatDuration(Math.min(policy.maxDuration, 3_600_000));
      return {
        role,
        resource: target,
        requestable: true,
        policy,
        command: `infra request create ${target} --role ${role} --for ${duration}${policy.reasonRequired ? ' --reason "..."' : ''}`,
      };
    }
  }
  const role = fitting[0];
  if (role === undefined) return null;
  return {
    role,
    resource: target,
    requestable: false,
    policy: null,
    command: `infra grants add ${user.name} ${target} --role ${role}`,
  };
}
