import type { Generated } from 'kysely';
import type { ManagedBy, SubjectKind } from '../models.js';

/**
 * The tables as Kysely sees them (camelCase; the CamelCasePlugin maps to snake_case columns).
 * Timestamps are milliseconds since the epoch in bigint columns; booleans are integers 0/1.
 */
export interface Database {
  settings: SettingsTable;
  users: UsersTable;
  credentials: CredentialsTable;
  groups: GroupsTable;
  groupMembers: GroupMembersTable;
  grants: GrantsTable;
  accessKeys: AccessKeysTable;
  auditLog: AuditLogTable;
  auditHead: AuditHeadTable;
  loginThrottle: LoginThrottleTable;
  destinations: DestinationsTable;
  changes: ChangesTable;
  revokedSessions: RevokedSessionsTable;
  removedUserKeys: RemovedUserKeysTable;
  signingKeys: SigningKeysTable;
  encryptionKeys: EncryptionKeysTable;
  providers: ProvidersTable;
  providerUsers: ProviderUsersTable;
  loginRequests: LoginRequestsTable;
  deviceRequests: DeviceRequestsTable;
  serverReplicas: ServerReplicasTable;
  destinationTunnels: DestinationTunnelsTable;
  scimUsers: ScimUsersTable;
  scimGroups: ScimGroupsTable;
  sshAuthorities: SshAuthoritiesTable;
  sshCertificates: SshCertificatesTable;
  sshLogins: SshLoginsTable;
  requestPolicies: RequestPoliciesTable;
  accessRequests: AccessRequestsTable;
  accessRequestReviews: AccessRequestReviewsTable;
  kubeEvents: KubeEventsTable;
  kubeRecordings: KubeRecordingsTable;
  kubeRecordingChunks: KubeRecordingChunksTable;
}

