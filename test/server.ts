import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApiClient, type ApiClient, type ClientOptions } from '../src/api/client.js';
import type { Clock } from '../src/shared/clock.js';
import { createLogger, type Logger } from '../src/shared/logger.js';
import { loadServerConfig, type ServerConfig } from '../src/server/config.js';
import type { Engine } from '../src/server/data/db.js';
import { startServer, type RunningServer } from '../src/server/main.js';
import { freshDatabase } from './engines.js';

/** Collects log lines so tests can assert what the server logged (and what it did not). */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  running: RunningServer;
  config: ServerConfig;
  url: string;
  /** PEM of the server's generated CA, for clients that should trust it. */
  ca: string;
  stateDir: string;
  logs: LogSink;
  log: Logger;
  /** A client trusting the server's CA, optionally with an access key. */
  client(options?: Partial<ClientOptions>): ApiClient;
  /**
   * Stops the server and starts it again on the same state directory and database; `whileAway`
   * runs in between.
   */
  restart(
    options?: Pick<TestServerOptions, 'settings' | 'env' | 'clock' | 'configFile'> & {
      whileAway?: () => Promise<void>;
    },
  ): Promise<TestServer>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  engine?: Engine;
  /** Settings as flags would give them, by dotted path (`tls.hosts`). */
  settings?: Record<string, string | boolean | string[]>;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  dashboardDir?: string;
  /** Start a replica of this server: same database, same state directory. */
  replicaOf?: TestServer;
  /** YAML for the config file (users and grants can only be declared there). */
  configFile?: string;
}

interface Owned {
  stateDir: string;
  dbSettings: Record<string, string>;
  dispose(): Promise<void>;
}

/**
 * Starts a real server in this process: real config loading, a fresh SQLite file or PostgreSQL
 * database, HTTPS on a random loopback port, metrics off unless asked for.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (options.replicaOf) {
    // A second server on the same database and state directory (so the same root key), the way
    // replicas behind a load balancer share them. The first server owns the cleanup.
    const first = options.replicaOf;
    return start(options, {
      stateDir: first.stateDir,
      dbSettings: databaseSettings(first.config),
      dispose: async () => {},
    });
  }
  const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-state-'));
  const fresh = await freshDatabase(options.engine ?? 'sqlite');
  const owned: Owned = {
    stateDir,
    dbSettings:
      fresh.config.kind === 'postgres'
        ? { 'db.connectionString': fresh.config.connectionString! }
        : { 'db.file': fresh.config.file },
    async dispose() {
      await fresh.dispose();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  try {
    return await start(options, owned);
  } catch (err) {
    await owned.dispose();
    throw err;
  }
}

async function start(options: TestServerOptions, owned: Owned): Promise<TestServer> {
  const { stateDir, dbSettings } = owned;
  let file: string | undefined;
  if (options.configFile !== undefined) {
    file = path.join(stateDir, 'infra.yaml');
    writeFileSync(file, options.configFile);
  }
  const config = await loadServerConfig({
    file,
    env: options.env ?? {},
    flags: {
      stateDir,
      'addr.https': '127.0.0.1:0',
      'addr.metrics': '',
      ...dbSettings,
      ...options.settings,
    },
  });
  const logs = new LogSink();
  const log = createLogger({ level: 'debug', json: true, destination: logs });
  const running = await startServer(config, {
    log,
    clock: options.clock,
    dashboardDir: options.dashboardDir,
  });
  const ca = config.tls.custom ? '' : readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
  let closed = false;
  return {
    running,
    config,
    url: running.url,
    ca,
    stateDir,
    logs,
    log,
    client: (clientOptions = {}) => createApiClient({ baseUrl: running.url, ca, ...clientOptions }),
    async restart({ whileAway, ...next } = {}) {
      closed = true;
      await running.close();
      await whileAway?.();
      return start({ ...options, ...next }, owned);
    },
    async close() {
      if (closed) return;
      closed = true;
      await running.close();
      await owned.dispose();
    },
  };
}

function databaseSettings(config: ServerConfig): Record<string, string> {
  return config.db.kind === 'postgres'
    ? { 'db.connectionString': config.db.connectionString! }
    : { 'db.file': config.db.file };
}
