import type { Db } from './db.js';
import { translateDbError } from './db.js';

/** A user a provider provisioned through SCIM, with their Infra name. */
export interface ScimUserRow {
  userId: string;
  providerId: string;
  /** The Infra user name (the SCIM userName in lower case). */
  name: string;
  externalId: string | null;
  active: boolean;
  attributes: Record<string, unknown>;
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** A group a provider pushed through SCIM, with its Infra name. */
export interface ScimGroupRow {
  groupId: string;
  providerId: string;
  name: string;
  externalId: string | null;
  /** SCIM created it (rather than taking over an existing group of the same name). */
  created: boolean;
  attributes: Record<string, unknown>;
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** Filters the SCIM lists answer from an index; anything else is filtered by the caller. */
export interface ScimListOptions {
  byName?: string;
  byExternalId?: string;
  byId?: string;
  /** Rows to skip (SCIM's startIndex - 1) and to return. */
  offset: number;
  limit: number;
}

function selectUsers(db: Db, providerId: string) {
  return db
    .selectFrom('scimUsers')
    .innerJoin('users', 'users.id', 'scimUsers.userId')
    .where('scimUsers.providerId', '=', providerId);
}

function toUserRow(r: {
  userId: string;
  providerId: string;
  name: string;
  externalId: string | null;
  active: number;
  attributes: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}): ScimUserRow {
  return {
    ...r,
    active: Number(r.active) === 1,
    version: Number(r.version),
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
  };
}

const userColumns = [
  'scimUsers.userId',
  'scimUsers.providerId',
  'users.name',
  'scimUsers.externalId',
  'scimUsers.active',
  'scimUsers.attributes',
  'scimUsers.version',
  'scimUsers.createdAt',
  'scimUsers.updatedAt',
] as const;

export async function listScimUsers(
  db: Db,
  providerId: string,
  opts: ScimListOptions,
): Promise<{ total: number; items: ScimUserRow[] }> {
  let q = selectUsers(db, providerId);
  if (opts.byName !== undefined) q = q.where('users.name', '=', opts.byName);
  if (opts.byExternalId !== undefined) q = q.where('scimUsers.externalId', '=', opts.byExternalId);
  if (opts.byId !== undefined) q = q.where('scimUsers.userId', '=', opts.byId);
  const counted = await q
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const rows =
    opts.limit === 0
      ? []
      : await q
          .select(userColumns)
          .orderBy('scimUsers.createdAt')
          .orderBy('scimUsers.userId')
          .offset(opts.offset)
          .limit(opts.limit)
          .execute();
  return { total: Number(counted.n), items: rows.map(toUserRow) };
}

export async function findScimUser(
  db: Db,
  providerId: string,
  userId: string,
): Promise<ScimUserRow | undefined> {
  const row = await selectUsers(db, providerId)
    .select(userColumns)
    .where('scimUsers.userId', '=', userId)
    .executeTakeFirst();
  return row && toUserRow(row);
}

/** Which provider provisioned the user, if any. */
export async function findScimUserProvider(db: Db, userId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('scimUsers')
    .select('providerId')
    .where('userId', '=', userId)
    .executeTakeFirst();
  return row?.providerId;
}

/**
 * Whether a provider deactivated the user: no sign-in until it reactivates them, or, once that
 * provider is removed, until an admin removes them.
 */
export async function isUserDeactivated(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .leftJoin('scimUsers', 'scimUsers.userId', 'users.id')
    .select('users.id')
    .where('users.id', '=', userId)
    .where((eb) =>
      eb.or([eb('scimUsers.active', '=', 0), eb('users.deactivatedBy', 'is not', null)]),
    )
    .executeTakeFirst();
  return row !== undefined;
}

/** Keeps the marks of the users a provider deactivated, before its SCIM records go with it. */
export async function keepDeactivations(
  db: Db,
  provider: { id: string; name: string },
): Promise<void> {
  await db
    .updateTable('users')
    .set({ deactivatedBy: provider.name })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('scimUsers')
        .select('userId')
        .where('providerId', '=', provider.id)
        .where('active', '=', 0),
    )
    .execute();
}

export async function saveScimUser(
  db: Db,
  row: Omit<ScimUserRow, 'name'> & { name?: string },
): Promise<void> {
  const values = {
    userId: row.userId,
    providerId: row.providerId,
    externalId: row.externalId,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    active: row.active ? 1 : 0,
    attributes: JSON.stringify(row.attributes),
  };
  await db
    .insertInto('scimUsers')
    .values(values)
    .onConflict((oc) =>
      oc.column('userId').doUpdateSet({
        externalId: values.externalId,
        active: values.active,
        attributes: values.attributes,
        version: values.version,
        updatedAt: values.updatedAt,
      }),
    )
    .execute()
    .catch(translateDbError);
}

export async function deleteScimUser(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('scimUsers').where('userId', '=', userId).execute();
}

function selectGroups(db: Db, providerId: string) {
  return db
    .selectFrom('scimGroups')
    .innerJoin('groups', 'groups.id', 'scimGroups.groupId')
    .where('scimGroups.providerId', '=', providerId);
}

const groupColumns = [
  'scimGroups.groupId',
  'scimGroups.providerId',
  'groups.name',
  'scimGroups.externalId',
  'scimGroups.created',
  'scimGroups.attributes',
  'scimGroups.version',
  'scimGroups.createdAt',
  'scimGroups.updatedAt',
] as const;

function toGroupRow(r: {
  groupId: string;
  providerId: string;
  name: string;
  externalId: string | null;
  created: number;
  attributes: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}): ScimGroupRow {
  return {
    ...r,
    created: Number(r.created) === 1,
    version: Number(r.version),
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
  };
}

export async function listScimGroups(
  db: Db,
  providerId: string,
  opts: ScimListOptions,
): Promise<{ total: number; items: ScimGroupRow[] }> {
  let q = selectGroups(db, providerId);
  if (opts.byName !== undefined) q = q.where('groups.name', '=', opts.byName);
  if (opts.byExternalId !== undefined) q = q.where('scimGroups.externalId', '=', opts.byExternalId);
  if (opts.byId !== undefined) q = q.where('scimGroups.groupId', '=', opts.byId);
  const counted = await q
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const rows =
    opts.limit === 0
      ? []
      : await q
          .select(groupColumns)
          .orderBy('scimGroups.createdAt')
          .orderBy('scimGroups.groupId')
          .offset(opts.offset)
          .limit(opts.limit)
          .execute();
  return { total: Number(counted.n), items: rows.map(toGroupRow) };
}

export async function findScimGroup(
  db: Db,
  providerId: string,
  groupId: string,
): Promise<ScimGroupRow | undefined> {
  const row = await selectGroups(db, providerId)
    .select(groupColumns)
    .where('scimGroups.groupId', '=', groupId)
    .executeTakeFirst();
  return row && toGroupRow(row);
}

/** Which provider pushed the group, if any. */
export async function findScimGroupProvider(db: Db, groupId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('scimGroups')
    .select('providerId')
    .where('groupId', '=', groupId)
    .executeTakeFirst();
  return row?.providerId;
}

export async function saveScimGroup(
  db: Db,
  row: Omit<ScimGroupRow, 'name'> & { name?: string },
): Promise<void> {
  const values = {
    groupId: row.groupId,
    providerId: row.providerId,
    externalId: row.externalId,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    created: row.created ? 1 : 0,
    attributes: JSON.stringify(row.attributes),
  };
  await db
    .insertInto('scimGroups')
    .values(values)
    .onConflict((oc) =>
      oc.column('groupId').doUpdateSet({
        externalId: values.externalId,
        attributes: values.attributes,
        version: values.version,
        updatedAt: values.updatedAt,
      }),
    )
    .execute()
    .catch(translateDbError);
}

export async function deleteScimGroup(db: Db, groupId: string): Promise<void> {
  await db.deleteFrom('scimGroups').where('groupId', '=', groupId).execute();
}

/** The members one source gave a group, with their names, in the order they were added. */
export async function listMembersBySource(
  db: Db,
  groupId: string,
  source: string,
): Promise<Array<{ id: string; name: string }>> {
  return db
    .selectFrom('groupMembers')
    .innerJoin('users', 'users.id', 'groupMembers.userId')
    .select(['users.id', 'users.name'])
    .where('groupMembers.groupId', '=', groupId)
    .where('groupMembers.source', '=', source)
    .orderBy('groupMembers.createdAt')
    .orderBy('users.id')
    .execute();
}

/** Whether the group has members from sources other than `source`. */
export async function hasMembersFromOtherSources(
  db: Db,
  groupId: string,
  source: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('groupMembers')
    .select('userId')
    .where('groupId', '=', groupId)
    .where('source', '!=', source)
    .executeTakeFirst();
  return row !== undefined;
}

/** Of `userIds`, those the provider provisioned. */
export async function listProvisionedUserIds(
  db: Db,
  providerId: string,
  userIds: string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < userIds.length; i += 1000) {
    const rows = await db
      .selectFrom('scimUsers')
      .select('userId')
      .where('providerId', '=', providerId)
      .where('userId', 'in', userIds.slice(i, i + 1000))
      .execute();
    for (const r of rows) found.add(r.userId);
  }
  return found;
}

/** The groups one source made the user a member of. */
export async function listGroupIdsOfUserBySource(
  db: Db,
  userId: string,
  source: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .where('userId', '=', userId)
    .where('source', '=', source)
    .execute();
  return rows.map((r) => r.groupId);
}

/** The memberships one source added, by group. */
export async function listMembershipsBySource(
  db: Db,
  source: string,
): Promise<Map<string, string[]>> {
  const rows = await db
    .selectFrom('groupMembers')
    .select(['groupId', 'userId'])
    .where('source', '=', source)
    .execute();
  const byGroup = new Map<string, string[]>();
  for (const r of rows) byGroup.set(r.groupId, [...(byGroup.get(r.groupId) ?? []), r.userId]);
  return byGroup;
}
