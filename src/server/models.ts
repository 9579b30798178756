/**
 * Domain types: what data/ returns and access/ works with. The wire types live in api/; the
 * converters from these to those live in http/. Closed vocabularies (roles, provider kinds) are
 * defined once, in api/.
 */
import type { ProviderKind } from '../api/providers.js';

export type { InfraRole } from '../api/roles.js';
export type { ProviderKind };

/** Who put a row there: the API, the config file (reconciled at start) or the server itself. */
export type ManagedBy = 'api' | 'config' | 'system';

/** The system user connectors act as (created by migration 0002). */
export const CONNECTOR_USER_ID = 'usr_000000000000000000000001';

/** The system user SCIM tokens belong to (created by migration 0009). */
export const SCIM_USER_ID = 'usr_000000000000000000000002';

export interface User {
  id: string;
  name: string;
  kind: 'user' | 'system';
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number | null;
}

/** Who a user is, at a glance: for the users list. */
export interface UserSummary {
  /** Roles on `infra`, held directly or through a group. */
  infraRoles: string[];
  /** Names of the user's groups, sorted. */
  groups: string[];
  /** Identity providers the user has signed in through. */
  providers: string[];
  /** Whether the user has a password here. */
  hasPassword: boolean;
  /** The identity provider that deactivated the user (SCIM), if one did. */
  deactivatedBy: string | null;
}

export interface Group {
  id: string;
  name: string;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
  totalUsers: number;
}

export type SubjectKind = 'user' | 'group';

export interface Grant {
  id: string;
  subjectKind: SubjectKind;
  subjectId: string;
  subjectName: string;
  privilege: string;
  resource: string;
  destination: string;
  expiresAt: number | null;
  managedBy: ManagedBy;
  createdBy: string | null;
  createdAt: number;
  /** The access request whose approval made it (a temporary grant), if any. */
  requestId: string | null;
}

/** How a session or key came to be. */
export type IssuedVia =
  'password' | 'key-exchange' | 'provider' | 'device' | 'setup' | 'api' | 'config';

export interface AccessKey {
  id: string;
  keyId: string;
  name: string;
  userId: string;
  userName: string;
  issuedVia: IssuedVia;
  scopes: string[];
  managedBy: ManagedBy;
  createdAt: number;
  expiresAt: number;
  /** Milliseconds of inactivity after which the key stops working; 0 for none. */
  inactivityTimeout: number;
  inactivityDeadline: number | null;
  lastUsedAt: number | null;
  /** The identity provider the session came through, directly or by exchange or approval. */
  providerId: string | null;
  /**
   * The credential this one was made from (the session that created a key, the key a session
   * was exchanged from): this one ends when it ends and never outlives or outidles it.
   */
  parentId: string | null;
}

/**
 * An identity provider as operations return it. Secrets given by value stay sealed in the data
 * layer; only whether one is set shows here.
 */
