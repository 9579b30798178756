/**
 * Authenticated API reads and password login, against the built server on SQLite seeded with
 * 100,000 users and 100,000 grants (`npm run build` first; wrk from Debian).
 *
 *   npx tsx bench/api.ts [users=100000] [seconds=5] [rounds=3]
 *
 * Prints, for one server: requests/s of GET /healthz, GET /api/users?limit=100 (the first page
 * and a page deep in the table: keyset paging, the cost should not depend on where the page is)
 * and GET /api/grants?limit=100, taking turns for `rounds` rounds so that the machine's load hits
 * them alike, with each list's median as a fraction of /healthz's, and the server's CPU time per
 * request (which, unlike requests/s, does not depend on the machine's other load); then the
 * latency of password logins (argon2id) one at a time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import SqliteDatabase from 'better-sqlite3';
import { createApiClient } from '../src/api/client.js';
import { openSqlite } from '../src/server/data/db.js';
import { migrate } from '../src/server/data/migrate.js';
import { newId } from '../src/shared/ids.js';
import { cpuMs, machine, percentiles, requireBuildAndWrk, startBuiltServer, wrk } from './lib.js';

const userCount = Number(process.argv[2] ?? 100_000);
const seconds = Number(process.argv[3] ?? 5);
const rounds = Number(process.argv[4] ?? 3);
requireBuildAndWrk();
const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-api-'));

// Seed straight into the schema, one transaction: far faster than 200,000 API calls.
const seedStart = performance.now();
const file = path.join(stateDir, 'infra.db');
const database = openSqlite(file);
await migrate(database.db);
await database.close();
const sqlite = new SqliteDatabase(file);
const now = Date.now();
const addUser = sqlite.prepare(
  `insert into users (id, name, kind, managed_by, created_at, updated_at, last_seen_at)
   values (?, ?, 'user', 'api', ?, ?, null)`,
);
const addGrant = sqlite.prepare(
  `insert into grants (id, subject_kind, subject_id, privilege, resource, destination, expires_at,
     managed_by, created_by, created_at)
   values (?, 'user', ?, 'view', ?, 'bench', null, 'api', null, ?)`,
);
sqlite.transaction(() => {
  for (let i = 0; i < userCount; i++) {
    const id = newId('user', now);
    addUser.run(id, `user${String(i).padStart(7, '0')}@bench.example.com`, now, now);
    addGrant.run(newId('grant', now), id, `bench.ns${i % 100}`, now);
  }
})();
sqlite.close();
console.log(
  `seeded ${userCount} users and ${userCount} grants in ${Math.round(performance.now() - seedStart)} ms`,
);

const password = 'bench-admin-password';
const config = path.join(stateDir, 'infra.yaml');
writeFileSync(
  config,
  `users:\n  - name: admin@bench.example.com\n    password: plaintext:${password}\n    infraRole: admin\n`,
);
const server = await startBuiltServer(['-f', config, '--state-dir', stateDir]);
const client = createApiClient({ baseUrl: server.url, skipTlsVerify: true });
const session = await client.login({
  passwordCredentials: { name: 'admin@bench.example.com', password },
});
const admin = createApiClient({
  baseUrl: server.url,
  skipTlsVerify: true,
  accessKey: session.accessKey,
});
let deep: string | undefined;
for (let i = 0; i < userCount / 2; i += 1000)
  deep = (await admin.listUsers({ limit: 1000, after: deep })).next;

console.log(`machine: ${machine()}; server: one process (one core for JS)`);
console.log(`16 connections, HTTPS keep-alive, ${seconds} s each, ${rounds} rounds taking turns`);
const targets = [
  ['GET /healthz', '/healthz'],
  ['GET /api/users?limit=100, first page', '/api/users?limit=100'],
  [`GET /api/users?limit=100, after user ${userCount / 2}`, `/api/users?limit=100&after=${deep}`],
  ['GET /api/grants?limit=100, first page', '/api/grants?limit=100'],
] as const;
const results = new Map<string, Array<{ rps: number; cpuUs: number; p50: string; p99: string }>>();
for (let round = 0; round < rounds; round++) {
  for (const [label, p] of targets) {
    let cpuAtStart = 0;
    const report = await wrk(`${server.url}${p}`, {
      seconds,
      connections: 16,
      headers: [`Authorization: Bearer ${session.accessKey}`],
      onStart: () => (cpuAtStart = cpuMs(server.process.pid!)),
    });
    const cpu = cpuMs(server.process.pid!) - cpuAtStart;
    const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(report)?.[1] ?? 0);
    const requests = Number(/(\d+) requests in/.exec(report)?.[1] ?? 0);
    const p50 = /50%\s+(\S+)/.exec(report)?.[1] ?? '?';
    const p99 = /99%\s+(\S+)/.exec(report)?.[1] ?? '?';
    if (/Non-2xx/.test(report)) console.log(`${label}: errors\n${report}`);
    const cpuUs = (cpu * 1000) / requests;
    results.set(label, [...(results.get(label) ?? []), { rps, cpuUs, p50, p99 }]);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const healthz = results.get('GET /healthz')!;
const healthzRps = median(healthz.map((r) => r.rps));
const healthzCpu = median(healthz.map((r) => r.cpuUs));
// Server CPU per request does not depend on what else runs on the machine; requests per second
// do. "× /healthz" by CPU is what the ratio would be with the server's core to itself.
console.log(
  '\n| Request | requests/s (each round) | median | × /healthz | server CPU per request (median) | × /healthz by CPU | p50, p99 (last round) |',
);
for (const [label, runs] of results) {
  const m = median(runs.map((r) => r.rps));
  const cpu = median(runs.map((r) => r.cpuUs));
  const last = runs.at(-1)!;
  console.log(
    `| ${label} | ${runs.map((r) => Math.round(r.rps)).join(', ')} | ${Math.round(m)} | ${(m / healthzRps).toFixed(2)} | ${Math.round(cpu)} µs | ${(healthzCpu / cpu).toFixed(2)} | ${last.p50}, ${last.p99} |`,
  );
}

const timings: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await client.login({ passwordCredentials: { name: 'admin@bench.example.com', password } });
  timings.push(performance.now() - t);
}
console.log('\n== password login (argon2id m=19MiB t=2 p=1), 50 sequential logins');
console.log(percentiles(timings));

await server.stop();
rmSync(stateDir, { recursive: true, force: true });
