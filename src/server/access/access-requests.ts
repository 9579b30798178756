import { formatDuration } from '../../shared/duration.js';
import { AppError, ForbiddenError, ValidationError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import * as data from '../data/access-requests.js';
import { createGrant, deleteGrant, extendGrant, findGrant, getGrant } from '../data/grants.js';
import { listRequestPolicies } from '../data/request-policies.js';
import { CONNECTOR_USER_ID, type AccessRequest, type Page, type RequestPolicy } from '../models.js';
import { actorOf, type RequestContext } from './context.js';
import { isAmong, policyCovers, policyPerson, type PolicyPerson } from './request-policies.js';

/** A request as a caller sees it: its state as of now, and what the caller may do with it. */
export type AccessRequestView = AccessRequest & { approvalsRequired: number; canReview: boolean };

export function describeRequest(r: Pick<AccessRequest, 'userName' | 'privilege' | 'resource'>) {
  return `${r.userName}: ${r.privilege} on ${r.resource}`;
}

/**
 * A pending request past its deadline is expired, even in the few milliseconds before
 * RequestExpiry marks it so (or, when the server was down at the deadline, until it restarts).
 */
function asOf(r: AccessRequest, now: number): AccessRequest {
  return r.state === 'pending' && r.expiresAt <= now ? { ...r, state: 'expired' } : r;
}

interface Reviewer {
  id: string;
  person: PolicyPerson;
  policies: Map<string, RequestPolicy>;
}

async function reviewer(ctx: RequestContext): Promise<Reviewer> {
  const actor = actorOf(ctx);
  return {
    id: actor.userId,
    person: await policyPerson(ctx, { id: actor.userId, name: actor.name }),
    policies: new Map((await listRequestPolicies(ctx.db)).map((p) => [p.id, p])),
  };
}

function canReview(r: AccessRequest, who: Reviewer): boolean {
  const policy = who.policies.get(r.policyId);
  return (
    r.state === 'pending' &&
    r.userId !== who.id &&
    policy !== undefined &&
    isAmong(policy.approvers, who.person.name, who.person.groups) &&
    !r.reviews.some((v) => v.reviewerId === who.id)
  );
}

function view(r: AccessRequest, who: Reviewer, now: number): AccessRequestView {
  const current = asOf(r, now);
  return {
    ...current,
    approvalsRequired: who.policies.get(r.policyId)?.approvalsRequired ?? 1,
    canReview: canReview(current, who),
  };
}

/** What a webhook receiver is told about a request (no ids of sessions, nothing secret). */
export function requestEvent(r: AccessRequest, approvalsRequired: number) {
  return {
    id: r.id,
    user: r.userName,
    role: r.privilege,
    resource: r.resource,
    duration: formatDuration(r.duration),
    reason: r.reason,
    policy: r.policyName,
    state: r.state,
    approvals: r.reviews.filter((v) => v.decision === 'approve').length,
    approvalsRequired,
    reviews: r.reviews.map((v) => ({
      reviewer: v.reviewerName,
      decision: v.decision,
      comment: v.comment,
    })),
    accessExpires: r.grantExpiresAt === null ? null : new Date(r.grantExpiresAt).toISOString(),
  };
}

function announce(ctx: RequestContext, event: string, r: AccessRequestView): void {
  const data = requestEvent(r, r.approvalsRequired);
  ctx.afterCommit(() => ctx.webhook.send(event, data));
}

function assertRequester(ctx: RequestContext): void {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user' && actor.userId !== CONNECTOR_USER_ID,
    () => new AppError('forbidden', 'system users cannot request access'),
  );
}

