import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../shared/config-loader.js';
import { AppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { systemClock } from '../shared/clock.js';
import { loadServerConfig } from './config.js';
import { DataEncryption, STAGE_MS, openKeyring } from './access/encryption.js';
import { parseDuration } from '../shared/duration.js';
import { openDb } from './data/db.js';
import { countEncryptionKeys } from './data/encryption-keys.js';

const USAGE = `Usage: infra server rotate-keys [-f <config file>] [--activate-after <duration>]

Makes a new data key and, once every running server has loaded it (--activate-after, default
90s: servers reload their keys each minute and on SIGHUP), re-encrypts every sealed value with
it while servers keep serving. Data keys wrapped by the root key in previousKeyProvider are
re-wrapped with keyProvider first: that is how the root key is changed. Reads the same
configuration as \`infra server\` (file and INFRA_SERVER_* variables).
`;

/** `infra server rotate-keys`: rotate the data key (and re-wrap under a new root key). */
export async function runRotateKeys(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<number> {
  let values: { 'config-file'?: string; 'activate-after'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'config-file': { type: 'string', short: 'f' },
        'activate-after': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    io.stderr.write(`infra server rotate-keys: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const activateAfter =
    values['activate-after'] === undefined ? STAGE_MS : parseDuration(values['activate-after']);
  if (activateAfter === undefined) {
    io.stderr.write(
      `infra server rotate-keys: --activate-after "${values['activate-after']}" is not a duration; use forms like 90s or 2m\n`,
    );
    return 2;
  }
  try {
    const config = await loadServerConfig({ file: values['config-file'], env, flags: {} });
    const log = createLogger({ level: 'warn', json: true, destination: io.stderr });
    // Opening a SQLite file creates it: never leave an empty database where none was.
    if (config.db.kind === 'sqlite' && !existsSync(config.db.file)) {
      throw new AppError(
        'unavailable',
        `there is no database at ${config.db.file}; give the configuration the server runs with (-f)`,
      );
    }
    const database = await openDb(config.db);
    try {
      if ((await countEncryptionKeys(database.db).catch(() => 0)) === 0) {
        throw new AppError(
          'unavailable',
          'this database has no data key yet; start the server once before rotating keys',
        );
      }
      const { roots, keyring } = await openKeyring(database.db, config, systemClock);
      const encryption = new DataEncryption({
        db: database.db,
        keyring,
        roots,
        clock: systemClock,
        log,
      });
      const { keyId, activeFrom } = await encryption.stage(activateAfter);
      const wait = activeFrom - systemClock.now();
      if (wait > 0) {
        io.stdout.write(
          `Data key ${keyId} made; it becomes active at ${new Date(activeFrom).toISOString()}, once running servers have loaded it. Waiting ${Math.ceil(wait / 1000)}s.\n`,
        );
        await new Promise((r) => setTimeout(r, wait));
      }
      const reencrypted = await encryption.reencrypt();
      const total = Object.values(reencrypted).reduce((a, b) => a + b, 0);
      io.stdout.write(
        `Data key ${keyId} is active, wrapped by ${roots.current.description}. ` +
          `Re-encrypted ${total} values (${Object.entries(reencrypted)
            .map(([c, n]) => `${c}: ${n}`)
            .join(', ')}).\n`,
      );
      return 0;
    } finally {
      await database.close();
    }
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof AppError;
    io.stderr.write(
      `infra server rotate-keys: ${known ? (err as Error).message : `unexpected error: ${(err as Error).message}`}\n`,
    );
    return 1;
  }
}
