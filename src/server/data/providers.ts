import { NotFoundError } from '../../shared/errors.js';
import type { ManagedBy, Page, ProviderKind } from '../models.js';
import { translateDbError, type Db } from './db.js';
import { afterKey, toPage } from './pages.js';
import type { ProvidersTable } from './schema.js';

/** A provider as stored; secrets stay sealed until a login needs them. */
export interface ProviderRow {
  id: string;
  name: string;
  kind: ProviderKind;
  issuer: string;
  clientId: string;
  /** Sealed client secret, or null when `clientSecretRef` names where to read it. */
  clientSecret: string | null;
  clientSecretRef: string | null;
  scopes: string[];
  groupsClaim: string;
  config: ProviderConfig;
  /** Sealed JSON of secrets given by value (Google's service account key). */
  privateConfig: string | null;
  managedBy: ManagedBy;
  createdAt: number;
  updatedAt: number;
}

/** Kind-specific settings that are not secret. */
interface ProviderConfig {
  apiUrl?: string;
  domainAdminEmail?: string;
  serviceAccountKeyRef?: string;
}

function toRow(r: ProvidersTable): ProviderRow {
  return {
    ...r,
    kind: r.kind as ProviderKind,
    scopes: r.scopes === '' ? [] : r.scopes.split(' '),
    config: JSON.parse(r.config) as ProviderConfig,
  };
}

function toTable(p: ProviderRow): ProvidersTable {
  return { ...p, scopes: p.scopes.join(' '), config: JSON.stringify(p.config) };
}

export async function listProviders(
  db: Db,
  opts: { byName?: string; after?: string; limit: number },
): Promise<Page<ProviderRow>> {
  let q = db.selectFrom('providers').selectAll();
  if (opts.byName !== undefined) q = q.where('name', '=', opts.byName);
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('name', '>', after);
  const rows = await q
    .orderBy('name')
    .limit(opts.limit + 1)
    .execute();
  return toPage(rows.map(toRow), opts.limit, (p) => p.name);
}

export async function getProvider(
  db: Db,
  by: { byId: string } | { byName: string },
): Promise<ProviderRow> {
  const q = db.selectFrom('providers').selectAll();
  const row = await (
    'byId' in by ? q.where('id', '=', by.byId) : q.where('name', '=', by.byName)
  ).executeTakeFirst();
  if (!row) throw new NotFoundError('provider');
  return toRow(row);
}

export async function listAllProviders(db: Db): Promise<ProviderRow[]> {
  return (await db.selectFrom('providers').selectAll().orderBy('name').execute()).map(toRow);
}

export async function createProvider(db: Db, p: ProviderRow): Promise<void> {
  await db.insertInto('providers').values(toTable(p)).execute().catch(translateDbError);
}

export async function updateProvider(db: Db, p: ProviderRow): Promise<void> {
  const { id, createdAt, ...rest } = toTable(p);
  const result = await db
    .updateTable('providers')
    .set({ ...rest, createdAt })
    .where('id', '=', id)
    .executeTakeFirst()
    .catch(translateDbError);
  if (result.numUpdatedRows === 0n) throw new NotFoundError('provider');
}

/** Deletes a provider; its user links and pending logins go with it (foreign keys). */
export async function deleteProvider(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('providers').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('provider');
}

/** The membership source of the groups a provider reports. */
export function providerSource(providerId: string): string {
  return `provider:${providerId}`;
}

/** The memberships a provider added, by group. */
export async function listProviderMemberships(
  db: Db,
  providerId: string,
): Promise<Map<string, string[]>> {
  const rows = await db
    .selectFrom('groupMembers')
    .select(['groupId', 'userId'])
    .where('source', '=', providerSource(providerId))
    .execute();
  const byGroup = new Map<string, string[]>();
  for (const r of rows) byGroup.set(r.groupId, [...(byGroup.get(r.groupId) ?? []), r.userId]);
  return byGroup;
}

/** The groups a provider made the user a member of. */
export async function listProviderGroupsOfUser(
  db: Db,
  providerId: string,
  userId: string,
): Promise<Array<{ id: string; name: string }>> {
  return db
    .selectFrom('groupMembers')
    .innerJoin('groups', 'groups.id', 'groupMembers.groupId')
    .select(['groups.id', 'groups.name'])
    .where('groupMembers.userId', '=', userId)
    .where('groupMembers.source', '=', providerSource(providerId))
    .execute();
}

