import { listAll } from '../../api/client.js';
import type { AccessRequest, RequestPolicy } from '../../api/access-requests.js';
import type { Explanation } from '../../api/explain.js';
import { CliError, withClient, type CliIO } from '../context.js';
import { humanTime, printList, printValue, type OutputFormat } from '../output.js';

type Output = { output: OutputFormat };

function subjects(s: { users: string[]; groups: string[] }): string {
  return [...s.users, ...s.groups.map((g) => `group ${g}`)].join(', ') || 'nobody';
}

function membershipText(
  m: NonNullable<Explanation['paths'][number]['via']['memberships']>[number],
) {
  switch (m.source) {
    case 'manual':
      return 'added by an admin';
    case 'config':
      return "declared in the server's config file";
    case 'provider':
      return `synced from identity provider ${m.provider ?? ''}`;
    case 'scim':
      return `provisioned by SCIM from ${m.provider ?? ''}`;
    default:
      return `source ${m.detail ?? 'unknown'}`;
  }
}

function checkText(
  allows: boolean | null,
  role: string,
  check: { verb: string; resource: string },
) {
  if (allows === null)
    return `may or may not allow ${check.verb} ${check.resource}: the rules of ${role} are not known to Infra`;
  return `${allows ? 'allows' : 'does not allow'} ${check.verb} ${check.resource} (default rules of ${role})`;
}

/** `infra explain`: why someone has, or lacks, access, in sentences. */
function printExplanation(io: CliIO, e: Explanation): void {
  const out = (line = '') => io.stdout.write(`${line}\n`);
  out(`${e.user.name} ${e.hasAccess ? 'has access' : 'has no access'} to ${e.target}.`);
  if (!e.destinationConnected) out(`No connector has registered ${e.destination} yet.`);
  if (e.check) {
    const answer = e.check.allowed === null ? 'unknown' : e.check.allowed ? 'yes' : 'no';
    out(`Can ${e.check.verb} ${e.check.resource} in ${e.target}: ${answer}`);
  }
  if (e.paths.length > 0) {
    out();
    out('Through:');
  }
  for (const p of e.paths) {
    const by =
      p.via.kind === 'user'
        ? `granted to ${e.user.name} directly`
        : `granted to group ${p.via.group}`;
    out(`- ${p.role} on ${p.resource}: ${by}${p.appliesToTarget ? '' : ' (that namespace only)'}`);
    if (p.via.kind === 'group') {
      out(
        `    ${e.user.name} is in ${p.via.group}: ${(p.via.memberships ?? []).map(membershipText).join('; ')}`,
      );
    }
    if (p.grant.expiresAt) {
      const request = p.request
        ? `, from request ${p.request.id} (reason "${p.request.reason}", approved by ${p.request.approvedBy.join(', ') || 'nobody'})`
        : '';
      out(`    temporary: until ${p.grant.expiresAt}${request}`);
    }
    if (p.grant.managedBy === 'config') out("    declared in the server's config file");
    if (p.binding) {
      const where = p.binding.namespace ? ` in namespace ${p.binding.namespace}` : '';
      out(
        `    ${p.binding.kind} ${p.binding.name}${where} for ${p.binding.subject.kind} ${p.binding.subject.name}`,
      );
    } else out('    connect: reaches the cluster, no role binding');
    if (!p.roleOffered)
      out(
        `    ${e.destination} does not offer the role ${p.role}: the connector binds nothing for it`,
      );
    if (e.check && p.appliesToTarget && p.binding)
      out(`    ${checkText(p.allows, p.role, e.check)}`);
  }
  const s = e.suggestion;
  if (!s) {
    if (!e.hasAccess || e.check?.allowed === false) {
      out();
      out(`No role ${e.destination} offers would give it.`);
    }
    return;
  }
  out();
  out(`Nearest: ${s.role} on ${s.resource}.`);
  if (s.requestable) {
    out(
      `Request policy ${s.policy} lets ${e.user.name} ask for it (up to ${s.maxDuration}; approved by ${subjects(s.approvers!)}, ${s.approvalsRequired} approval${s.approvalsRequired === 1 ? '' : 's'} needed):`,
    );
  } else {
    out(`No request policy lets ${e.user.name} ask for it; an Infra admin can grant it:`);
  }
  out(`  ${s.command}`);
}

