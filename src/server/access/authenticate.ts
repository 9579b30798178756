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

/**
 * How long a verified key and its caller's roles are believed without reading them again. Any
 * change committed here, or announced by another replica, ends the belief at once; this bounds
 * it when no announcement comes (a write that records no change, another process on the file).
 */
const CALLER_CACHE_MS = 1000;
/** Keys believed at once; beyond this the oldest are forgotten (read again when used). */
const CALLER_CACHE_SIZE = 10_000;

/** The earliest time at which a credential stops being alive by itself (expiry, inactivity). */
function endOf(k: Pick<KeyLife, 'expiresAt' | 'inactivityDeadline'>): number {
  return k.inactivityDeadline === null ? k.expiresAt : Math.min(k.expiresAt, k.inactivityDeadline);
}

type CheckedKey = AccessKey & { userKind: 'user' | 'system'; secretHash: string };

/**
 * The key record of a presented access key, and until when its chain of parents is alive: see
 * checkAccessKey.
 */
async function verifyAccessKey(
  db: Db,
  clock: Clock,
  presented: string,
): Promise<{ key: CheckedKey; parentsEnd: number }> {
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
  let parentsEnd = Infinity;
  if (key.parentId !== null) {
    const chain = await listAccessKeyAncestors(db, key.parentId);
    const complete =
      chain.length > 0 && chain.length <= MAX_KEY_CHAIN && chain.at(-1)!.parentId === null;
    parentsEnd = Math.min(...chain.map(endOf));
    if (!complete || now >= parentsEnd) {
      throw new UnauthenticatedError('the credential this key was made from has ended');
    }
  }
  return { key, parentsEnd };
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
  return (await verifyAccessKey(db, clock, presented)).key;
}

/** A caller believed without reading the database again, while `generation` is current. */
interface Believed {
  actor: Actor;
  secretHash: string;
  lastUsedAt: number | null;
  /** The change generation it was read in. */
  generation: number;
  /** When the belief ends: the cache's limit, or before it the key, a parent or a role ending. */
  until: number;
}

/**
 * Authenticates requests' access keys and loads the callers' roles. A caller once verified is
 * believed for up to a second, until anything is committed (`changes.generation` moves: a key
 * deleted, a password changed, a user removed, a role granted or taken), or until a deadline of
 * the key, its parents or its roles passes; only "yes" is ever answered from memory, so a key
 * whose deadline a use elsewhere may have moved is read again rather than refused. Use is
 * recorded (and the inactivity deadline slid) at most once a minute per key, so reads do not
 * turn into writes.
 */
export class Authenticator {
  readonly #db: Db;
  readonly #readDb: Db;
  readonly #clock: Clock;
  readonly #changes: { readonly generation: number };
  readonly #believed = new Map<string, Believed>();

  constructor(deps: {
    db: Db;
    readDb: Db;
    clock: Clock;
    changes: { readonly generation: number };
  }) {
    this.#db = deps.db;
    this.#readDb = deps.readDb;
    this.#clock = deps.clock;
    this.#changes = deps.changes;
  }

  async authenticate(presented: string): Promise<Actor> {
    const parsed = parseAccessKey(presented);
    const now = this.#clock.now();
    const known = parsed && this.#believed.get(parsed.keyId);
    if (
      known &&
      known.generation === this.#changes.generation &&
      now < known.until &&
      !useDue(known.lastUsedAt, now) &&
      secretMatches(parsed.secret, known.secretHash)
    ) {
      return known.actor;
    }
    if (parsed) this.#believed.delete(parsed.keyId);

    // A change committed while this reads makes what it read unfit to keep.
    const generation = this.#changes.generation;
    const { key, parentsEnd } = await verifyAccessKey(this.#readDb, this.#clock, presented);
    let { lastUsedAt, inactivityDeadline } = key;
    if (useDue(lastUsedAt, now)) {
      const use = {
        lastUsedAt: now,
        inactivityDeadline: key.inactivityTimeout > 0 ? now + key.inactivityTimeout : null,
      };
      try {
        await updateAccessKeyUse(this.#db, key.id, use);
        await updateUserLastSeen(this.#db, key.userId, now, USE_WRITE_INTERVAL);
        ({ lastUsedAt, inactivityDeadline } = use);
      } catch (err) {
        // A database that cannot take writes now (locked, disk full) still serves reads; the use
        // is recorded at the next request. Only the deadline's slide is missed, never extended.
        if (!(err instanceof DatabaseUnavailableError)) throw err;
      }
    }
    const roles = await listInfraRoles(this.#readDb, key.userId, now);
    const actor: Actor = {
      userId: key.userId,
      name: key.userName,
      kind: key.userKind,
      accessKeyId: key.id,
      roles: new Set(roles.roles),
      scopes: key.scopes,
    };
    if (generation === this.#changes.generation && parsed) {
      if (this.#believed.size >= CALLER_CACHE_SIZE)
        this.#believed.delete(this.#believed.keys().next().value!);
      this.#believed.set(parsed.keyId, {
        actor,
        secretHash: key.secretHash,
        lastUsedAt,
        generation,
        until: Math.min(
          now + CALLER_CACHE_MS,
          endOf({ expiresAt: key.expiresAt, inactivityDeadline }),
          parentsEnd,
          roles.until,
        ),
      });
    }
    return actor;
  }
}

function useDue(lastUsedAt: number | null, now: number): boolean {
  return lastUsedAt === null || now - lastUsedAt >= USE_WRITE_INTERVAL;
}
