import type { AccessKey as ApiAccessKey } from '../../api/access-keys.js';
import type { Grant as ApiGrant } from '../../api/grants.js';
import type { Group as ApiGroup } from '../../api/groups.js';
import type { KubeRecording as ApiKubeRecording } from '../../api/kube-audit.js';
import type { LoginResponse } from '../../api/login.js';
import type { User as ApiUser, UserListItem as ApiUserListItem } from '../../api/users.js';
import { formatDuration } from '../../shared/duration.js';
import { toIsoString } from '../../shared/time.js';
import type { Session } from '../access/sessions.js';
import {
  boundDestination,
  type AccessKey,
  type AuditEntry,
  type Grant,
  type Group,
  type KubeRecording,
  type Page,
  type User,
  type UserSummary,
} from '../models.js';

const iso = toIsoString;
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function userToApi(u: User): ApiUser {
  return {
    id: u.id,
    name: u.name,
    created: iso(u.createdAt),
    updated: iso(u.updatedAt),
    lastSeenAt: isoOrNull(u.lastSeenAt),
    managedBy: u.managedBy,
  };
}

/** How many of a user's groups the users list names; the rest are counted. */
const GROUPS_SHOWN = 3;

export function userListItemToApi(u: User & { summary: UserSummary }): ApiUserListItem {
  const s = u.summary;
  return {
    ...userToApi(u),
    infraRoles: s.infraRoles,
    groups: s.groups.slice(0, GROUPS_SHOWN),
    totalGroups: s.groups.length,
    origin:
      u.kind === 'system'
        ? 'system'
        : u.managedBy === 'config'
          ? 'config'
          : s.providers.length > 0 && !s.hasPassword
            ? 'provider'
            : 'local',
    providers: s.providers,
    deactivatedBy: s.deactivatedBy,
  };
}

export function groupToApi(g: Group): ApiGroup {
  return {
    id: g.id,
    name: g.name,
    created: iso(g.createdAt),
    updated: iso(g.updatedAt),
    totalUsers: g.totalUsers,
    managedBy: g.managedBy,
  };
}

export function grantToApi(g: Grant): ApiGrant {
  const subject =
    g.subjectKind === 'user'
      ? { user: g.subjectId, userName: g.subjectName }
      : { group: g.subjectId, groupName: g.subjectName };
  return {
    id: g.id,
    ...subject,
    privilege: g.privilege,
    resource: g.resource,
    created: iso(g.createdAt),
    createdBy: g.createdBy,
    expiresAt: isoOrNull(g.expiresAt),
    managedBy: g.managedBy,
    ...(g.requestId ? { request: g.requestId } : {}),
  };
}

/** `currentId`: the key the request came with, which the dashboard marks as "this session". */
export function accessKeyToApi(k: AccessKey, currentId?: string): ApiAccessKey {
  return {
    id: k.id,
    name: k.name,
    userID: k.userId,
    userName: k.userName,
    issuedVia: k.issuedVia,
    created: iso(k.createdAt),
    expires: iso(k.expiresAt),
    inactivityTimeout: k.inactivityTimeout > 0 ? formatDuration(k.inactivityTimeout) : null,
    lastUsed: isoOrNull(k.lastUsedAt),
    destination: boundDestination(k.scopes) ?? null,
    current: k.id === currentId,
  };
}

export function auditToApi(e: AuditEntry) {
  return {
    seq: e.seq,
    at: iso(e.at),
    actor: { id: e.actorId, name: e.actorName },
    action: e.action,
    target: { kind: e.targetKind, id: e.targetId, name: e.targetName },
    sourceIp: e.sourceIp,
    result: e.result,
    details: e.details,
    hash: e.hash,
  };
}

export function sessionToApi(s: Session): LoginResponse {
  return {
    userID: s.userId,
    name: s.name,
    accessKey: s.accessKey,
    expires: iso(s.expiresAt),
    passwordUpdateRequired: s.passwordUpdateRequired,
  };
}

/** A page in the wire shape: items converted, count, total and limit filled in. */
export function pageToApi<T, U>(page: Page<T>, limit: number, convert: (item: T) => U) {
  return {
    items: page.items.map(convert),
    count: page.items.length,
    ...(page.total !== undefined ? { totalCount: page.total } : {}),
    limit,
    ...(page.next ? { next: page.next } : {}),
  };
}

export function recordingToApi(r: KubeRecording): ApiKubeRecording {
  return {
    id: r.id,
    destination: r.destination,
    user: { username: r.userName, uid: r.userId },
    namespace: r.namespace,
    pod: r.pod,
    container: r.container,
    command: r.command,
    subresource: r.subresource as ApiKubeRecording['subresource'],
    stdinRecorded: r.stdinRecorded,
    startedAt: iso(r.startedAt),
    ...(r.endedAt !== null && { endedAt: iso(r.endedAt) }),
    ...(r.exitCode !== null && { exitCode: r.exitCode }),
  };
}
