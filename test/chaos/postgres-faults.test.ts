import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ApiError } from '../../src/api/errors.js';
import { rawRequest } from '../http.js';
import { startPostgresCluster, type PostgresCluster } from '../postgres.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';

// PostgreSQL goes away under load (connections terminated, a fast restart, a stop): no server
// process exits, requests during the outage get 503 `unavailable` with Retry-After, nothing
// acknowledged is lost, and service and the cross-replica feed resume without a restart.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PostgreSQL faults under load, two replicas', () => {
  let cluster: PostgresCluster;
  let replicas: ServerProcess[];
  let keys: string[];

  before(async () => {
    cluster = await startPostgresCluster();
    const config = `db:\n  connectionString: ${cluster.url}\n`;
    const first = await startServerProcess({ config });
    const second = await startServerProcess({ config, stateDir: first.stateDir });
    replicas = [first, second];
    keys = [await first.adminKey(), await second.adminKey()];
  });
  after(async () => {
    for (const r of replicas ?? []) await r.kill('SIGKILL');
    cluster?.stop();
  });

  it('keeps every replica up, answers 503 during the outage, loses nothing acknowledged', async () => {
    const acknowledged: string[] = [];
    const failures = new Map<string, number>();
    let stop = false;
    let n = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const i = n++;
        const replica = i % 2;
        const name = `g-${w}-${i}`;
        try {
          await replicas[replica]!.client(keys[replica]).createGroup({ name });
          acknowledged.push(name);
        } catch (err) {
          const what =
            err instanceof ApiError ? `${err.status} ${err.code}` : `network: ${String(err)}`;
          failures.set(what, (failures.get(what) ?? 0) + 1);
          await sleep(20);
        }
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));

    await sleep(500);
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and datname is not null',
    );
    await admin.end();
    await sleep(500);
    cluster.restart();
    await sleep(500);
    cluster.pause();
    // During the outage: a clear 503 with Retry-After, at once.
    const during = await rawRequest(`${replicas[0]!.url}/api/groups`, {
      ca: replicas[0]!.ca,
      headers: { authorization: `Bearer ${keys[0]}` },
    });
    assert.equal(during.status, 503, during.body);
    assert.equal(during.json<{ code: string }>().code, 'unavailable');
    assert.ok(Number(during.headers['retry-after']) >= 1);
    // Not ready (the database), yet alive.
    const ready = await rawRequest(`${replicas[1]!.url}/readyz`, { ca: replicas[1]!.ca });
    assert.equal(ready.status, 503);
    assert.match(ready.json<{ message: string }>().message, /^not ready \(database: unavailable/);
    const alive = await rawRequest(`${replicas[1]!.url}/healthz`, { ca: replicas[1]!.ca });
    assert.equal(alive.status, 200);
    await sleep(500);
    cluster.start();

    // Service resumes on both replicas without a restart.
    const resumed = async (replica: number) => {
      for (let tries = 0; tries < 100; tries++) {
        try {
          await replicas[replica]!.client(keys[replica]).createGroup({ name: `after-${replica}` });
          return;
        } catch {
          await sleep(100);
        }
      }
      assert.fail(`replica ${replica} did not resume`);
    };
    await resumed(0);
    await resumed(1);
    stop = true;
    await load;
    for (const r of replicas) {
      const ready = await rawRequest(`${r.url}/readyz`, { ca: r.ca });
      assert.equal(ready.status, 200, ready.body);
      assert.deepEqual(ready.json(), {
        status: 'ready',
        checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' },
      });
    }

    for (const r of replicas) assert.equal(r.exited(), undefined, r.output().slice(-2000));
    for (const what of failures.keys()) {
      assert.match(
        what,
        /^503 unavailable$/,
        `every failure is a 503: ${[...failures].join('; ')}`,
      );
    }
    assert.ok(failures.size > 0, 'the outage was seen');
    const admin0 = replicas[0]!.client(keys[0]);
    const stored = new Set<string>();
    let after: string | undefined;
    do {
      const page = await admin0.listGroups({ limit: 1000, after });
      for (const g of page.items) stored.add(g.name);
      after = page.next;
    } while (after);
    const lost = acknowledged.filter((name) => !stored.has(name));
    assert.deepEqual(lost, [], 'every acknowledged write is stored');
    for (const r of replicas) {
      assert.doesNotMatch(r.output(), /Unhandled 'error' event|uncaughtException/);
    }
  });

  it('resumes the cross-replica feed: a change on one replica wakes a waiter on the other', async () => {
    const a = replicas[0]!.client(keys[0]);
    const b = replicas[1]!.client(keys[1]);
    const start = await b.getAccessFeed({ destination: 'chaos' });
    const waiting = b.getAccessFeed({
      destination: 'chaos',
      lastUpdateIndex: start.updateIndex,
      wait: '20s',
    });
    await sleep(200);
    const user = await a.createUser({ name: 'chaos@example.com' });
    await a.createGrant({ user: user.id, privilege: 'view', resource: 'chaos' });
    const woken = await waiting;
    assert.ok(woken.updateIndex > start.updateIndex);
    assert.ok(woken.users.some((u) => u.name === 'chaos@example.com'));
  });
});
