import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DatabaseConfig } from '../src/server/config.js';
import { openDb, type Engine, type OpenDb } from '../src/server/data/db.js';
import { migrate } from '../src/server/data/migrate.js';
import { createTestDatabase } from './postgres.js';

/** Both engines. Every data test runs on each. */
export const engines: readonly Engine[] = ['sqlite', 'postgres'];

/** A fresh, empty database of the given engine, and how to throw it away. */
export async function freshDatabase(
  engine: Engine,
): Promise<{ config: DatabaseConfig; dispose(): Promise<void> }> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-sqlite-'));
    return {
      config: { kind: 'sqlite', file: path.join(dir, 'infra.db') },
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const database = await createTestDatabase();
  return {
    config: {
      kind: 'postgres',
      connectionString: database.url,
      port: 5432,
      name: '',
      username: '',
      ssl: false,
      maxConnections: 10,
    },
    dispose: () => database.drop(),
  };
}

/** Opens a fresh, migrated database; `close()` also deletes it. */
export async function openTestDb(engine: Engine): Promise<OpenDb> {
  const fresh = await freshDatabase(engine);
  const opened = await openDb(fresh.config);
  await migrate(opened.db);
  return {
    ...opened,
    async close() {
      await opened.close();
      await fresh.dispose();
    },
  };
}
