/**
 * The access feed and the connector at scale: N users, each with `view` on the cluster `prod`
 * (one ClusterRoleBinding of N subjects, the hardest shape for RBAC). Runs a server, the fake
 * kube-apiserver and a connector in this process (SQLite), like bench/connector.ts.
 *
 *   npx tsx bench/feed-scale.ts [users=10000,100000] [revocations=30]
 *
 * For each N:
 *   (a) bytes: the whole state as the feed sends it without changes=true (what every change
 *       cost before the incremental feed), the snapshot's pages, and the delta of one grant
 *       change (a grant added, a grant removed: the largest of 20 changes);
 *   (b) grant removed → refused at the cluster: the time from the API call deleting a user's
 *       only grant to the connector answering 403 (p50/p99 over `revocations` changes), and the
 *       longest event-loop stall meanwhile (the proxy shares the thread with everything here);
 *   (c) the connector's own work for one change: applying the delta to its state, updating the
 *       binding index and building the one binding's subject list, and (for comparison) a
 *       rebuild of the whole index as a snapshot needs.
 * Users and grants are inserted straight into the database (the API would take minutes).
 */
import { request } from 'node:https';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { applyDelta } from '../src/connector/access.js';
import { BindingIndex, bindingKey } from '../src/connector/rbac.js';
import { newId } from '../src/shared/ids.js';
import { createLogger } from '../src/shared/logger.js';
import { startCluster } from '../test/cluster.js';
import { machine, percentiles } from './lib.js';

const sizes = (process.argv[2] ?? '10000,100000').split(',').map(Number);
const revocations = Number(process.argv[3] ?? 30);
console.log(`machine: ${machine()}`);
const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

