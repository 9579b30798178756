/**
 * Authenticated API reads and password login, against the built server on SQLite seeded with
 * 100,000 users (`npm run build` first; wrk from Debian).
 *
 *   npx tsx bench/api.ts [users=100000] [seconds=10]
 *
 * Prints: requests/s and latency of GET /api/users?limit=100 for the first page and for a page
 * deep in the table (keyset paging: the cost should not depend on where the page is), and the
 * latency of password logins (argon2id) one at a time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApiClient } from '../src/api/client.js';
import { openSqlite } from '../src/server/data/db.js';
import { migrate } from '../src/server/data/migrate.js';
import { newId } from '../src/shared/ids.js';

const root = path.resolve(import.meta.dirname, '..');
const userCount = Number(process.argv[2] ?? 100_000);
const seconds = Number(process.argv[3] ?? 10);
const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-api-'));
const dbFile = path.join(stateDir, 'infra.db');

// Seed directly through the data layer's schema: far faster than 100,000 API calls.
const seedStart = performance.now();
const database = openSqlite(dbFile);
await migrate(database.db);
const now = Date.now();
for (let i = 0; i < userCount; i += 5000) {
  const rows = Array.from({ length: Math.min(5000, userCount - i) }, (_, j) => ({
    id: newId('user', now),
    name: `user${String(i + j).padStart(7, '0')}@bench.example.com`,
    kind: 'user' as const,
    managedBy: 'api' as const,
    createdAt: now,
    updatedAt: now,
    lastSeenAt: null,
  }));
  for (let k = 0; k < rows.length; k += 500) {
    await database.db
      .insertInto('users')
      .values(rows.slice(k, k + 500))
      .execute();
  }
}
await database.close();
console.log(`seeded ${userCount} users in ${Math.round(performance.now() - seedStart)} ms`);

const password = 'bench-admin-password';
const config = path.join(stateDir, 'infra.yaml');
writeFileSync(
  config,
  `users:\n  - name: admin@bench.example.com\n    password: plaintext:${password}\n    infraRole: admin\n`,
);
const server = spawn(
  process.execPath,
  [
    path.join(root, 'bin/infra.mjs'),
    'server',
    '-f',
    config,
    '--state-dir',
    stateDir,
    '--addr-https',
    '127.0.0.1:0',
    '--addr-metrics',
    '',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  server.on('exit', () => reject(new Error(`server exited: ${out}`)));
});

const client = createApiClient({ baseUrl: url, skipTlsVerify: true });
const session = await client.login({
  passwordCredentials: { name: 'admin@bench.example.com', password },
});
const admin = createApiClient({ baseUrl: url, skipTlsVerify: true, accessKey: session.accessKey });
let deep: string | undefined;
for (let i = 0; i < userCount / 2; i += 1000)
  deep = (await admin.listUsers({ limit: 1000, after: deep })).next;

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; server: one process (one core for JS)`,
);
for (const [label, p] of [
  ['first page', '/api/users?limit=100'],
  [`page after user ${userCount / 2}`, `/api/users?limit=100&after=${deep}`],
] as const) {
  const args = ['-t1', '-c16', '-H', `Authorization: Bearer ${session.accessKey}`, '--latency'];
  spawnSync('wrk', [...args, '-d2s', `${url}${p}`]);
  const run = spawnSync('wrk', [...args, `-d${seconds}s`, `${url}${p}`], { encoding: 'utf8' });
  console.log(`\n== GET /api/users?limit=100, ${label} (16 connections, ${seconds}s)`);
  console.log(run.stdout.trim());
}

const timings: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await client.login({ passwordCredentials: { name: 'admin@bench.example.com', password } });
  timings.push(performance.now() - t);
}
timings.sort((a, b) => a - b);
const pct = (p: number) =>
  timings[Math.min(timings.length - 1, Math.floor((p / 100) * timings.length))]!.toFixed(1);
console.log(`\n== password login (argon2id m=19MiB t=2 p=1), 50 sequential logins`);
console.log(`p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms`);

server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
rmSync(stateDir, { recursive: true, force: true });