/** The link between a user and their identity at a provider. */
export interface ProviderUserRow {
  providerId: string;
  userId: string;
  subject: string;
  email: string;
  /** The group names the provider last reported. */
  groups: string[];
  /** Sealed refresh token, or null when the provider issued none. */
  refreshToken: string | null;
  lastSyncAt: number;
  createdAt: number;
}

export async function findProviderUser(
  db: Db,
  by: { providerId: string } & ({ subject: string } | { userId: string }),
): Promise<ProviderUserRow | undefined> {
  let q = db.selectFrom('providerUsers').selectAll().where('providerId', '=', by.providerId);
  q = 'subject' in by ? q.where('subject', '=', by.subject) : q.where('userId', '=', by.userId);
  const row = await q.executeTakeFirst();
  return row && { ...row, groups: JSON.parse(row.groups) as string[] };
}

/** The user's provider links whose last sync is older than `before`. */
export async function listProviderUsersToSync(
  db: Db,
  userId: string,
  before: number,
): Promise<ProviderUserRow[]> {
  const rows = await db
    .selectFrom('providerUsers')
    .selectAll()
    .where('userId', '=', userId)
    .where('lastSyncAt', '<', before)
    .execute();
  return rows.map((r) => ({ ...r, groups: JSON.parse(r.groups) as string[] }));
}

/**
 * Links holding a refresh token whose last sync is older than `before`, oldest first, leaving
 * out the providers in `skipProviders`.
 */
export async function listProviderUsersDue(
  db: Db,
  opts: { before: number; skipProviders: string[]; limit: number },
): Promise<ProviderUserRow[]> {
  let q = db
    .selectFrom('providerUsers')
    .selectAll()
    .where('refreshToken', 'is not', null)
    .where('lastSyncAt', '<', opts.before);
  if (opts.skipProviders.length > 0) q = q.where('providerId', 'not in', opts.skipProviders);
  const rows = await q.orderBy('lastSyncAt').limit(opts.limit).execute();
  return rows.map((r) => ({ ...r, groups: JSON.parse(r.groups) as string[] }));
}

/** When the link that has waited longest for a sync was last synced (links with a token). */
export async function oldestProviderUserSync(
  db: Db,
  skipProviders: string[],
): Promise<number | undefined> {
  let q = db
    .selectFrom('providerUsers')
    .select((eb) => eb.fn.min<number | string | null>('lastSyncAt').as('oldest'))
    .where('refreshToken', 'is not', null);
  if (skipProviders.length > 0) q = q.where('providerId', 'not in', skipProviders);
  const { oldest } = await q.executeTakeFirstOrThrow();
  return oldest === null ? undefined : Number(oldest);
}

/** How many users a provider is linked to, and how many of them without a refresh token. */
export async function countProviderUsers(
  db: Db,
  providerId: string,
): Promise<{ linked: number; withoutRefreshToken: number }> {
  const row = await db
    .selectFrom('providerUsers')
    .select((eb) => [
      eb.fn.countAll<number | string>().as('linked'),
      eb.fn
        .sum<number | string | null>(
          eb.case().when('refreshToken', 'is', null).then(1).else(0).end(),
        )
        .as('missing'),
    ])
    .where('providerId', '=', providerId)
    .executeTakeFirstOrThrow();
  return { linked: Number(row.linked), withoutRefreshToken: Number(row.missing ?? 0) };
}

/**
 * Claims the next sync of a link: true for exactly one caller across replicas (the one whose
 * update still finds the last sync time it read). Refresh tokens may be single use.
 */
export async function claimProviderUserSync(
  db: Db,
  link: Pick<ProviderUserRow, 'providerId' | 'userId' | 'lastSyncAt'>,
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('providerUsers')
    .set({ lastSyncAt: now })
    .where('providerId', '=', link.providerId)
    .where('userId', '=', link.userId)
    .where('lastSyncAt', '=', link.lastSyncAt)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function saveProviderUser(db: Db, u: ProviderUserRow): Promise<void> {
  const row = { ...u, groups: JSON.stringify(u.groups) };
  await db
    .insertInto('providerUsers')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['providerId', 'userId']).doUpdateSet({
        subject: row.subject,
        email: row.email,
        groups: row.groups,
        refreshToken: row.refreshToken,
        lastSyncAt: row.lastSyncAt,
      }),
    )
    .execute()
    .catch(translateDbError);
}

/** The providers a user is linked to (signed in through). */
export async function listProviderUserLinks(db: Db, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('providerUsers')
    .select('providerId')
    .where('userId', '=', userId)
    .execute();
  return rows.map((r) => r.providerId);
}