for (const n of sizes) {
  console.log(`\n== ${n} users with view on prod (one ClusterRoleBinding)`);
  let t = performance.now();
  const cluster = await startCluster('sqlite');
  const { admin } = cluster;
  const config = cluster.server.config.db;
  if (config.kind !== 'sqlite') throw new Error('SQLite only');
  const db = new Database(config.file);
  db.pragma('busy_timeout = 5000');
  const now = Date.now();
  const userIds = Array.from({ length: n }, () => newId('user'));
  const grantIds = Array.from({ length: n }, () => newId('grant'));
  db.transaction(() => {
    const user = db.prepare(
      `insert into users (id, name, kind, managed_by, created_at, updated_at) values (?, ?, 'user', 'api', ?, ?)`,
    );
    const grant = db.prepare(
      `insert into grants (id, subject_kind, subject_id, privilege, resource, destination, managed_by, created_at) values (?, 'user', ?, 'view', 'prod', 'prod', 'api', ?)`,
    );
    for (let i = 0; i < n; i++) {
      user.run(userIds[i], `user${i}@example.com`, now, now);
      grant.run(grantIds[i], userIds[i], now);
    }
    db.prepare(`insert into changes (destination, at, kind) values ('prod', ?, 'all')`).run(now);
  })();
  db.close();
  // A change through the API wakes the feeds; the connector reads the seeded state with it.
  const holder = await admin.createUser({ name: 'holder@example.com' });
  await admin.createGrant({ user: holder.id, privilege: 'view', resource: 'prod' });
  await cluster.connectorCaughtUp();
  console.log(
    `setup (insert, first snapshot, RBAC): ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  // (a) Bytes.
  t = performance.now();
  const full = await admin.getAccessFeed({ destination: 'prod' });
  const fullMs = performance.now() - t;
  const fullBytes = JSON.stringify(full).length;
  t = performance.now();
  let page = await admin.getAccessFeed({ destination: 'prod', changes: true });
  let pages = 1;
  let pageBytes = JSON.stringify(page).length;
  let largestPage = pageBytes;
  while (page.next) {
    page = await admin.getAccessFeed({ destination: 'prod', changes: true, page: page.next });
    const bytes = JSON.stringify(page).length;
    pageBytes += bytes;
    largestPage = Math.max(largestPage, bytes);
    pages++;
  }
  const snapshotMs = performance.now() - t;
  const deltas: number[] = [];
  for (let i = 0; i < 10; i++) {
    const index = (await admin.getAccessFeed({ destination: 'prod', changes: true })).updateIndex;
    const g = await admin.createGrant({
      user: userIds[i],
      privilege: 'edit',
      resource: 'prod',
    });
    const added = await admin.getAccessFeed({
      destination: 'prod',
      changes: true,
      lastUpdateIndex: index,
      wait: '1ms',
    });
    deltas.push(JSON.stringify(added).length);
    await admin.deleteGrant({ id: g.id });
    const removed = await admin.getAccessFeed({
      destination: 'prod',
      changes: true,
      lastUpdateIndex: added.updateIndex,
      wait: '1ms',
    });
    if (removed.kind !== 'delta') throw new Error(`expected a delta, got ${removed.kind}`);
    deltas.push(JSON.stringify(removed).length);
  }
  console.log(
    `whole state (no changes=true, sent at every change before): ${kb(fullBytes)} (${(fullBytes / (n + 1)).toFixed(0)} B per grant), read in ${fullMs.toFixed(0)} ms`,
  );
  console.log(
    `snapshot: ${pages} pages, ${kb(pageBytes)} in all, largest ${kb(largestPage)}, read in ${snapshotMs.toFixed(0)} ms`,
  );
  console.log(
    `delta of one grant change: ${Math.min(...deltas)}–${Math.max(...deltas)} B (20 changes)`,
  );

  // (b) Grant removed → refused at the cluster.
  await cluster.connectorCaughtUp();
  const key = (await admin.createAccessKey({ userID: holder.id, expiry: '24h' })).accessKey;
  const { createApiClient } = await import('../src/api/client.js');
  const asHolder = createApiClient({
    baseUrl: cluster.server.url,
    ca: cluster.server.ca,
    accessKey: key,
  });
  const token = (await asHolder.createToken({ destination: 'prod' })).token;
  const status = () =>
    new Promise<number>((resolve, reject) => {
      const u = new URL(`${cluster.connector.url}/api/v1/namespaces/default/pods/app-1`);
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
  /** Waits until the connector has a state newer than `index` and has written it to RBAC. */
  const caughtUp = async (index: number) => {
    while ((cluster.connector.state()?.updateIndex ?? 0) <= index)
      await new Promise((r) => setTimeout(r, 5));
    await cluster.connector.rbacSettled();
  };
  const latencies: number[] = [];
  const stall = monitorEventLoopDelay({ resolution: 5 });
  const cpu = process.cpuUsage();
  for (let i = 0; i < revocations; i++) {
    const grants = await admin.listGrants({ user: holder.id });
    const only =
      grants.items[0] ??
      (await admin.createGrant({ user: holder.id, privilege: 'view', resource: 'prod' }));
    for (;;) if ((await status()) === 200) break;
    await cluster.connector.rbacSettled();
    const index = cluster.connector.state()!.updateIndex;
    stall.enable();
    const deleted = performance.now();
    await admin.deleteGrant({ id: only.id });
    while ((await status()) === 200) {
      if (performance.now() - deleted > 30_000) throw new Error('never refused');
    }
    latencies.push(performance.now() - deleted);
    await caughtUp(index);
    stall.disable();
    const next = cluster.connector.state()!.updateIndex;
    await admin.createGrant({ user: holder.id, privilege: 'view', resource: 'prod' });
    await caughtUp(next);
  }
  const used = process.cpuUsage(cpu);
  console.log(`grant removed → request refused at the connector (${revocations} changes):`);
  console.log(percentiles(latencies));
  console.log(
    `longest event-loop stall from a grant's removal to RBAC written: ${(stall.max / 1e6).toFixed(1)} ms (p99 ${(stall.percentile(99) / 1e6).toFixed(1)} ms); process CPU per change, until RBAC is written (server, connector, fake apiserver, client): ${((used.user + used.system) / 1000 / (2 * revocations)).toFixed(1)} ms`,
  );
  await cluster.connectorCaughtUp();

  // (c) The connector's own work for one change, on its current state.
  const state = cluster.connector.state()!;
  const facts = { namespaces: ['default', 'web'], roles: ['view', 'edit'] };
  const someGrant = state.grants.get(grantIds[1]!)!;
  const delta = {
    updateIndex: state.updateIndex + 1,
    subjects: [userIds[1]!],
    grants: [],
    users: [],
    usersWithoutAccess: [userIds[1]!],
    revokedSessions: [],
    removedUsers: [],
  };
  const runs = 20;
  t = performance.now();
  for (let i = 0; i < runs; i++) applyDelta(state, delta);
  const applyMs = (performance.now() - t) / runs;
  const index = await BindingIndex.build(state, facts, quiet);
  t = performance.now();
  for (let i = 0; i < runs; i++) {
    index.apply(someGrant, -1);
    index.binding(bindingKey({ role: 'view' }));
    index.apply(someGrant, 1);
  }
  const patchMs = (performance.now() - t) / runs;
  t = performance.now();
  await BindingIndex.build(state, facts, quiet);
  const rebuildMs = performance.now() - t;
  console.log(
    `connector work per change: apply the delta ${applyMs.toFixed(1)} ms; update the index and build the binding's ${n}-subject list ${patchMs.toFixed(1)} ms; a full index rebuild (snapshot) ${rebuildMs.toFixed(0)} ms, yielding every 2,000 grants`,
  );
  await cluster.close();
}
process.exit(0);