export async function explainAccess(
  io: CliIO,
  user: string,
  target: string,
  opts: Output & { verb?: string; resource?: string },
): Promise<void> {
  if ((opts.verb === undefined) !== (opts.resource === undefined))
    throw new CliError(
      'Give --verb and --resource together, such as --verb create --resource pods/exec',
      2,
    );
  const e = await withClient(io, (c) =>
    c.explainAccess({ user, destination: target, verb: opts.verb, resource: opts.resource }),
  );
  if (opts.output === 'table') printExplanation(io, e);
  else if (opts.output === 'name') io.stdout.write(`${e.hasAccess ? 'allowed' : 'denied'}\n`);
  else printValue(io.stdout, opts.output, e);
}

function requestState(r: AccessRequest, now = Date.now()): string {
  if (r.state === 'pending') {
    const got = r.reviews.filter((v) => v.decision === 'approve').length;
    return `pending (${got}/${r.approvalsRequired})`;
  }
  if (r.state === 'approved' && r.accessExpires) {
    return Date.parse(r.accessExpires) > now
      ? `approved, ends ${humanTime(r.accessExpires, now)}`
      : 'approved, ended';
  }
  return r.state;
}

export const requests = {
  async create(
    io: CliIO,
    resource: string,
    opts: { role?: string; for?: string; reason?: string; policy?: string },
  ) {
    if (!opts.role) throw new CliError('Say which role with --role, such as --role edit', 2);
    const r = await withClient(io, (c) =>
      c.createAccessRequest({
        role: opts.role!,
        resource,
        duration: opts.for ?? '1h',
        reason: opts.reason,
        policy: opts.policy,
      }),
    );
    io.stdout.write(`Requested ${r.role} on ${r.resource} for ${r.duration}: ${r.id}\n`);
    io.stderr.write(
      `It waits for ${r.approvalsRequired} approval${r.approvalsRequired === 1 ? '' : 's'} (policy ${r.policy}) until ${r.expires}; \`infra request list\` shows where it stands.\n`,
    );
  },
  async list(io: CliIO, opts: Output & { all?: boolean; review?: boolean; state?: string }) {
    const items = await withClient(io, (c) =>
      listAll(c.listAccessRequests, {
        ...(opts.all ? {} : opts.review ? { toReview: 'true' } : { mine: 'true' }),
        state: opts.state as AccessRequest['state'] | undefined,
      }),
    );
    printList(io.stdout, opts.output, items, {
      headers: ['ID', 'User', 'Role', 'Resource', 'For', 'State', 'Reason'],
      row: (r) => [r.id, r.userName, r.role, r.resource, r.duration, requestState(r), r.reason],
      name: (r) => r.id,
      empty: opts.review
        ? 'No requests wait for your review'
        : 'No access requests; ask with `infra request create CLUSTER[.NAMESPACE] --role ROLE`',
    });
  },
  async review(
    io: CliIO,
    id: string,
    opts: { approve?: boolean; deny?: boolean; comment?: string },
  ) {
    if (Boolean(opts.approve) === Boolean(opts.deny))
      throw new CliError('Say --approve or --deny', 2);
    const r = await withClient(io, (c) =>
      c.reviewAccessRequest({
        id,
        decision: opts.approve ? 'approve' : 'deny',
        comment: opts.comment,
      }),
    );
    io.stderr.write(
      r.state === 'approved'
        ? `Approved: ${r.userName} has ${r.role} on ${r.resource} until ${r.accessExpires}\n`
        : r.state === 'denied'
          ? `Denied the request of ${r.userName}\n`
          : `Recorded your approval; ${requestState(r)}\n`,
    );
  },
  async cancel(io: CliIO, id: string) {
    const r = await withClient(io, (c) => c.cancelAccessRequest({ id }));
    io.stderr.write(`Cancelled ${r.id} (${r.role} on ${r.resource})\n`);
  },
};

