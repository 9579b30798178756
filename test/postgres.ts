import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster from the machine's PostgreSQL 15 binaries: initdb with trust
 * auth on loopback and a random port, tuned for tests (no fsync). Started once per test run by
 * `scripts/test.ts`, which hands its URL to every test process in INFRA_TEST_POSTGRES_URL.
 */
export interface PostgresCluster {
  /** Admin URL of the `postgres` database. */
  url: string;
  /** `pg_ctl restart -m fast`: every connection is terminated, then the server comes back. */
  restart(): void;
  /** Stops the server (fast shutdown) without removing its data; `start` brings it back. */
  pause(): void;
  start(): void;
  stop(): void;
}

const BIN_DIRS = [
  '/usr/lib/postgresql/15/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/17/bin',
];

function binDir(): string {
  const dir = BIN_DIRS.find((d) => existsSync(path.join(d, 'initdb')));
  if (!dir) {
    throw new Error(
      'PostgreSQL server binaries not found; install them with `apt-get install postgresql` (.ci/run does)',
    );
  }
  return dir;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-pg-'));
  chmodSync(dir, 0o755);
  // initdb refuses to run as root; run the cluster as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['-u', 'postgres', '--', path.join(bin, cmd), ...args] : args;
    const r = spawnSync(asRoot ? 'runuser' : path.join(bin, cmd), full, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
  };
  const data = path.join(dir, 'data');
  run('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  const port = await freePort();
  const opts = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=300',
  ].join(' ');
  const start = () =>
    run('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', 'start']);
  const pause = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    // Not `pg_ctl restart`: the postmaster it starts keeps our stdout pipe (no -l), so the
    // synchronous call would never return.
    restart() {
      pause();
      start();
    },
    pause,
    start,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

let shared: Promise<string> | undefined;

/** The cluster for this test process: the run's shared one, or one of its own when run alone. */
export function postgresUrl(): Promise<string> {
  shared ??= (async () => {
    const url = process.env.INFRA_TEST_POSTGRES_URL;
    if (url) return url;
    const cluster = await startPostgresCluster();
    process.once('exit', () => cluster.stop());
    return cluster.url;
  })();
  return shared;
}

/** Creates an empty database for one test file or suite; returns its URL and a drop function. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = await postgresUrl();
  const name = `test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = admin.replace(/\/postgres$/, `/${name}`);
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