export interface ProvidersTable {
  id: string;
  name: string;
  kind: string;
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  clientSecretRef: string | null;
  scopes: string;
  groupsClaim: string;
  config: string;
  privateConfig: string | null;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

export interface ProviderUsersTable {
  providerId: string;
  userId: string;
  subject: string;
  email: string;
  groups: string;
  refreshToken: string | null;
  lastSyncAt: number;
  createdAt: number;
}

/** What a provider provisioned through SCIM: see migration 0009. */
export interface ScimUsersTable {
  userId: string;
  providerId: string;
  externalId: string | null;
  active: number;
  /** JSON: the resource as the provider last wrote it. */
  attributes: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ScimGroupsTable {
  groupId: string;
  providerId: string;
  externalId: string | null;
  /** 1 when SCIM created the group, 0 when it took over an existing one. */
  created: number;
  attributes: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface LoginRequestsTable {
  stateHash: string;
  providerId: string;
  redirectUri: string;
  nonce: string;
  codeVerifier: string;
  browserBinding: string | null;
  sourceIp: string;
  expiresAt: number;
}

export interface DeviceRequestsTable {
  deviceCodeHash: string;
  userCode: string;
  approvedBy: string | null;
  approvedKeyId: string | null;
  sourceIp: string;
  expiresAt: number;
  createdAt: number;
}

export interface DestinationsTable {
  id: string;
  name: string;
  uniqueId: string;
  connectionUrl: string;
  connectionCa: string;
  connectionMode: 'direct' | 'tunnel';
  kind: Generated<'kubernetes' | 'ssh'>;
  /** SSH hosts: `host:port` where clients reach sshd, and its host public key. */
  sshAddress: Generated<string>;
  sshHostKey: Generated<string>;
  /** JSON array of namespace names. */
  namespaces: string;
  /** JSON array of ClusterRole names. */
  roles: string;
  version: string;
  lastSeenAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ServerReplicasTable {
  id: string;
  startedAt: number;
  seenAt: number;
}

export interface DestinationTunnelsTable {
  id: string;
  destination: string;
  replicaId: string;
  connectedAt: number;
  seenAt: number;
}

export interface ChangesTable {
  idx: Generated<number>;
  destination: string;
  at: number;
  kind: Generated<ChangeKind>;
  subject: string | null;
}

/** What a change concerns: see migration 0007. */
export type ChangeKind = 'user' | 'group' | 'sessions' | 'destination' | 'all';

export interface RevokedSessionsTable {
  sessionId: string;
  userId: string;
  revokedAt: number;
}

export interface RemovedUserKeysTable {
  keyId: string;
  secretHash: string;
  /** When the key would have ended: its expiry, or its inactivity deadline if sooner. */
  endsAt: number;
}

export interface SigningKeysTable {
  kid: string;
  algorithm: string;
  publicJwk: string;
  /** Sealed (encrypted at rest). */
  privateJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface EncryptionKeysTable {
  id: string;
  provider: string;
  /** The data key, wrapped by the root key. */
  wrapped: string;
  /** When it becomes the active key: later than now while a rotation stages it. */
  createdAt: number;
  retiredAt: number | null;
}

export interface SettingsTable {
  name: string;
  value: string;
  updatedAt: number;
}

export interface UsersTable {
  id: string;
  name: string;
  kind: 'user' | 'system';
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number | null;
  /** The removed provider that had deactivated the user through SCIM (migration 0013). */
  deactivatedBy: string | null;
}

export interface CredentialsTable {
  userId: string;
  passwordHash: string;
  oneTime: number;
  updatedAt: number;
}

export interface GroupsTable {
  id: string;
  name: string;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

export interface GroupMembersTable {
  groupId: string;
  userId: string;
  source: string;
  createdAt: number;
}

export interface GrantsTable {
  id: string;
  subjectKind: SubjectKind;
  subjectId: string;
  privilege: string;
  resource: string;
  destination: string;
  expiresAt: number | null;
  managedBy: ManagedBy;
  createdBy: string | null;
  createdAt: number;
  /** The access request whose approval made it (a temporary grant). */
  requestId: Generated<string | null>;
}

export interface RequestPoliciesTable {
  id: string;
  name: string;
  /** JSON arrays of patterns (`*` matches anything). */
  roles: string;
  resources: string;
  /** JSON `{ users: string[], groups: string[] }`, by name. */
  requesters: string;
  approvers: string;
  approvalsRequired: number;
  maxDuration: number;
  pendingExpiry: number;
  reasonRequired: number;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

export interface AccessRequestsTable {
  id: string;
  userId: string;
  policyId: string;
  privilege: string;
  resource: string;
  duration: number;
  reason: string;
  state: AccessRequestState;
  createdAt: number;
  /** When a pending request expires. */
  expiresAt: number;
  decidedAt: number | null;
  grantId: string | null;
  grantExpiresAt: number | null;
}

export type AccessRequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface AccessRequestReviewsTable {
  requestId: string;
  reviewerId: string;
  reviewerName: string;
  decision: 'approve' | 'deny';
  comment: string;
  createdAt: number;
}

export interface AccessKeysTable {
  id: string;
  keyId: string;
  secretHash: string;
  name: string;
  userId: string;
  issuedVia: string;
  scopes: string;
  managedBy: ManagedBy;
  createdAt: number;
  expiresAt: number;
  inactivityTimeout: number;
  inactivityDeadline: number | null;
  lastUsedAt: number | null;
  providerId: Generated<string | null>;
  parentId: Generated<string | null>;
}

export interface AuditLogTable {
  seq: number;
  at: number;
  actorId: string | null;
  actorName: string;
  action: string;
  targetKind: string;
  targetId: string | null;
  targetName: string | null;
  sourceIp: string;
  result: string;
  details: string;
  prevHash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  windowStart: number;
  lockedUntil: number;
  updatedAt: number;
}

export interface SshAuthoritiesTable {
  id: string;
  purpose: 'user' | 'host';
  /** An OpenSSH public key line. */
  publicKey: string;
  /** PKCS#8 PEM, sealed (encrypted at rest). */
  privateKey: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface SshCertificatesTable {
  /** Decimal (a 64-bit serial does not fit a JavaScript number). */
  serial: string;
  userId: string;
  /** The access key it was issued to. */
  sessionId: string;
  destination: string;
  issuedAt: number;
  expiresAt: number;
}

export interface SshLoginsTable {
  userId: string;
  login: string;
  createdAt: number;
}

export interface KubeEventsTable {
  /** `<auditID>/<stage>`: one row per event, however often it is delivered. */
  id: string;
  at: number;
  destination: string;
  userId: string;
  userName: string;
  verb: string;
  namespace: string;
  resource: string;
  status: number | null;
  /** The whole audit.k8s.io Event (JSON). */
  event: string;
}

export interface KubeRecordingsTable {
  id: string;
  destination: string;
  userId: string;
  userName: string;
  namespace: string;
  pod: string;
  container: string;
  /** JSON array. */
  command: string;
  /** exec or attach. */
  subresource: string;
  stdinRecorded: number;
  startedAt: number;
  endedAt: number | null;
  exitCode: number | null;
}

export interface KubeRecordingChunksTable {
  recordingId: string;
  seq: number;
  /** Asciicast lines, sealed (KUBE_RECORDING_CHUNK). */
  data: string;
}
