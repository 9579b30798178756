/**
 * The connector: proxy overhead, the token cache, revocation latency, RBAC sync of 10,000 grants.
 * Runs a server, the fake kube-apiserver and a connector in this process (SQLite).
 *
 *   npx tsx bench/connector.ts [seconds=10]
 *
 * Prints wrk figures for a small GET straight to the fake apiserver and through the connector,
 * the cost of verifying a token the first time and from the cache, the time from a grant's
 * deletion to the connector refusing its holder (p50/p99 over 100 revocations), and the time to
 * write the bindings for 10,000 grants.
 */
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { accessState } from '../src/connector/access.js';
import { TokenVerifier } from '../src/connector/authenticate.js';
import { Kube } from '../src/connector/kube.js';
import { desiredBindings, syncBindings } from '../src/connector/rbac.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';
import { startCluster } from '../test/cluster.js';
import { machine, percentiles, wrk } from './lib.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const seconds = Number(process.argv[2] ?? 10);
console.log(`machine: ${machine()}`);
const cluster = await startCluster('sqlite');
const { admin, kube } = cluster;
const user = await admin.createUser({ name: 'bench@example.com' });
await admin.createGrant({ user: user.id, privilege: 'view', resource: 'prod' });
const key = (await admin.createAccessKey({ userID: user.id, expiry: '24h' })).accessKey;
await cluster.connectorCaughtUp();
const { createApiClient } = await import('../src/api/client.js');
const asUser = createApiClient({
  baseUrl: cluster.server.url,
  ca: cluster.server.ca,
  accessKey: key,
});
const token = (await asUser.createToken({ destination: 'prod' })).token;
const connectorUrl = cluster.connector.url;
const target = '/api/v1/namespaces/default/pods/app-1';

// 1. Proxy overhead: the same small GET, straight to the apiserver and through the connector.
// Everything shares this process's one thread, so the difference is the connector's own cost.
for (const connections of [1, 8]) {
  const direct = { seconds, connections, headers: [`Authorization: Bearer ${kube.adminToken}`] };
  const proxied = { seconds, connections, headers: [`Authorization: Bearer ${token}`] };
  console.log(
    `\n== GET ${target} straight to the fake apiserver (${connections} connection(s), ${seconds}s)`,
  );
  console.log(await wrk(`${kube.url}${target}`, direct));
  console.log(`\n== the same through the connector (token verified once, then cached)`);
  console.log(await wrk(`${connectorUrl}${target}`, proxied));
}

// 2. Token verification: ES512 the first time, the cache afterwards.
const verifier = new TokenVerifier({
  audience: 'prod',
  clock: systemClock,
  fetchJwks: async () => (await admin.getJwks()) as JSONWebKeySet,
});
await verifier.refreshKeys();
const fresh: string[] = [];
for (let i = 0; i < 50; i++) fresh.push((await asUser.createToken({ destination: 'prod' })).token);
let t = performance.now();
for (const tok of fresh) await verifier.verify(tok);
const firstMs = (performance.now() - t) / fresh.length;
t = performance.now();
const N = 100_000;
for (let i = 0; i < N; i++) await verifier.verify(fresh[i % fresh.length]!);
const cachedUs = ((performance.now() - t) / N) * 1000;
console.log(
  `\n== token verification: first time (ES512) ${firstMs.toFixed(2)} ms; cached ${cachedUs.toFixed(2)} µs per request`,
);

// 3. Revocation: grant deleted → the connector refuses the holder.
function status(): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${connectorUrl}${target}`);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
const latencies: number[] = [];
for (let i = 0; i < 100; i++) {
  const grant = await admin.createGrant({ user: user.id, privilege: 'edit', resource: 'prod.web' });
  const view = (await admin.listGrants({ user: user.id, resource: 'prod', privilege: 'view' }))
    .items[0];
  if (view) await admin.deleteGrant({ id: view.id });
  await cluster.connectorCaughtUp();
  // Now edit on prod.web is the user's only grant; deleting it removes all access here.
  await admin.deleteGrant({ id: grant.id });
  const deleted = performance.now();
  while ((await status()) === 200) {
    if (performance.now() - deleted > 10_000) throw new Error('never refused');
  }
  latencies.push(performance.now() - deleted);
}
console.log(`\n== revocation: grant deleted (API answered) → request refused at the connector`);
console.log(percentiles(latencies));

// 4. RBAC sync of 10,000 grants: 10,000 users over 100 namespaces and two roles.
const namespaces = Array.from({ length: 100 }, (_, i) => `ns-${i}`);
for (const ns of namespaces) kube.addNamespace(ns);
const grants = Array.from({ length: 10_000 }, (_, i) => ({
  id: `gnt_${i}`,
  userName: `user${i}@example.com`,
  privilege: Math.floor(i / 100) % 2 === 0 ? 'view' : 'edit',
  resource: `prod.${namespaces[i % 100]}`,
  created: '',
  createdBy: null,
  expiresAt: null,
  managedBy: 'api' as const,
}));
const state = accessState({
  updateIndex: 1,
  users: [],
  revokedSessions: [],
  removedUsers: [],
  grants,
});
const dir = mkdtempSync(path.join(tmpdir(), 'bench-kube-'));
writeFileSync(path.join(dir, 'kubeconfig'), kube.kubeconfig(kube.adminToken));
const kubeClient = Kube.load(path.join(dir, 'kubeconfig'));
const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
t = performance.now();
const desired = desiredBindings(state, { namespaces, roles: ['view', 'edit'] }, quiet);
const result = await syncBindings(kubeClient, 'bench', desired, quiet);
const firstSync = performance.now() - t;
t = performance.now();
const again = await syncBindings(
  kubeClient,
  'bench',
  desiredBindings(state, { namespaces, roles: ['view', 'edit'] }, quiet),
  quiet,
);
const noChange = performance.now() - t;
console.log(`\n== RBAC sync of 10,000 grants (${desired.size} RoleBindings, 50 subjects each)`);
console.log(
  `from nothing: ${Math.round(firstSync)} ms (${result.created} created, ${result.failed} failed); nothing to change: ${Math.round(noChange)} ms (${again.created + again.updated + again.deleted} writes)`,
);

await cluster.close();
process.exit(0);
