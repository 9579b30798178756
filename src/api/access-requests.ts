import { z } from 'zod';
import { Duration, Paging, Time, idOf, listOf, text } from './common.js';
import { endpoint } from './endpoint.js';
import { Privilege, Resource } from './grants.js';
import { routes } from './routes.js';

/** A pattern of roles or resources: `*` matches anything (`prod.*`: every namespace of prod). */
const Pattern = z
  .string()
  .regex(/^[A-Za-z0-9*][A-Za-z0-9:._*-]{0,252}$/, 'must be a name, where * matches anything');

const Subjects = z
  .object({
    users: z.array(z.string().min(1).max(254)).max(1000).default([]),
    groups: z.array(z.string().min(1).max(256)).max(1000).default([]),
  })
  .strict();

const PolicyName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, . _ or -');

export const RequestPolicy = z
  .object({
    id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    resources: z.array(z.string()),
    requesters: z.object({ users: z.array(z.string()), groups: z.array(z.string()) }),
    approvers: z.object({ users: z.array(z.string()), groups: z.array(z.string()) }),
    approvalsRequired: z.number().int(),
    maxDuration: z.string(),
    pendingExpiry: z.string(),
    reasonRequired: z.boolean(),
    managedBy: z.enum(['api', 'config', 'system']),
    created: Time,
    updated: Time,
  })
  .meta({ id: 'RequestPolicy' });
export type RequestPolicy = z.infer<typeof RequestPolicy>;

/** A policy's rules, as the API and the config file take them. */
export const RequestPolicyFields = {
  roles: z.array(Pattern).min(1).max(100).describe('Roles that may be requested (patterns)'),
  resources: z
    .array(Pattern)
    .min(1)
    .max(100)
    .describe('Destinations or namespaces (patterns: prod.* is every namespace of prod)'),
  requesters: Subjects.describe('Who may ask (users by email, groups by name)'),
  approvers: Subjects.describe('Who reviews; the requester never approves their own request'),
  approvalsRequired: z.number().int().min(1).max(10).default(1),
  maxDuration: Duration.default('1h').describe('Longest access a request may ask for'),
  pendingExpiry: Duration.default('1h').describe('A request not decided by then expires'),
  reasonRequired: z.boolean().default(false),
};

const policyRules = (v: {
  requesters: { users: string[]; groups: string[] };
  approvers: { users: string[]; groups: string[] };
}) => v.approvers.users.length + v.approvers.groups.length > 0;

export const listRequestPolicies = endpoint({
  ...routes.listRequestPolicies,
  summary: 'List request policies (users see those they may request under or review)',
  tag: 'Access requests',
  auth: 'session',
  input: z.object({}).strict(),
  output: listOf(RequestPolicy),
});

export const createRequestPolicy = endpoint({
  ...routes.createRequestPolicy,
  summary: 'Add a request policy',
  tag: 'Access requests',
  auth: { roles: ['admin'] },
  input: z
    .object({ name: PolicyName, ...RequestPolicyFields })
    .strict()
    .refine(policyRules, { path: ['approvers'], message: 'name at least one approver' }),
  output: RequestPolicy,
});

export const updateRequestPolicy = endpoint({
  ...routes.updateRequestPolicy,
  summary: "Replace a request policy's rules (its name stays; pending requests follow them)",
  tag: 'Access requests',
  auth: { roles: ['admin'] },
  input: z
    .object({ id: idOf('requestPolicy'), ...RequestPolicyFields })
    .strict()
    .refine(policyRules, { path: ['approvers'], message: 'name at least one approver' }),
  output: RequestPolicy,
});

export const deleteRequestPolicy = endpoint({
  ...routes.deleteRequestPolicy,
  summary: 'Remove a request policy (its pending requests can no longer be approved)',
  tag: 'Access requests',
  auth: { roles: ['admin'] },
  input: z.object({ id: idOf('requestPolicy') }).strict(),
  output: undefined,
});

const AccessRequestState = z.enum(['pending', 'approved', 'denied', 'expired', 'cancelled']);

export const AccessRequest = z
  .object({
    id: z.string(),
    user: z.string(),
    userName: z.string(),
    policy: z.string().describe('The name of the policy it was made under'),
    role: z.string(),
    resource: z.string(),
    duration: z.string(),
    reason: z.string(),
    state: AccessRequestState,
    created: Time,
    expires: Time.describe('When it expires if still pending'),
    decided: Time.nullable(),
    grant: z.string().nullable().describe('The temporary grant its approval made'),
    accessExpires: Time.nullable().describe('When the access it gave ends'),
    approvalsRequired: z.number().int(),
    reviews: z.array(
      z.object({
        reviewer: z.string(),
        reviewerName: z.string(),
        decision: z.enum(['approve', 'deny']),
        comment: z.string(),
        created: Time,
      }),
    ),
    canReview: z.boolean().describe('The caller may review it now'),
  })
  .meta({ id: 'AccessRequest' });
export type AccessRequest = z.infer<typeof AccessRequest>;

export const listAccessRequests = endpoint({
  ...routes.listAccessRequests,
  summary: 'List access requests: yours (mine), those you may review (toReview), or all (admins)',
  tag: 'Access requests',
  auth: { roles: ['admin', 'view'], orSelf: true },
  input: z
    .object({
      mine: z.enum(['true', 'false']).optional().describe('Only requests you made'),
      toReview: z
        .enum(['true', 'false'])
        .optional()
        .describe('Only pending requests you may review'),
      state: AccessRequestState.optional(),
      ...Paging,
    })
    .strict(),
  output: listOf(AccessRequest).extend({
    pendingToReview: z
      .number()
      .int()
      .describe('How many pending requests the caller may review (for a badge)'),
  }),
});

export const getAccessRequest = endpoint({
  ...routes.getAccessRequest,
  summary: 'Get an access request (its requester, its reviewers, admins)',
  tag: 'Access requests',
  auth: { roles: ['admin', 'view'], orSelf: true },
  input: z.object({ id: idOf('accessRequest') }).strict(),
  output: AccessRequest,
});

export const createAccessRequest = endpoint({
  ...routes.createAccessRequest,
  summary: 'Ask for a role on a destination or namespace for a while',
  tag: 'Access requests',
  auth: 'session',
  input: z
    .object({
      role: Privilege,
      resource: Resource.refine((r) => r !== 'infra', 'must be a destination or namespace'),
      duration: Duration.default('1h'),
      reason: text(1000).optional(),
      policy: z
        .string()
        .max(63)
        .optional()
        .describe('The policy to ask under (default: the first that allows it)'),
    })
    .strict(),
  output: AccessRequest,
});

export const reviewAccessRequest = endpoint({
  ...routes.reviewAccessRequest,
  summary: 'Approve or deny an access request (never your own)',
  tag: 'Access requests',
  auth: 'session',
  input: z
    .object({
      id: idOf('accessRequest'),
      decision: z.enum(['approve', 'deny']),
      comment: text(1000).optional(),
    })
    .strict(),
  output: AccessRequest,
  status: 200,
});

export const cancelAccessRequest = endpoint({
  ...routes.cancelAccessRequest,
  summary: 'Withdraw a pending request, or end the access an approved one gave (requester, admins)',
  tag: 'Access requests',
  auth: { roles: ['admin'], orSelf: true },
  input: z.object({ id: idOf('accessRequest') }).strict(),
  output: AccessRequest,
  status: 200,
});
