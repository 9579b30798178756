import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { deleteExpiredAccessKeys } from '../data/access-keys.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { deleteExpiredGrants } from '../data/grants.js';
import { deleteExpiredLoginRequests } from '../data/providers.js';
import { deleteStaleThrottles } from '../data/throttle.js';
import { pruneChanges } from '../data/changes.js';
import { pruneRemovedUserKeys } from '../data/removed-user-keys.js';
import { pruneRevokedSessions } from '../data/revoked-sessions.js';

const DAY = 86_400_000;

/**
 * Removes what has run out: grants past `expiresAt` (audited, as the server's own change; a timer
 * removes each at its expiry, see GrantExpiry), keys past their expiry or inactivity deadline
 * (and what is kept of removed users' keys once these would have ended), provider logins and
 * device requests nobody finished, and login throttles nobody has touched for a day. Pending
 * access requests past their deadline are expired by RequestExpiry (expireDueRequests).
 * Expired grants and keys already stop counting at their deadline; this keeps the tables tidy.
 */
export async function removeExpired(db: Db, clock: Clock, log: Logger): Promise<void> {
  const now = clock.now();
  await db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    const grants = await expireGrants(tx, now);
    const keys = await deleteExpiredAccessKeys(tx, now);
    await deleteStaleThrottles(tx, now - DAY);
    await deleteExpiredLoginRequests(tx, now);
    await pruneChanges(tx, now - DAY);
    await pruneRevokedSessions(tx, now - DAY);
    await pruneRemovedUserKeys(tx, now);
    if (grants + keys.length > 0) {
      log.info({ grants, accessKeys: keys.length }, 'removed expired grants and access keys');
    }
  });
}

/** Removes the grants due at `now` in a transaction of their own; returns how many. */
export async function removeExpiredGrants(db: Db, now: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    return expireGrants(tx, now);
  });
}

/** Audits a change the server made on its own (a deadline passed), not at anyone's request. */
export async function appendServerAudit(
  tx: Db,
  now: number,
  entry: {
    action: string;
    targetKind: string;
    targetId: string;
    targetName: string;
    details: Record<string, unknown>;
  },
): Promise<void> {
  await appendAudit(tx, {
    at: now,
    actorId: null,
    actorName: 'server',
    sourceIp: 'local',
    result: 'success',
    ...entry,
  });
}

/** Deletes the grants due at `now`, each audited as the server's own change. */
async function expireGrants(tx: Db, now: number): Promise<number> {
  const grants = await deleteExpiredGrants(tx, now);
  for (const g of grants) {
    await appendServerAudit(tx, now, {
      action: 'expireGrant',
      targetKind: 'grant',
      targetId: g.id,
      targetName: `${g.subjectKind} ${g.subjectName}: ${g.privilege} on ${g.resource}`,
      details: {
        expiresAt: new Date(g.expiresAt!).toISOString(),
        ...(g.requestId ? { request: g.requestId } : {}),
      },
    });
  }
  return grants.length;
}