export interface Provider {
  id: string;
  name: string;
  kind: ProviderKind;
  issuer: string;
  clientId: string;
  /** Where the client secret is read from, when it is not stored (sealed) here. */
  clientSecretRef: string | null;
  scopes: string[];
  groupsClaim: string;
  apiUrl: string | null;
  domainAdminEmail: string | null;
  serviceAccountKeySet: boolean;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

/** An admin's view of a provider: also how many users it keeps current. */
export interface ProviderDetails extends Provider {
  linkedUsers: number;
  /** Linked users it issued no refresh token for: re-checked only when they sign in again. */
  usersWithoutRefreshToken: number;
}

/** Scope of a session that may only change its one-time password. */
export const PASSWORD_CHANGE_SCOPE = 'password-change';

/**
 * A connector key's scope: the one destination it may register, update and follow. A key gets
 * it from an admin (`infra keys add --connector --destination prod`) or when it first registers.
 */
const DESTINATION_SCOPE = 'destination:';

export function destinationScope(name: string): string {
  return `${DESTINATION_SCOPE}${name}`;
}

/** The destination a key is bound to, if any. */
export function boundDestination(scopes: readonly string[]): string | undefined {
  return scopes.find((s) => s.startsWith(DESTINATION_SCOPE))?.slice(DESTINATION_SCOPE.length);
}

/**
 * A SCIM token's scope: the one provider whose users and groups it provisions. Such a key may
 * use the SCIM endpoints and nothing else.
 */
const SCIM_SCOPE = 'scim:';

export function scimScope(providerId: string): string {
  return `${SCIM_SCOPE}${providerId}`;
}

/** The provider a SCIM token is bound to, if the key is one. */
export function scimProvider(scopes: readonly string[]): string | undefined {
  return scopes.find((s) => s.startsWith(SCIM_SCOPE))?.slice(SCIM_SCOPE.length);
}

/** The membership source of what a provider pushed through SCIM (`provider:<id>` is its logins'). */
export function scimSource(providerId: string): string {
  return `${SCIM_SCOPE}${providerId}`;
}

export interface AuditEntry {
  seq: number;
  at: number;
  actorId: string | null;
  actorName: string;
  action: string;
  targetKind: string;
  targetId: string | null;
  targetName: string | null;
  sourceIp: string;
  result: 'success' | 'denied' | 'failure';
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** A page of a list: the items and, when there are more, the cursor of the next page. */
export interface Page<T> {
  items: T[];
  next?: string;
  /** How many items the list's filters find over all pages (lists that count). */
  total?: number;
}

export interface Destination {
  id: string;
  name: string;
  uniqueId: string;
  connectionUrl: string;
  connectionCa: string;
  /** kubectl reaches the connector at its own URL (direct) or through this server (tunnel). */
  connectionMode: 'direct' | 'tunnel';
  /** A Kubernetes cluster (with a connector) or a Linux host (with the SSH host agent). */
  kind: 'kubernetes' | 'ssh';
  /** SSH hosts: `host:port` where clients reach sshd, and the host's public key line. */
  sshAddress: string;
  sshHostKey: string;
  namespaces: string[];
  roles: string[];
  version: string;
  lastSeenAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A tunnel a connector holds to one server replica, as recorded by that replica. */
export interface TunnelRecord {
  id: string;
  destination: string;
  replicaId: string;
  connectedAt: number;
}

/** The tunnels a destination's connector holds now (tunnel mode), as the replicas recorded them. */
export interface TunnelState {
  /** The replicas it holds a tunnel to. */
  replicas: string[];
  /** When the oldest of those tunnels was opened. */
  since: number | null;
}

export type DestinationWithTunnel = Destination & { tunnel: TunnelState };

/** Who may reach a destination, as a connector needs to know it (see the access feed). */
export interface DestinationAccess {
  updateIndex: number;
  grants: Grant[];
  /** Users with access there (directly or through a group), with their groups that hold grants there. */
  users: Array<{ id: string; name: string; groups: string[] }>;
  /** Sessions ended recently: tokens minted with them must be refused. */
  revokedSessions: string[];
  /** Users removed recently (their sessions are among those ended). */
  removedUsers: string[];
}

/**
 * One answer of the incremental feed. A snapshot is the state in pages, from the first page's
 * `updateIndex`; a delta, what changed since the index asked about: `subjects` (users and
 * groups) whose grants there are now `grants`, `users` whose access there is now as given,
 * `usersWithoutAccess` who have none left, and sessions ended since.
 */
export type AccessChanges =
  | ({ kind: 'snapshot'; next: string | null } & DestinationAccess)
  | ({ kind: 'delta'; subjects: string[]; usersWithoutAccess: string[] } & DestinationAccess);

/** Users and groups, by name (as policies name them). */
export interface SubjectNames {
  users: string[];
  groups: string[];
}

/** What may be requested, by whom, and who approves (see docs/access-requests.md). */
export interface RequestPolicy {
  id: string;
  name: string;
  /** Patterns of roles that may be requested (`edit`, `*`). */
  roles: string[];
  /** Patterns of resources (`prod.*`: any namespace of prod; `prod`: the whole cluster). */
  resources: string[];
  requesters: SubjectNames;
  approvers: SubjectNames;
  approvalsRequired: number;
  /** Longest access a request may ask for, in milliseconds. */
  maxDuration: number;
  /** How long a request waits for its reviews before it expires, in milliseconds. */
  pendingExpiry: number;
  reasonRequired: boolean;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

export type AccessRequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface AccessReview {
  reviewerId: string;
  reviewerName: string;
  decision: 'approve' | 'deny';
  comment: string;
  createdAt: number;
}

export interface AccessRequest {
  id: string;
  userId: string;
  userName: string;
  policyId: string;
  policyName: string;
  privilege: string;
  resource: string;
  /** How long the access lasts once approved, in milliseconds. */
  duration: number;
  reason: string;
  state: AccessRequestState;
  createdAt: number;
  /** When it expires while pending. */
  expiresAt: number;
  decidedAt: number | null;
  /** The grant its approval made (removed when it expires). */
  grantId: string | null;
  grantExpiresAt: number | null;
  reviews: AccessReview[];
}

/** A request to a cluster as its connector recorded it: an audit.k8s.io Event. */
export interface KubeEventRecord {
  /** `<auditID>/<stage>`. */
  id: string;
  /** The stage's time (ms). */
  at: number;
  destination: string;
  userId: string;
  userName: string;
  verb: string;
  namespace: string;
  resource: string;
  status: number | null;
  /** The whole event, as the connector sent it plus its destination. */
  event: Record<string, unknown>;
}

/** A recorded exec or attach session (its asciicast is kept apart, in sealed chunks). */
export interface KubeRecording {
  id: string;
  destination: string;
  userId: string;
  userName: string;
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  subresource: string;
  stdinRecorded: boolean;
  startedAt: number;
  endedAt: number | null;
  exitCode: number | null;
}
