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