export async function deleteProviderUsers(db: Db, providerId: string): Promise<void> {
  await db.deleteFrom('providerUsers').where('providerId', '=', providerId).execute();
}

export async function deleteProviderUser(db: Db, providerId: string, userId: string) {
  await db
    .deleteFrom('providerUsers')
    .where('providerId', '=', providerId)
    .where('userId', '=', userId)
    .execute();
}

/** A pending authorization-code login: what the callback must match. */
export interface LoginRequestRow {
  stateHash: string;
  providerId: string;
  redirectUri: string;
  nonce: string;
  codeVerifier: string;
  /** Hash of the cookie of the browser that started it; null for the CLI. */
  browserBinding: string | null;
  sourceIp: string;
  expiresAt: number;
}

export async function createLoginRequest(db: Db, r: LoginRequestRow): Promise<void> {
  await db.insertInto('loginRequests').values(r).execute();
}

/** Takes a pending login out (single use); undefined when unknown. The caller checks expiry. */
export async function takeLoginRequest(
  db: Db,
  stateHash: string,
): Promise<LoginRequestRow | undefined> {
  const rows = await db
    .deleteFrom('loginRequests')
    .where('stateHash', '=', stateHash)
    .returningAll()
    .execute();
  return rows[0];
}

interface DeviceRequestRow {
  deviceCodeHash: string;
  userCode: string;
  approvedBy: string | null;
  approvedKeyId: string | null;
  sourceIp: string;
  expiresAt: number;
  createdAt: number;
}

export async function createDeviceRequest(db: Db, r: DeviceRequestRow): Promise<void> {
  await db.insertInto('deviceRequests').values(r).execute().catch(translateDbError);
}

export async function findDeviceRequest(
  db: Db,
  deviceCodeHash: string,
): Promise<DeviceRequestRow | undefined> {
  return db
    .selectFrom('deviceRequests')
    .selectAll()
    .where('deviceCodeHash', '=', deviceCodeHash)
    .executeTakeFirst();
}

/** Approves a pending request once; false when it is unknown, expired or already approved. */
export async function approveDeviceRequest(
  db: Db,
  userCode: string,
  by: { userId: string; keyId: string },
  now: number,
): Promise<boolean> {
  const result = await db
    .updateTable('deviceRequests')
    .set({ approvedBy: by.userId, approvedKeyId: by.keyId })
    .where('userCode', '=', userCode)
    .where('approvedBy', 'is', null)
    .where('expiresAt', '>', now)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function deleteDeviceRequest(db: Db, deviceCodeHash: string): Promise<boolean> {
  const result = await db
    .deleteFrom('deviceRequests')
    .where('deviceCodeHash', '=', deviceCodeHash)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** How many logins and device requests are waiting to be finished, in all and from one address. */
export async function countPendingRequests(
  db: Db,
  now: number,
  sourceIp: string,
): Promise<{
  all: number;
  fromAddress: number;
  /** When the first pending request expires, and the first from this address. */
  firstExpiry?: number;
  firstExpiryFromAddress?: number;
}> {
  const count = (table: 'loginRequests' | 'deviceRequests') =>
    db
      .selectFrom(table)
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn
          .sum<number>(eb.case().when('sourceIp', '=', sourceIp).then(1).else(0).end())
          .as('mine'),
        eb.fn.min<number | null>('expiresAt').as('first'),
        eb.fn
          .min<number | null>(
            eb.case().when('sourceIp', '=', sourceIp).then(eb.ref('expiresAt')).end(),
          )
          .as('myFirst'),
      ])
      .where('expiresAt', '>', now)
      .executeTakeFirstOrThrow();
  const [logins, devices] = await Promise.all([count('loginRequests'), count('deviceRequests')]);
  const earliest = (...values: Array<number | string | null>) => {
    const present = values.filter((v) => v !== null).map(Number);
    return present.length > 0 ? Math.min(...present) : undefined;
  };
  return {
    all: Number(logins.n) + Number(devices.n),
    fromAddress: Number(logins.mine ?? 0) + Number(devices.mine ?? 0),
    firstExpiry: earliest(logins.first, devices.first),
    firstExpiryFromAddress: earliest(logins.myFirst, devices.myFirst),
  };
}

/** Removes logins and device requests nobody finished in time. */
export async function deleteExpiredLoginRequests(db: Db, now: number): Promise<void> {
  await db.deleteFrom('loginRequests').where('expiresAt', '<=', now).execute();
  await db.deleteFrom('deviceRequests').where('expiresAt', '<=', now).execute();
}
