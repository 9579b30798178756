import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { expireAccessRequests, nextAccessRequestExpiry } from '../data/access-requests.js';
import { lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { listRequestPolicies } from '../data/request-policies.js';
import { describeRequest, requestEvent } from './access-requests.js';
import type { WebhookNotifier } from './context.js';
import { DeadlineTimer } from './deadline-timer.js';
import { appendServerAudit } from './maintenance.js';

/**
 * Marks the pending requests due at `now` expired, each with an audit entry, in a transaction of
 * its own; once it committed, sends `access_request.expired` for each. Only the requests this call
 * moved out of pending are recorded and sent, so replicas (their timers, their sweeps) that race
 * for the same deadline record and send it once. Returns how many expired.
 */
export async function expireDueRequests(
  db: Db,
  now: number,
  webhook: WebhookNotifier,
): Promise<number> {
  const expired = await db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    const requests = await expireAccessRequests(tx, now);
    for (const r of requests) {
      await appendServerAudit(tx, now, {
        action: 'expireAccessRequest',
        targetKind: 'accessRequest',
        targetId: r.id,
        targetName: describeRequest(r),
        details: { state: 'expired' },
      });
    }
    if (requests.length === 0) return [];
    const policies = new Map((await listRequestPolicies(tx)).map((p) => [p.id, p]));
    return requests.map((r) => requestEvent(r, policies.get(r.policyId)?.approvalsRequired ?? 1));
  });
  for (const data of expired) webhook.send('access_request.expired', data);
  return expired.length;
}

/**
 * Expires each pending request at its deadline, not at the next sweep, so its stored state, its
 * audit entry and its webhook event come on time. Operations that make a request `schedule`
 * its deadline.
 */
export class RequestExpiry extends DeadlineTimer {
  constructor(deps: { db: Db; clock: Clock; log: Logger; webhook: WebhookNotifier }) {
    super(
      {
        what: 'expire pending access requests',
        next: (now) => nextAccessRequestExpiry(deps.db, now),
        handleDue: async (now) => {
          const expired = await expireDueRequests(deps.db, now, deps.webhook);
          if (expired > 0) deps.log.info({ accessRequests: expired }, 'expired access requests');
        },
      },
      deps,
    );
  }
}
