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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApiClient } from '../src/api/client.js';
import { openSqlite } from '../src/server/data/db.js';
import { migrate } from '../src/server/data/migrate.js';
import { newId } from '../src/shared/ids.js';
import { machine, percentiles, requireBuildAndWrk, startBuiltServer, wrk } from './lib.js';

const userCount = Number(process.argv[2] ?? 100_000);
const seconds = Number(process.argv[3] ?? 10);
requireBuildAndWrk();
const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-api-'));

// Seed directly through the data layer's schema: far faster than 100,000 API calls.
const seedStart = performance.now();
const database = openSqlite(path.join(stateDir, 'infra.db'));
await migrate(database.db);
const now = Date.now();
for (let i = 0; i < userCount; i += 500) {
  const rows = Array.from({ length: Math.min(500, userCount - i) }, (_, j) => ({
    id: newId('user', now),
    name: `user${String(i + j).padStart(7, '0')}@bench.example.com`,
    kind: 'user' as const,
    managedBy: 'api' as const,
    createdAt: now,
    updatedAt: now,
    lastSeenAt: null,
  }));
  await database.db.insertInto('users').values(rows).execute();
}
await database.close();
console.log(`seeded ${userCount} users in ${Math.round(performance.now() - seedStart)} ms`);

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
for (const [label, p] of [
  ['first page', '/api/users?limit=100'],
  [`page after user ${userCount / 2}`, `/api/users?limit=100&after=${deep}`],
] as const) {
  console.log(`\n== GET /api/users?limit=100, ${label} (16 connections, ${seconds}s)`);
  console.log(
    await wrk(`${server.url}${p}`, {
      seconds,
      connections: 16,
      headers: [`Authorization: Bearer ${session.accessKey}`],
    }),
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