interface PolicyOpts {
  role?: string[];
  resource?: string[];
  requester?: string[];
  requesterGroup?: string[];
  approver?: string[];
  approverGroup?: string[];
  approvals?: string;
  maxDuration?: string;
  pendingExpiry?: string;
  reasonRequired?: boolean;
}

export const policies = {
  async add(io: CliIO, name: string, opts: PolicyOpts) {
    if (!opts.role?.length || !opts.resource?.length)
      throw new CliError('Give at least one --role and one --resource', 2);
    const approvals = opts.approvals === undefined ? 1 : Number(opts.approvals);
    if (!Number.isInteger(approvals)) throw new CliError('--approvals must be a whole number', 2);
    const p = await withClient(io, (c) =>
      c.createRequestPolicy({
        name,
        roles: opts.role!,
        resources: opts.resource!,
        requesters: { users: opts.requester ?? [], groups: opts.requesterGroup ?? [] },
        approvers: { users: opts.approver ?? [], groups: opts.approverGroup ?? [] },
        approvalsRequired: approvals,
        maxDuration: opts.maxDuration,
        pendingExpiry: opts.pendingExpiry,
        reasonRequired: opts.reasonRequired ?? false,
      }),
    );
    io.stderr.write(`Added request policy ${p.name}\n`);
  },
  /** Changes the rules given; the others stay (a repeated option replaces that whole list). */
  async edit(io: CliIO, name: string, opts: PolicyOpts) {
    const approvals = opts.approvals === undefined ? undefined : Number(opts.approvals);
    if (approvals !== undefined && !Number.isInteger(approvals))
      throw new CliError('--approvals must be a whole number', 2);
    await withClient(io, async (c) => {
      const p = (await c.listRequestPolicies()).items.find((x) => x.name === name);
      if (!p) throw new CliError(`No request policy named ${name}; nothing changed`);
      await c.updateRequestPolicy({
        id: p.id,
        roles: opts.role ?? p.roles,
        resources: opts.resource ?? p.resources,
        requesters: {
          users: opts.requester ?? p.requesters.users,
          groups: opts.requesterGroup ?? p.requesters.groups,
        },
        approvers: {
          users: opts.approver ?? p.approvers.users,
          groups: opts.approverGroup ?? p.approvers.groups,
        },
        approvalsRequired: approvals ?? p.approvalsRequired,
        maxDuration: opts.maxDuration ?? p.maxDuration,
        pendingExpiry: opts.pendingExpiry ?? p.pendingExpiry,
        reasonRequired: opts.reasonRequired ?? p.reasonRequired,
      });
    });
    io.stderr.write(`Updated request policy ${name}\n`);
  },
  async list(io: CliIO, opts: Output) {
    const items = await withClient(io, async (c) => (await c.listRequestPolicies()).items);
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'Roles', 'Resources', 'Requesters', 'Approvers', 'Approvals', 'Max'],
      row: (p: RequestPolicy) => [
        p.name,
        p.roles.join(','),
        p.resources.join(','),
        subjects(p.requesters),
        subjects(p.approvers),
        String(p.approvalsRequired),
        p.maxDuration,
      ],
      name: (p) => p.name,
      empty: 'No request policies; an admin adds one with `infra policies add`',
    });
  },
  async remove(io: CliIO, name: string) {
    await withClient(io, async (c) => {
      const p = (await c.listRequestPolicies()).items.find((x) => x.name === name);
      if (!p) throw new CliError(`No request policy named ${name}; nothing removed`);
      await c.deleteRequestPolicy({ id: p.id });
    });
    io.stderr.write(`Removed request policy ${name}\n`);
  },
};
