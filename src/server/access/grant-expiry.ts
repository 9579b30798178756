import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';
import { nextGrantExpiry } from '../data/grants.js';
import type { ChangeNotifier } from './changes.js';
import { DeadlineTimer } from './deadline-timer.js';
import { removeExpiredGrants } from './maintenance.js';

/**
 * Removes each grant when it expires, not at the next sweep: the timer deletes the grants due and
 * records the change, which wakes the connectors' feeds, so a temporary grant stops working at
 * the cluster within a second of its end. Operations that make a grant with an expiry
 * `schedule` it.
 */
export class GrantExpiry extends DeadlineTimer {
  constructor(deps: { db: Db; clock: Clock; log: Logger; changes: ChangeNotifier }) {
    super(
      {
        what: 'remove expired grants',
        next: (now) => nextGrantExpiry(deps.db, now),
        handleDue: async (now) => {
          if ((await removeExpiredGrants(deps.db, now)) > 0) deps.changes.notify();
        },
      },
      deps,
    );
  }
}
