import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import { AppError } from '../../shared/errors.js';
import type { Db } from './db.js';
import * as m0001 from './migrations/0001-settings.js';
import * as m0002 from './migrations/0002-identity.js';
import * as m0003 from './migrations/0003-destinations.js';
import * as m0004 from './migrations/0004-providers.js';
import * as m0005 from './migrations/0005-derived-keys.js';
import * as m0006 from './migrations/0006-removed-user-keys.js';
import * as m0007 from './migrations/0007-change-subjects.js';
import * as m0008 from './migrations/0008-tunnels.js';
import * as m0009 from './migrations/0009-scim.js';
import * as m0010 from './migrations/0010-ssh.js';
import * as m0011 from './migrations/0011-kube-audit.js';
import * as m0012 from './migrations/0012-access-requests.js';
import * as m0013 from './migrations/0013-scim-deactivated.js';

// Every migration, in order. Forward-only: a shipped migration is never edited, only followed.
const migrations: Record<string, Migration> = {
  '0001-settings': m0001,
  '0002-identity': m0002,
  '0003-destinations': m0003,
  '0004-providers': m0004,
  '0005-derived-keys': m0005,
  '0006-removed-user-keys': m0006,
  '0007-change-subjects': m0007,
  '0008-tunnels': m0008,
  '0009-scim': m0009,
  '0010-ssh': m0010,
  '0011-kube-audit': m0011,
  '0012-access-requests': m0012,
  '0013-scim-deactivated': m0013,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export const migrationNames = Object.keys(migrations);

/**
 * Brings the schema up to date, in one transaction. Refuses a database that a newer version of
 * the server has migrated, rather than running against a schema it does not know.
 */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'migrations',
    migrationLockTableName: 'migrations_lock',
  });
  const known = new Set(migrationNames);
  const applied = await migrator.getMigrations();
  const before = new Set(applied.filter((m) => m.executedAt).map((m) => m.name));
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const unknown = await appliedUnknown(db, known);
    if (unknown.length > 0) {
      throw new AppError(
        'unavailable',
        `the database was migrated by a newer version of infra (migration ${unknown.join(', ')}); run that version or a later one`,
        { cause: error },
      );
    }
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '(setup)';
    throw new AppError(
      'unavailable',
      `database migration ${failed} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return (results ?? [])
    .filter((r) => r.status === 'Success' && !before.has(r.migrationName))
    .map((r) => r.migrationName);
}

async function appliedUnknown(db: Db, known: Set<string>): Promise<string[]> {
  try {
    const { rows } = await sql<{ name: string }>`select name from migrations`.execute(db);
    return rows.map((r) => r.name).filter((n) => !known.has(n));
  } catch {
    return [];
  }
}

/**
 * How the database's schema compares with this server's migrations: the ones not applied yet,
 * and applied ones this server does not know (a newer server migrated it).
 */
export async function compareMigrations(db: Db): Promise<{ missing: string[]; unknown: string[] }> {
  const { rows } = await sql<{ name: string }>`select name from migrations`.execute(db);
  const applied = new Set(rows.map((r) => r.name));
  const known = new Set(migrationNames);
  return {
    missing: migrationNames.filter((n) => !applied.has(n)),
    unknown: [...applied].filter((n) => !known.has(n)),
  };
}
