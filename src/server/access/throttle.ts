import { RateLimitedError } from '../../shared/errors.js';
import type { Db } from '../data/db.js';
import { deleteThrottle, getThrottles, setThrottle, type ThrottleState } from '../data/throttle.js';

/** Consecutive failed logins that lock a user name; each further failure locks it longer. */
const USER_FAILURES_TO_LOCK = 5;
/** The longest lock: doubling from one second, capped here. */
const USER_MAX_LOCK_MS = 15 * 60_000;
/** Failed logins allowed from one address per window. */
const IP_MAX_FAILURES = 50;
const IP_WINDOW_MS = 15 * 60_000;

interface LoginAttempt {
  name: string;
  ip: string;
}

const userKey = (a: LoginAttempt) => `user:${a.name.toLowerCase()}`;
const ipKey = (a: LoginAttempt) => `ip:${a.ip}`;

/**
 * Refuses an attempt while the user name or the source address is locked out. The state is in
 * the database, so every replica sees the same counts.
 */
export async function checkLoginThrottle(
  db: Db,
  now: number,
  attempt: LoginAttempt,
): Promise<void> {
  const states = await getThrottles(db, [userKey(attempt), ipKey(attempt)]);
  const lockedUntil = Math.max(0, ...states.map((s) => s.lockedUntil));
  if (lockedUntil > now) {
    const seconds = Math.ceil((lockedUntil - now) / 1000);
    throw new RateLimitedError(
      seconds,
      `too many failed sign-in attempts; try again in ${waitPhrase(seconds)}`,
    );
  }
}

/** `4 minutes`, `30 seconds`, `1 second`: a wait as people say it, rounded up. */
export function waitPhrase(seconds: number): string {
  const [n, unit] = seconds < 60 ? [seconds, 'second'] : [Math.ceil(seconds / 60), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * Counts a failed attempt. The USER_FAILURES_TO_LOCK-th consecutive failure locks the user name
 * for a second, and each further one for twice as long as the last (up to 15 minutes). An address that
 * fails IP_MAX_FAILURES times in a window is locked until the window ends.
 */
export async function recordLoginFailure(
  db: Db,
  now: number,
  attempt: LoginAttempt,
): Promise<void> {
  const states = await getThrottles(db, [userKey(attempt), ipKey(attempt)]);
  const find = (key: string): ThrottleState =>
    states.find((s) => s.key === key) ?? { key, failures: 0, windowStart: now, lockedUntil: 0 };

  const user = find(userKey(attempt));
  const failures = user.failures + 1;
  const over = failures - USER_FAILURES_TO_LOCK;
  const lock = over >= 0 ? Math.min(USER_MAX_LOCK_MS, 1000 * 2 ** Math.min(over, 30)) : 0;
  await setThrottle(db, { ...user, failures, lockedUntil: lock > 0 ? now + lock : 0 }, now);

  let ip = find(ipKey(attempt));
  if (now - ip.windowStart >= IP_WINDOW_MS)
    ip = { ...ip, failures: 0, windowStart: now, lockedUntil: 0 };
  const ipFailures = ip.failures + 1;
  await setThrottle(
    db,
    {
      ...ip,
      failures: ipFailures,
      lockedUntil: ipFailures >= IP_MAX_FAILURES ? ip.windowStart + IP_WINDOW_MS : 0,
    },
    now,
  );
}

/** A successful login clears the user name's failures (not the address's). */
export async function clearLoginFailures(db: Db, attempt: LoginAttempt): Promise<void> {
  await deleteThrottle(db, userKey(attempt));
}