export async function createAccessRequest(
  ctx: RequestContext,
  input: { role: string; resource: string; duration: number; reason?: string; policy?: string },
): Promise<AccessRequestView> {
  assertRequester(ctx);
  const actor = actorOf(ctx);
  const now = ctx.clock.now();
  const who = await reviewer(ctx);
  const candidates = [...who.policies.values()].filter(
    (p) =>
      (input.policy === undefined || p.name === input.policy) &&
      isAmong(p.requesters, who.person.name, who.person.groups) &&
      policyCovers(p, input.role, input.resource),
  );
  const policy = candidates[0];
  assertThat(
    policy,
    () =>
      new AppError(
        'forbidden',
        `no request policy lets you ask for ${input.role} on ${input.resource}${input.policy ? ` under ${input.policy}` : ''}; ask an Infra admin`,
      ),
  );
  const fieldErrors = [];
  if (input.duration > policy.maxDuration)
    fieldErrors.push({
      field: 'duration',
      errors: [`must be at most ${formatDuration(policy.maxDuration)} (policy ${policy.name})`],
    });
  if (policy.reasonRequired && !input.reason)
    fieldErrors.push({ field: 'reason', errors: [`is required by policy ${policy.name}`] });
  if (fieldErrors.length > 0) throw new ValidationError(fieldErrors);
  const standing = await findGrant(ctx.db, {
    subject: { kind: 'user', id: actor.userId },
    privilege: input.role,
    resource: input.resource,
  });
  assertThat(
    !standing || standing.expiresAt !== null,
    () => new AppError('bad_request', `you already have ${input.role} on ${input.resource}`),
  );
  const waiting = await data.countAccessRequests(ctx.db, {
    byUserId: actor.userId,
    byAccess: { privilege: input.role, resource: input.resource },
    byStates: { states: ['pending'], now },
  });
  assertThat(
    waiting === 0,
    () =>
      new AppError(
        'conflict',
        `you already asked for ${input.role} on ${input.resource}; it is waiting for review`,
      ),
  );
  const id = newId('accessRequest', now);
  await data.createAccessRequest(ctx.db, {
    id,
    userId: actor.userId,
    policyId: policy.id,
    privilege: input.role,
    resource: input.resource,
    duration: input.duration,
    reason: input.reason ?? '',
    createdAt: now,
    expiresAt: now + policy.pendingExpiry,
  });
  ctx.afterCommit(() => ctx.requestExpiry.schedule(now + policy.pendingExpiry));
  const created = await data.getAccessRequest(ctx.db, id);
  ctx.audit({
    kind: 'accessRequest',
    id,
    name: describeRequest(created),
    details: {
      state: 'pending',
      policy: policy.name,
      duration: formatDuration(input.duration),
      reason: input.reason ?? '',
    },
  });
  const result = view(created, who, now);
  announce(ctx, 'access_request.created', result);
  return result;
}

/**
 * A caller's requests (`mine`), the pending ones they may review (`toReview`), or every request
 * (admins and viewers); with how many wait for the caller's review. Each list pages through all
 * it finds; states are as of now (a pending request past its deadline is expired).
 */
export async function listAccessRequests(
  ctx: RequestContext,
  input: {
    mine?: boolean;
    toReview?: boolean;
    state?: AccessRequest['state'];
    after?: string;
    limit: number;
  },
): Promise<{ page: Page<AccessRequestView>; pendingToReview: number }> {
  const now = ctx.clock.now();
  const who = await reviewer(ctx);
  ctx.authorize(input.mine === true || input.toReview === true);
  const toReview = {
    byStates: { states: ['pending' as const], now },
    byPolicyIds: [...who.policies.values()]
      .filter((p) => isAmong(p.approvers, who.person.name, who.person.groups))
      .map((p) => p.id),
    notSeenBy: who.id,
  };
  const pendingToReview = await data.countAccessRequests(ctx.db, toReview);
  const page = await data.listAccessRequests(ctx.db, {
    ...(input.toReview
      ? toReview
      : {
          byUserId: input.mine ? who.id : undefined,
          byStates: input.state === undefined ? undefined : { states: [input.state], now },
        }),
    after: input.after,
    limit: input.limit,
  });
  return {
    page: {
      ...page,
      items: page.items.map((r) => view(r, who, now)),
      ...(input.toReview && { total: pendingToReview }),
    },
    pendingToReview,
  };
}

export async function getAccessRequest(
  ctx: RequestContext,
  id: string,
): Promise<AccessRequestView> {
  const who = await reviewer(ctx);
  const request = await data.getAccessRequest(ctx.db, id);
  const policy = who.policies.get(request.policyId);
  ctx.authorize(
    request.userId === who.id ||
      (policy !== undefined && isAmong(policy.approvers, who.person.name, who.person.groups)),
  );
  return view(request, who, ctx.clock.now());
}

/**
 * A request's state moved as asked, or another decision came first (writes are serialized by the
 * audit lock, so this is a safety net): the transaction rolls back, a grant made with it included.
 */
function moved(done: boolean): void {
  assertThat(
    done,
    () => new AppError('conflict', 'this access request was decided meanwhile; read it again'),
  );
}

/**
 * Records a review. A denial decides at once; approvals decide when the policy's threshold is
 * met, and the approval makes a grant that ends after the requested duration (an existing
 * temporary grant of the same role is extended). Requesters never review their own requests.
 */
