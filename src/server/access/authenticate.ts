import type { Clock } from '../../shared/clock.js';
import { AppError, UnauthenticatedError } from '../../shared/errors.js';
import { parseAccessKey, secretMatches } from '../crypto/access-keys.js';
import {
  MAX_KEY_CHAIN,
  findAccessKeyForAuthentication,
  listAccessKeyAncestors,
  updateAccessKeyUse,
  type KeyLife,
} from '../data/access-keys.js';
import type { Db } from '../data/db.js';
import { DatabaseUnavailableError } from '../data/faults.js';
import { listInfraRoles } from '../data/grants.js';
import { findRemovedUserKey } from '../data/removed-user-keys.js';
import { updateUserLastSeen } from '../data/users.js';
import type { AccessKey } from '../models.js';
import type { Actor } from './context.js';

/** Use of a key is written at most this often; the inactivity deadline slides with it. */
const USE_WRITE_INTERVAL = 60_000;

function isAlive(k: Pick<KeyLife, 'expiresAt' | 'inactivityDeadline'>, now: number): boolean {
  return now < k.expiresAt && (k.inactivityDeadline === null || now < k.inactivityDeadline);
}

/**
 * Checks a presented access key and returns its key record: the secret must match (compared in
 * constant time), and the key must be neither expired nor past its inactivity deadline, and so
 * must every credential it was made from (a key created with a session dies with the session).
 * Every failure is the same UnauthenticatedError to the caller; the reason goes to the log only.
 * The one exception needs the secret: the holder of a removed user's key is told so
 * (`user_removed`), since logging in again cannot help them.
 */
export async function checkAccessKey(
  db: Db,
  clock: Clock,
  presented: string,
): Promise<AccessKey & { userKind: 'user' | 'system' }> {
  const parsed = parseAccessKey(presented);
  if (!parsed) throw new UnauthenticatedError('malformed access key');
  const key = await findAccessKeyForAuthentication(db, parsed.keyId);
  const now = clock.now();
  if (!key) {
    const removed = await findRemovedUserKey(db, parsed.keyId, now);
    if (removed && secretMatches(parsed.secret, removed.secretHash))
      throw new AppError('user_removed', 'your Infra user was removed by an admin');
  }
  if (!key || !secretMatches(parsed.secret, key.secretHash)) {
    throw new UnauthenticatedError('unknown access key or wrong secret');
  }
  if (now >= key.expiresAt) throw new UnauthenticatedError('access key expired');
  if (key.inactivityDeadline !== null && now >= key.inactivityDeadline) {
    throw new UnauthenticatedError('access key unused for longer than its inactivity timeout');
  }
  if (key.parentId !== null) {
    const chain = await listAccessKeyAncestors(db, key.parentId);
    const complete =
      chain.length > 0 && chain.length <= MAX_KEY_CHAIN && chain.at(-1)!.parentId === null;
    if (!complete || !chain.every((k) => isAlive(k, now))) {
      throw new UnauthenticatedError('the credential this key was made from has ended');
    }
  }
  return key;
}

/**
 * Authenticates a request's access key and loads the caller's roles. Use is recorded (and the
 * inactivity deadline slid) at most once a minute, so reads do not turn into writes.
 */
export async function authenticate(
  dbs: { read: Db; write: Db },
  clock: Clock,
  presented: string,
): Promise<Actor> {
  const key = await checkAccessKey(dbs.read, clock, presented);
  const now = clock.now();
  if (key.lastUsedAt === null || now - key.lastUsedAt >= USE_WRITE_INTERVAL) {
    try {
      await updateAccessKeyUse(dbs.write, key.id, {
        lastUsedAt: now,
        inactivityDeadline: key.inactivityTimeout > 0 ? now + key.inactivityTimeout : null,
      });
      await updateUserLastSeen(dbs.write, key.userId, now, USE_WRITE_INTERVAL);
    } catch (err) {
      // A database that cannot take writes now (locked, disk full) still serves reads; the use
      // is recorded at the next request. Only the deadline's slide is missed, never extended.
      if (!(err instanceof DatabaseUnavailableError)) throw err;
    }
  }
  const roles = await listInfraRoles(dbs.read, key.userId, now);
  return {
    userId: key.userId,
    name: key.userName,
    kind: key.userKind,
    accessKeyId: key.id,
    roles: new Set(roles),
    scopes: key.scopes,
  };
}
