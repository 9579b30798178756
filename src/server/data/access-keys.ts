import { NotFoundError } from '../../shared/errors.js';
import type { AccessKey, IssuedVia, ManagedBy, Page } from '../models.js';
import { translateDbError, type Db } from './db.js';
import { recordRevokedSessions } from './revoked-sessions.js';
import { afterKey, toPage } from './pages.js';

function selectKeys(db: Db) {
  return db
    .selectFrom('accessKeys')
    .innerJoin('users', 'users.id', 'accessKeys.userId')
    .select([
      'accessKeys.id',
      'accessKeys.keyId',
      'accessKeys.name',
      'accessKeys.userId',
      'users.name as userName',
      'accessKeys.issuedVia',
      'accessKeys.scopes',
      'accessKeys.managedBy',
      'accessKeys.createdAt',
      'accessKeys.expiresAt',
      'accessKeys.inactivityTimeout',
      'accessKeys.inactivityDeadline',
      'accessKeys.lastUsedAt',
      'accessKeys.providerId',
    ]);
}

type Row = Omit<AccessKey, 'scopes' | 'issuedVia'> & { scopes: string; issuedVia: string };

function toAccessKey(row: Row): AccessKey {
  return {
    ...row,
    issuedVia: row.issuedVia as IssuedVia,
    scopes: row.scopes === '' ? [] : row.scopes.split(','),
    inactivityTimeout: Number(row.inactivityTimeout),
  };
}

export interface ListAccessKeysOptions {
  byUserId?: string;
  byName?: string;
  /** Include keys past their expiry or inactivity deadline. */
  includeExpired?: boolean;
  now: number;
  after?: string;
  limit: number;
}

export async function listAccessKeys(
  db: Db,
  opts: ListAccessKeysOptions,
): Promise<Page<AccessKey>> {
  let q = selectKeys(db);
  if (opts.byUserId !== undefined) q = q.where('accessKeys.userId', '=', opts.byUserId);
  if (opts.byName !== undefined) q = q.where('accessKeys.name', '=', opts.byName);
  if (!opts.includeExpired) {
    q = q
      .where('accessKeys.expiresAt', '>', opts.now)
      .where((eb) =>
        eb.or([
          eb('accessKeys.inactivityDeadline', 'is', null),
          eb('accessKeys.inactivityDeadline', '>', opts.now),
        ]),
      );
  }
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('accessKeys.id', '>', after);
  const rows = await q
    .orderBy('accessKeys.id')
    .limit(opts.limit + 1)
    .execute();
  return toPage(rows.map(toAccessKey), opts.limit, (k) => k.id);
}

export async function getAccessKey(db: Db, by: { byId: string }): Promise<AccessKey> {
  const row = await selectKeys(db).where('accessKeys.id', '=', by.byId).executeTakeFirst();
  if (!row) throw new NotFoundError('access key');
  return toAccessKey(row);
}

/** A key by its public id, with the stored secret hash, for authentication. */
export async function findAccessKeyForAuthentication(
  db: Db,
  keyId: string,
): Promise<(AccessKey & { secretHash: string; userKind: 'user' | 'system' }) | undefined> {
  const row = await selectKeys(db)
    .select(['accessKeys.secretHash', 'users.kind as userKind'])
    .where('accessKeys.keyId', '=', keyId)
    .executeTakeFirst();
  return row && { ...toAccessKey(row), secretHash: row.secretHash, userKind: row.userKind };
}

export interface NewAccessKey {
  id: string;
  keyId: string;
  secretHash: string;
  name: string;
  userId: string;
  issuedVia: IssuedVia;
  scopes: string[];
  managedBy: ManagedBy;
  now: number;
  expiresAt: number;
  inactivityTimeout: number;
  /** The identity provider the session came through. */
  providerId?: string;
}