export async function reviewAccessRequest(
  ctx: RequestContext,
  input: { id: string; decision: 'approve' | 'deny'; comment?: string },
): Promise<AccessRequestView> {
  const now = ctx.clock.now();
  const who = await reviewer(ctx);
  const request = asOf(await data.getAccessRequest(ctx.db, input.id), now);
  const target = { kind: 'accessRequest', id: request.id, name: describeRequest(request) };
  ctx.audit({ ...target, details: { decision: input.decision } });
  assertThat(
    request.userId !== who.id,
    () => new ForbiddenError('review', 'your own access request', []),
  );
  const policy = who.policies.get(request.policyId);
  assertThat(
    policy !== undefined && isAmong(policy.approvers, who.person.name, who.person.groups),
    () => new ForbiddenError('review', 'this access request: you are not among its approvers', []),
  );
  assertThat(
    request.state !== 'expired',
    () => new AppError('expired', 'this access request expired before enough reviews; ask again'),
  );
  assertThat(
    request.state === 'pending',
    () => new AppError('conflict', `this access request is already ${request.state}`),
  );
  assertThat(
    !request.reviews.some((v) => v.reviewerId === who.id),
    () => new AppError('conflict', 'you already reviewed this access request'),
  );
  await data.addAccessReview(ctx.db, request.id, {
    reviewerId: who.id,
    reviewerName: who.person.name,
    decision: input.decision,
    comment: input.comment ?? '',
    createdAt: now,
  });
  const approvals =
    request.reviews.filter((v) => v.decision === 'approve').length +
    (input.decision === 'approve' ? 1 : 0);
  let state: AccessRequest['state'] = 'pending';
  if (input.decision === 'deny') {
    state = 'denied';
    moved(
      await data.setAccessRequestState(ctx.db, request.id, 'pending', { state, decidedAt: now }),
    );
  } else if (approvals >= policy.approvalsRequired) {
    state = 'approved';
    const grant = await grantFor(ctx, request, who.id, now);
    moved(
      await data.setAccessRequestState(ctx.db, request.id, 'pending', {
        state,
        decidedAt: now,
        ...grant,
      }),
    );
  }
  ctx.audit({
    ...target,
    details: {
      decision: input.decision,
      comment: input.comment ?? '',
      approvals,
      approvalsRequired: policy.approvalsRequired,
      state,
    },
  });
  const result = view(await data.getAccessRequest(ctx.db, request.id), who, now);
  announce(ctx, 'access_request.reviewed', result);
  return result;
}

/** The temporary grant an approved request gives. */
async function grantFor(
  ctx: RequestContext,
  request: AccessRequest,
  approverId: string,
  now: number,
): Promise<{ grantId: string; grantExpiresAt: number }> {
  const expiresAt = now + request.duration;
  const subject = { kind: 'user' as const, id: request.userId };
  await createGrant(ctx.db, {
    id: newId('grant', now),
    subject,
    privilege: request.privilege,
    resource: request.resource,
    expiresAt,
    managedBy: 'api',
    createdBy: approverId,
    requestId: request.id,
    now,
  });
  const grant = (await findGrant(ctx.db, {
    subject,
    privilege: request.privilege,
    resource: request.resource,
  }))!;
  // The same role from an earlier request, or one an admin granted for a while: extended.
  if (grant.requestId !== request.id && grant.expiresAt !== null)
    await extendGrant(ctx.db, { id: grant.id, expiresAt, requestId: request.id, now });
  ctx.expiry.schedule(expiresAt);
  return { grantId: grant.id, grantExpiresAt: Math.max(expiresAt, grant.expiresAt ?? 0) };
}

/**
 * Withdraws a pending request, or ends early the access an approved one gave (its grant, if it
 * is still the request's, is removed).
 */
export async function cancelAccessRequest(
  ctx: RequestContext,
  id: string,
): Promise<AccessRequestView> {
  const now = ctx.clock.now();
  const who = await reviewer(ctx);
  const request = asOf(await data.getAccessRequest(ctx.db, id), now);
  ctx.authorize(request.userId === who.id);
  assertThat(
    request.state === 'pending' ||
      (request.state === 'approved' && (request.grantExpiresAt ?? 0) > now),
    () => new AppError('conflict', `this access request is ${request.state}; nothing to cancel`),
  );
  if (request.state === 'approved' && request.grantId) {
    const grant = await getGrant(ctx.db, { byId: request.grantId }).catch(() => undefined);
    if (grant?.requestId === request.id) await deleteGrant(ctx.db, grant.id, now);
  }
  moved(
    await data.setAccessRequestState(ctx.db, id, request.state, {
      state: 'cancelled',
      decidedAt: now,
      grantId: request.grantId ?? undefined,
      grantExpiresAt: request.state === 'approved' ? now : undefined,
    }),
  );
  ctx.audit({
    kind: 'accessRequest',
    id,
    name: describeRequest(request),
    details: { state: 'cancelled', was: request.state },
  });
  const result = view(await data.getAccessRequest(ctx.db, id), who, now);
  announce(ctx, 'access_request.cancelled', result);
  return result;
}
