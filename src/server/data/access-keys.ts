import { sql, type ExpressionBuilder, type ExpressionWrapper, type SqlBool } from 'kysely';
import { NotFoundError } from '../../shared/errors.js';
import type { AccessKey, IssuedVia, ManagedBy, Page } from '../models.js';
import { translateDbError, type Db } from './db.js';
import type { Database } from './schema.js';
import { recordRevokedSessions } from './revoked-sessions.js';
import { afterKey, toPage } from './pages.js';
import { compiledOnce } from './compiled.js';

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
      'accessKeys.parentId',
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

interface ListAccessKeysOptions {
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

const authenticationQuery = compiledOnce((db, p: { keyId: string }) =>
  selectKeys(db)
    .select(['accessKeys.secretHash', 'users.kind as userKind'])
    .where('accessKeys.keyId', '=', p.keyId),
);

/** A key by its public id, with the stored secret hash, for authentication. */
export async function findAccessKeyForAuthentication(
  db: Db,
  keyId: string,
): Promise<(AccessKey & { secretHash: string; userKind: 'user' | 'system' }) | undefined> {
  const [row] = await authenticationQuery(db, {}, { keyId });
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
  /** The credential this one is made from; it ends with it. */
  parentId?: string;
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
      parentId: k.parentId ?? null,
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

/** What decides whether a credential in a chain is still alive. */
export interface KeyLife {
  id: string;
  parentId: string | null;
  expiresAt: number;
  inactivityDeadline: number | null;
}

/** Longest chain of derived credentials followed; deeper ones are refused (fail closed). */
export const MAX_KEY_CHAIN = 16;

const ancestorsQuery = compiledOnce((db, p: { parentId: string }) =>
  db
    .withRecursive('chain(id, parentId, expiresAt, inactivityDeadline, depth)', (qb) =>
      qb
        .selectFrom('accessKeys')
        .select(['id', 'parentId', 'expiresAt', 'inactivityDeadline', sql<number>`0`.as('depth')])
        .where('id', '=', p.parentId)
        .unionAll(
          qb
            .selectFrom('accessKeys')
            .innerJoin('chain', 'chain.parentId', 'accessKeys.id')
            .select([
              'accessKeys.id',
              'accessKeys.parentId',
              'accessKeys.expiresAt',
              'accessKeys.inactivityDeadline',
              sql<number>`chain.depth + 1`.as('depth'),
            ])
            .where('chain.depth', '<', MAX_KEY_CHAIN),
        ),
    )
    .selectFrom('chain')
    .select(['id', 'parentId', 'expiresAt', 'inactivityDeadline'])
    .orderBy('depth'),
);

/**
 * The credentials `parentId` was made from, nearest first, starting with `parentId` itself. A
 * chain that stops at a row whose parent is gone (or goes deeper than MAX_KEY_CHAIN) ends with a
 * non-null `parentId`, which callers treat as a dead chain.
 */
export async function listAccessKeyAncestors(db: Db, parentId: string): Promise<KeyLife[]> {
  const rows = await ancestorsQuery(db, {}, { parentId });
  return rows.map((r) => ({
    ...r,
    expiresAt: Number(r.expiresAt),
    inactivityDeadline: r.inactivityDeadline === null ? null : Number(r.inactivityDeadline),
  }));
}

type KeyFilter = (
  eb: ExpressionBuilder<Database, 'accessKeys'>,
) => ExpressionWrapper<Database, 'accessKeys', SqlBool>;

/**
 * Deletes the keys that match and every credential made from them, recording each as an ended
 * session (connectors then refuse the tokens minted with them). Every deletion of access keys
 * goes through here, so no derived credential outlives its parent.
 */
async function deleteKeysAndDescendants(
  db: Db,
  filter: KeyFilter,
  now: number,
  opts: { recordEnded?: (row: KeyLife & { userId: string }) => boolean } = {},
): Promise<Array<{ id: string; userId: string }>> {
  // Selected first, then deleted: a DELETE whose IN list reads a recursive CTE sees the rows the
  // foreign-key cascade already removed, and would miss (and not record) the descendants.
  const rows = await db
    .withRecursive('doomed(id)', (qb) =>
      qb
        .selectFrom('accessKeys')
        .select('id')
        .where(filter)
        .union(
          qb
            .selectFrom('accessKeys')
            .innerJoin('doomed', 'doomed.id', 'accessKeys.parentId')
            .select('accessKeys.id'),
        ),
    )
    .selectFrom('accessKeys')
    .innerJoin('doomed', 'doomed.id', 'accessKeys.id')
    .select([
      'accessKeys.id',
      'accessKeys.userId',
      'accessKeys.parentId',
      'accessKeys.expiresAt',
      'accessKeys.inactivityDeadline',
    ])
    .execute();
  for (let i = 0; i < rows.length; i += 1000) {
    const ids = rows.slice(i, i + 1000).map((r) => r.id);
    await db.deleteFrom('accessKeys').where('id', 'in', ids).execute();
  }
  const record = opts.recordEnded;
  const ended = record
    ? rows.filter((r) =>
        record({
          ...r,
          expiresAt: Number(r.expiresAt),
          inactivityDeadline: r.inactivityDeadline === null ? null : Number(r.inactivityDeadline),
        }),
      )
    : rows;
  await recordRevokedSessions(db, ended, now);
  return rows.map((r) => ({ id: r.id, userId: r.userId }));
}

/** Deletes a key and the credentials made from it; each is recorded as an ended session. */
export async function deleteAccessKey(db: Db, id: string, now: number): Promise<string[]> {
  const deleted = await deleteKeysAndDescendants(db, (eb) => eb('id', '=', id), now);
  if (deleted.length === 0) throw new NotFoundError('access key');
  return deleted.map((r) => r.id);
}

/** Deletes the keys that match, with the credentials made from them; returns their ids. */
export async function deleteAccessKeys(
  db: Db,
  by: { byUserId: string; byName?: string; byIssuedVia?: IssuedVia[]; exceptIds?: string[] },
  now: number,
): Promise<string[]> {
  const deleted = await deleteKeysAndDescendants(
    db,
    (eb) =>
      eb.and([
        eb('userId', '=', by.byUserId),
        ...(by.byName !== undefined ? [eb('name', '=', by.byName)] : []),
        ...(by.byIssuedVia !== undefined ? [eb('issuedVia', 'in', by.byIssuedVia)] : []),
        ...(by.exceptIds?.length ? [eb('id', 'not in', by.exceptIds)] : []),
      ]),
    now,
  );
  return deleted.map((r) => r.id);
}

/** Deletes the sessions that came through an identity provider (and what they made). */
export async function deleteAccessKeysOfProvider(
  db: Db,
  providerId: string,
  now: number,
): Promise<string[]> {
  const deleted = await deleteKeysAndDescendants(
    db,
    (eb) => eb('providerId', '=', providerId),
    now,
  );
  return deleted.map((r) => r.id);
}

/** Deletes the keys bound to exactly `scope` (a provider's SCIM tokens), with what they made. */
export async function deleteAccessKeysByScope(
  db: Db,
  scope: string,
  now: number,
): Promise<string[]> {
  const deleted = await deleteKeysAndDescendants(db, (eb) => eb('scopes', '=', scope), now);
  return deleted.map((r) => r.id);
}

/**
 * Deletes keys that can no longer be used, with what was made from them; returns their ids.
 * Credentials that were still alive themselves (made from a key that idled out) are recorded
 * as ended, so their tokens stop working too.
 */
export async function deleteExpiredAccessKeys(db: Db, now: number): Promise<string[]> {
  const isExpired = (k: KeyLife) =>
    k.expiresAt <= now || (k.inactivityDeadline !== null && k.inactivityDeadline <= now);
  const deleted = await deleteKeysAndDescendants(
    db,
    (eb) => eb.or([eb('expiresAt', '<=', now), eb('inactivityDeadline', '<=', now)]),
    now,
    { recordEnded: (k) => !isExpired(k) },
  );
  return deleted.map((r) => r.id);
}