export async function createAccessKey(db: Db, k: NewAccessKey): Promise<void> {
  await db
    .insertInto('accessKeys')
    .values({
      id: k.id,
      keyId: k.keyId,
      secretHash: k.secretHash,
      name: k.name,
      userId: k.userId,
      issuedVia: k.issuedVia,
      scopes: k.scopes.join(','),
      managedBy: k.managedBy,
      createdAt: k.now,
      expiresAt: k.expiresAt,
      inactivityTimeout: k.inactivityTimeout,
      inactivityDeadline: k.inactivityTimeout > 0 ? k.now + k.inactivityTimeout : null,
      lastUsedAt: null,
      providerId: k.providerId ?? null,
    })
    .execute()
    .catch(translateDbError);
}

/** Records use of a key and slides its inactivity deadline. */
export async function updateAccessKeyUse(
  db: Db,
  id: string,
  use: { lastUsedAt: number; inactivityDeadline: number | null },
): Promise<void> {
  await db.updateTable('accessKeys').set(use).where('id', '=', id).execute();
}

export async function updateAccessKeyScopes(db: Db, id: string, scopes: string[]): Promise<void> {
  await db
    .updateTable('accessKeys')
    .set({ scopes: scopes.join(',') })
    .where('id', '=', id)
    .execute();
}

/** Whether some unexpired key other than `exceptId` carries `scope` (connector bindings). */
export async function isScopeHeld(
  db: Db,
  scope: string,
  opts: { exceptId: string; now: number },
): Promise<boolean> {
  const row = await db
    .selectFrom('accessKeys')
    .select('id')
    .where('scopes', '=', scope)
    .where('id', '!=', opts.exceptId)
    .where('expiresAt', '>', opts.now)
    .executeTakeFirst();
  return row !== undefined;
}

/** Moves every key holding exactly `from` (a connector binding) to `to`. */
export async function replaceScope(db: Db, from: string, to: string): Promise<void> {
  await db.updateTable('accessKeys').set({ scopes: to }).where('scopes', '=', from).execute();
}

/** Deletes a key; the session it was is recorded as ended. */
export async function deleteAccessKey(db: Db, id: string, now: number): Promise<void> {
  const deleted = await db
    .deleteFrom('accessKeys')
    .where('id', '=', id)
    .returning(['id', 'userId'])
    .execute();
  if (deleted.length === 0) throw new NotFoundError('access key');
  await recordRevokedSessions(db, deleted, now);
}

/** Deletes the keys that match; returns their ids (the sessions they ended). */
export async function deleteAccessKeys(
  db: Db,
  by: { byUserId: string; byName?: string; byIssuedVia?: IssuedVia[]; exceptId?: string },
  now: number,
): Promise<string[]> {
  let q = db.deleteFrom('accessKeys').where('userId', '=', by.byUserId);
  if (by.byName !== undefined) q = q.where('name', '=', by.byName);
  if (by.byIssuedVia !== undefined) q = q.where('issuedVia', 'in', by.byIssuedVia);
  if (by.exceptId !== undefined) q = q.where('id', '!=', by.exceptId);
  const rows = await q.returning(['id', 'userId']).execute();
  await recordRevokedSessions(db, rows, now);
  return rows.map((r) => r.id);
}

/** Deletes the sessions that came through an identity provider; returns their ids. */
export async function deleteAccessKeysOfProvider(
  db: Db,
  providerId: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .deleteFrom('accessKeys')
    .where('providerId', '=', providerId)
    .returning(['id', 'userId'])
    .execute();
  await recordRevokedSessions(db, rows, now);
  return rows.map((r) => r.id);
}

/** Deletes keys that can no longer be used; returns their ids. */
export async function deleteExpiredAccessKeys(db: Db, now: number): Promise<string[]> {
  const rows = await db
    .deleteFrom('accessKeys')
    .where((eb) => eb.or([eb('expiresAt', '<=', now), eb('inactivityDeadline', '<=', now)]))
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}
