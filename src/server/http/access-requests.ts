import type { Endpoints } from '../../api/endpoints.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { toIsoString } from '../../shared/time.js';
import * as access from '../access/access-requests.js';
import * as explain from '../access/explain.js';
import * as policies from '../access/request-policies.js';
import type { RequestPolicy } from '../models.js';
import { pageToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

const iso = toIsoString;
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));
/** Durations arrive validated (api/common Duration). */
const ms = (duration: string) => parseDuration(duration)!;

function policyToApi(p: RequestPolicy) {
  return {
    id: p.id,
    name: p.name,
    roles: p.roles,
    resources: p.resources,
    requesters: p.requesters,
    approvers: p.approvers,
    approvalsRequired: p.approvalsRequired,
    maxDuration: formatDuration(p.maxDuration),
    pendingExpiry: formatDuration(p.pendingExpiry),
    reasonRequired: p.reasonRequired,
    managedBy: p.managedBy,
    created: iso(p.createdAt),
    updated: iso(p.updatedAt),
  };
}

function requestToApi(r: access.AccessRequestView) {
  return {
    id: r.id,
    user: r.userId,
    userName: r.userName,
    policy: r.policyName,
    role: r.privilege,
    resource: r.resource,
    duration: formatDuration(r.duration),
    reason: r.reason,
    state: r.state,
    created: iso(r.createdAt),
    expires: iso(r.expiresAt),
    decided: isoOrNull(r.decidedAt),
    grant: r.grantId,
    accessExpires: isoOrNull(r.grantExpiresAt),
    approvalsRequired: r.approvalsRequired,
    reviews: r.reviews.map((v) => ({
      reviewer: v.reviewerId,
      reviewerName: v.reviewerName,
      decision: v.decision,
      comment: v.comment,
      created: iso(v.createdAt),
    })),
    canReview: r.canReview,
  };
}

const policyInput = <T extends { maxDuration: string; pendingExpiry: string }>(input: T) => ({
  ...input,
  maxDuration: ms(input.maxDuration),
  pendingExpiry: ms(input.pendingExpiry),
});

export const explainAccess: H<'explainAccess'> = async (ctx, input) => {
  const e = await explain.explainAccess(ctx, input);
  return {
    ...e,
    paths: e.paths.map((p) => ({
      ...p,
      via:
        p.via.kind === 'group'
          ? {
              ...p.via,
              memberships: p.via.memberships.map((m) => ({ ...m, since: iso(m.since) })),
            }
          : p.via,
      grant: { ...p.grant, expiresAt: isoOrNull(p.grant.expiresAt) },
    })),
    suggestion: e.suggestion && {
      role: e.suggestion.role,
      resource: e.suggestion.resource,
      requestable: e.suggestion.requestable,
      policy: e.suggestion.policy?.name ?? null,
      approvers: e.suggestion.policy?.approvers ?? null,
      approvalsRequired: e.suggestion.policy?.approvalsRequired ?? null,
      maxDuration: e.suggestion.policy ? formatDuration(e.suggestion.policy.maxDuration) : null,
      command: e.suggestion.command,
    },
  };
};

export const listRequestPolicies: H<'listRequestPolicies'> = async (ctx) => {
  const items = await policies.listRequestPolicies(ctx);
  return pageToApi({ items }, items.length, policyToApi);
};

export const createRequestPolicy: H<'createRequestPolicy'> = async (ctx, input) =>
  policyToApi(await policies.createRequestPolicy(ctx, policyInput(input)));

export const updateRequestPolicy: H<'updateRequestPolicy'> = async (ctx, input) =>
  policyToApi(await policies.updateRequestPolicy(ctx, policyInput(input)));

export const deleteRequestPolicy: H<'deleteRequestPolicy'> = async (ctx, input) =>
  policies.deleteRequestPolicy(ctx, input.id);

export const listAccessRequests: H<'listAccessRequests'> = async (ctx, input) => {
  const { page, pendingToReview } = await access.listAccessRequests(ctx, {
    ...input,
    mine: input.mine === 'true',
    toReview: input.toReview === 'true',
  });
  return { ...pageToApi(page, input.limit, requestToApi), pendingToReview };
};

export const getAccessRequest: H<'getAccessRequest'> = async (ctx, input) =>
  requestToApi(await access.getAccessRequest(ctx, input.id));

export const createAccessRequest: H<'createAccessRequest'> = async (ctx, input) =>
  requestToApi(await access.createAccessRequest(ctx, { ...input, duration: ms(input.duration) }));

export const reviewAccessRequest: H<'reviewAccessRequest'> = async (ctx, input) =>
  requestToApi(await access.reviewAccessRequest(ctx, input));

export const cancelAccessRequest: H<'cancelAccessRequest'> = async (ctx, input) =>
  requestToApi(await access.cancelAccessRequest(ctx, input.id));
