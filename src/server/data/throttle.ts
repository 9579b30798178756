import type { Db } from './db.js';

export interface ThrottleState {
  key: string;
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export async function getThrottles(db: Db, keys: string[]): Promise<ThrottleState[]> {
  return db
    .selectFrom('loginThrottle')
    .select(['key', 'failures', 'windowStart', 'lockedUntil'])
    .where('key', 'in', keys)
    .execute();
}

export async function setThrottle(db: Db, state: ThrottleState, now: number): Promise<void> {
  const values = {
    failures: state.failures,
    windowStart: state.windowStart,
    lockedUntil: state.lockedUntil,
    updatedAt: now,
  };
  await db
    .insertInto('loginThrottle')
    .values({ key: state.key, ...values })
    .onConflict((oc) => oc.column('key').doUpdateSet(values))
    .execute();
}

export async function deleteThrottle(db: Db, key: string): Promise<void> {
  await db.deleteFrom('loginThrottle').where('key', '=', key).execute();
}

/** Forgets throttles not touched since `before`. */
export async function deleteStaleThrottles(db: Db, before: number): Promise<void> {
  await db
    .deleteFrom('loginThrottle')
    .where('updatedAt', '<', before)
    .where('lockedUntil', '<', before)
    .execute();
}
