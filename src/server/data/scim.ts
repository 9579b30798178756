import type { Db } from './db.js';
import { translateDbError } from './db.js';

/** Users and groups: the two kinds of resource a provider provisions through SCIM. */
export type ScimKind = 'user' | 'group';

/** What a provider provisioned through SCIM, with its Infra name: alike for users and groups. */
export interface ScimRow {
  /** The Infra user's or group's id (the SCIM id). */
  id: string;
  providerId: string;
  /** The Infra name: a user's is the SCIM userName in lower case, a group's its displayName. */
  name: string;
  externalId: string | null;
  attributes: Record<string, unknown>;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ScimUserRow extends ScimRow {
  active: boolean;
}

export interface ScimGroupRow extends ScimRow {
  /** SCIM created it (rather than taking over an existing group of the same name). */
  created: boolean;
}

export interface ScimRows {
  user: ScimUserRow;
  group: ScimGroupRow;
}

/** Where each kind is kept: its table, the column naming the Infra user or group, its own flag. */
const TABLES = {
  user: { table: 'scimUsers', key: 'userId', flag: 'active' },
  group: { table: 'scimGroups', key: 'groupId', flag: 'created' },
} as const;

/** Filters the SCIM lists answer from an index; anything else is filtered by the caller. */
export interface ScimListOptions {
  byName?: string;
  byExternalId?: string;
  byId?: string;
  /** Rows to skip (SCIM's startIndex - 1) and to return. */
  offset: number;
  limit: number;
}

/** A kind's SCIM records with the name of the Infra user or group, in one shape for both. */
function records(db: Db, kind: ScimKind) {
  const q =
    kind === 'user'
      ? db
          .selectFrom('scimUsers as s')
          .innerJoin('users as n', 'n.id', 's.userId')
          .select(['s.userId as id', 's.active as flag'])
      : db
          .selectFrom('scimGroups as s')
          .innerJoin('groups as n', 'n.id', 's.groupId')
          .select(['s.groupId as id', 's.created as flag']);
  return q
    .select([
      's.providerId',
      'n.name',
      's.externalId',
      's.attributes',
      's.version',
      's.createdAt',
      's.updatedAt',
    ])
    .as('r');
}

function toRow<K extends ScimKind>(
  kind: K,
  { flag, ...r }: { flag: number; version: number; attributes: string },
): ScimRows[K] {
  return {
    ...r,
    [TABLES[kind].flag]: Number(flag) === 1,
    version: Number(r.version),
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
  } as ScimRows[K];
}

export async function listScimResources<K extends ScimKind>(
  db: Db,
  kind: K,
  providerId: string,
  opts: ScimListOptions,
): Promise<{ total: number; items: Array<ScimRows[K]> }> {
  let q = db.selectFrom(records(db, kind)).where('r.providerId', '=', providerId);
  if (opts.byName !== undefined) q = q.where('r.name', '=', opts.byName);
  if (opts.byExternalId !== undefined) q = q.where('r.externalId', '=', opts.byExternalId);
  if (opts.byId !== undefined) q = q.where('r.id', '=', opts.byId);
  const counted = await q
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const rows =
    opts.limit === 0
      ? []
      : await q
          .selectAll()
          .orderBy('r.createdAt')
          .orderBy('r.id')
          .offset(opts.offset)
          .limit(opts.limit)
          .execute();
  return { total: Number(counted.n), items: rows.map((r) => toRow(kind, r)) };
}

export async function findScimResource<K extends ScimKind>(
  db: Db,
  kind: K,
  providerId: string,
  id: string,
): Promise<ScimRows[K] | undefined> {
  const row = await db
    .selectFrom(records(db, kind))
    .selectAll()
    .where('r.providerId', '=', providerId)
    .where('r.id', '=', id)
    .executeTakeFirst();
  return row && toRow(kind, row);
}

/** Which provider provisioned the user or group, if any. */
export async function findScimResourceProvider(
  db: Db,
  kind: ScimKind,
  id: string,
): Promise<string | undefined> {
  const { table, key } = TABLES[kind];
  const row = await db
    .selectFrom(table)
    .select('providerId')
    .where(key, '=', id)
    .executeTakeFirst();
  return row?.providerId;
}

export async function saveScimResource(
  db: Db,
  kind: ScimKind,
  row: Omit<ScimUserRow, 'name'> | Omit<ScimGroupRow, 'name'>,
): Promise<void> {
  const { table, key, flag } = TABLES[kind];
  const changed = {
    externalId: row.externalId,
    attributes: JSON.stringify(row.attributes),
    version: row.version,
    updatedAt: row.updatedAt,
    // A group's `created` never changes once saved; a user's `active` does.
    [flag]: ('active' in row ? row.active : row.created) ? 1 : 0,
  };
  await db
    .insertInto(table)
    .values({ ...changed, [key]: row.id, providerId: row.providerId, createdAt: row.createdAt })
    .onConflict((oc) => oc.column(key).doUpdateSet(changed))
    .execute()
    .catch(translateDbError);
}

export async function deleteScimResource(db: Db, kind: ScimKind, id: string): Promise<void> {
  const { table, key } = TABLES[kind];
  await db.deleteFrom(table).where(key, '=', id).execute();
}

/**
 * Whether a provider deactivated the user: no sign-in until it reactivates them, or, once that
 * provider is removed (`removedProvider` names it), until an admin removes them.
 */
export async function findUserDeactivation(
  db: Db,
  userId: string,
): Promise<{ removedProvider?: string } | undefined> {
  const row = await db
    .selectFrom('users')
    .leftJoin('scimUsers', 'scimUsers.userId', 'users.id')
    .select('users.deactivatedBy')
    .where('users.id', '=', userId)
    .where((eb) =>
      eb.or([eb('scimUsers.active', '=', 0), eb('users.deactivatedBy', 'is not', null)]),
    )
    .executeTakeFirst();
  if (!row) return undefined;
  return row.deactivatedBy === null ? {} : { removedProvider: row.deactivatedBy };
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
