import { compareMigrations } from '../data/migrate.js';
import { probeWrite } from '../data/settings.js';
import type { Db } from '../data/db.js';
import type { DatabaseHealth } from '../data/faults.js';
import type { TokenService } from './tokens.js';

/** A readiness check that takes longer than this counts as failed (a database that hangs). */
const CHECK_TIMEOUT_MS = 2000;
/** While queries failed this recently, the database counts as unavailable without a probe. */
const PROBE_AFTER_MS = 2000;

export interface Readiness {
  ready: boolean;
  /** Each check: `ok`, or what is wrong. */
  checks: { database: string; migrations: string; signingKey: string };
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS / 1000} s`)),
        CHECK_TIMEOUT_MS,
      );
    }),
  ]);
}

/**
 * Whether this server can serve requests: the database answers (and its last writes did not
 * fail), its schema is the one this server migrates to, and the token signing key is loaded.
 * Liveness (`/healthz`) only says the process is up; this says whether to send it traffic.
 */
export async function checkReadiness(deps: {
  db: Db;
  readDb: Db;
  health: DatabaseHealth;
  tokens: Pick<TokenService, 'hasSigningKey'>;
}): Promise<Readiness> {
  let database = 'ok';
  let migrations = 'ok';
  try {
    const { missing, unknown } = await withTimeout(compareMigrations(deps.readDb), 'the database');
    if (unknown.length > 0) migrations = `migrated by a newer server (${unknown.join(', ')})`;
    else if (missing.length > 0) migrations = `not applied: ${missing.join(', ')}`;
    // After a failed write nothing else may try one (no traffic reaches a server that is not
    // ready), so readiness tries a write that changes nothing, once failures have stopped for
    // a moment (a tiny write can pass while real ones still fail); it ends the episode if it works.
    const quiet = Date.now() - deps.health.lastFailureAt > PROBE_AFTER_MS;
    if (!deps.health.up && quiet)
      await withTimeout(probeWrite(deps.db), 'the database').catch(() => {});
    if (!deps.health.up) database = `unavailable: ${deps.health.reason}`;
  } catch (err) {
    database = `unavailable: ${(err as Error).message}`;
    migrations = 'unknown (the database did not answer)';
  }
  const signingKey = deps.tokens.hasSigningKey ? 'ok' : 'not loaded';
  const checks = { database, migrations, signingKey };
  return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
}
