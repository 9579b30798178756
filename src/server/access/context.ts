import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';

/**
 * What an operation needs to know about the request it serves: where the data is, what time it
 * is, where to log. The identity issue adds the authenticated caller.
 */
export interface RequestContext {
  db: Db;
  clock: Clock;
  log: Logger;
}
