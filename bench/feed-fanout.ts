/**
 * One change, many waiting connectors: the access feed's fan-out, against the built server
 * (`npm run build` first).
 *
 *   npx tsx bench/feed-fanout.ts [waiters=1000,10000] [engines=sqlite,postgres]
 *
 * For each engine and number of waiters N: N destinations, each with a grant to a group of three
 * users, 50 sessions ended recently (every answer lists them), and N connections, each with a feed
 * request waiting for its own destination, as N connectors would hold. Then
 *   (a) a grant on one destination: time until its waiter answers, how many requests the change
 *       woke (`feed_wakeups_total`) and how many others answered (none should);
 *   (b) a session ended (a change that concerns every destination): time until each waiter
 *       answered (p50, p99, max), `/healthz` latency meanwhile (a probe every 20 ms, from a worker
 *       thread so this process's own work does not delay it), the server's CPU time and memory.
 * Times run from the moment the change's API call is sent. On PostgreSQL the changes go through a
 * second replica, so the waiting server hears of them over LISTEN/NOTIFY.
 *
 * Memory is the server's RSS: with N idle connections (each made one request), then with a feed
 * request waiting on each. Each destination's feed uses a connector key of its own, as connectors
 * do (their use is recorded at most once a minute per key). The client opens
 * N sockets: `ulimit -n` must be above N plus a few hundred.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createApiClient, type ApiClient } from '../src/api/client.js';
import { createTestDatabase } from '../test/postgres.js';
import { Connection, machine, startBuiltServer, type Answer } from './lib.js';

const counts = (process.argv[2] ?? '1000,10000').split(',').map(Number);
const engines = (process.argv[3] ?? 'sqlite,postgres').split(',');
console.log(`machine: ${machine()}`);

const password = 'bench-admin-password';
function configFile(dir: string): string {
  const file = path.join(dir, 'infra.yaml');
  // Every connection comes from 127.0.0.1 here: no per-address limit.
  writeFileSync(
    file,
    `users:\n  - name: admin@bench.example.com\n    password: plaintext:${password}\n    infraRole: admin\nlimits:\n  connectionsPerIP: 0\n`,
  );
  return file;
}

/** Milliseconds on a clock shared with the worker thread. */
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function metric(port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet(`http://127.0.0.1:${port}/metrics`, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1])));
    }).on('error', reject);
  });
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** User plus system CPU time of a process, in milliseconds (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Probes `/healthz` every 20 ms and samples the server's RSS, in a thread of its own. */
function startProbe(url: string, pid: number) {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Agent, request } = require('node:https');
    const { readFileSync } = require('node:fs');
    const { performance } = require('node:perf_hooks');
    const clock = () => performance.timeOrigin + performance.now();
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const u = new URL(workerData.url + '/healthz');
    const probes = [];
    const rss = [];
    const timer = setInterval(() => {
      const sent = clock();
      const req = request({ agent, host: u.hostname, port: u.port, path: u.pathname, rejectUnauthorized: false }, (res) => {
        res.resume();
        res.on('end', () => probes.push([sent, clock() - sent]));
      });
      req.on('error', () => probes.push([sent, Infinity]));
      req.end();
      const status = readFileSync('/proc/' + workerData.pid + '/status', 'utf8');
      rss.push([sent, Number(/VmRSS:\\s+(\\d+)/.exec(status)[1]) / 1024]);
    }, 20);
    parentPort.on('message', () => {
      clearInterval(timer);
      // Let the last probes answer.
      setTimeout(() => { parentPort.postMessage({ probes, rss }); agent.destroy(); }, 500);
    });
    `,
    { eval: true, workerData: { url, pid } },
  );
  return {
    stop: () =>
      new Promise<{ probes: Array<[number, number]>; rss: Array<[number, number]> }>((resolve) => {
        worker.once('message', (m) => {
          void worker.terminate();
          resolve(m);
        });
        worker.postMessage('stop');
      }),
  };
}

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return `p50 ${ms(at(0.5))}, p99 ${ms(at(0.99))}, max ${ms(sorted[sorted.length - 1]!)} (n=${sorted.length})`;
}

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function signIn(url: string): Promise<{ admin: ApiClient; key: string }> {
  const session = await createApiClient({ baseUrl: url, skipTlsVerify: true }).login({
    passwordCredentials: { name: 'admin@bench.example.com', password },
  });
  return {
    admin: createApiClient({ baseUrl: url, skipTlsVerify: true, accessKey: session.accessKey }),
    key: session.accessKey,
  };
}

async function run(engine: string, n: number): Promise<void> {
  console.log(`\n== ${engine}, ${n} waiting feeds`);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-fanout-'));
  const database = engine === 'postgres' ? await createTestDatabase() : undefined;
  const args = ['-f', configFile(stateDir), '--state-dir', stateDir];
  if (database) args.push('--db-connection-string', database.url);
  const metricsPort = await freePort();
  const server = await startBuiltServer([...args, '--addr-metrics', `127.0.0.1:${metricsPort}`]);
  // On PostgreSQL changes are made on another replica; on SQLite there is one server.
  const writer = database ? await startBuiltServer(args) : server;
  const connections: Connection[] = [];
  try {
    const { admin } = await signIn(writer.url);
    const destinations = Array.from({ length: n }, (_, i) => `dest-${i}`);

    let started = performance.now();
    const ops = await admin.createGroup({ name: 'ops' });
    const members = [];
    for (const name of ['a', 'b', 'c'])
      members.push((await admin.createUser({ name: `${name}@bench.example.com` })).id);
    await admin.updateGroupUsers({ id: ops.id, usersToAdd: members });
    await inParallel(destinations, 16, async (d) => {
      await admin.createGrant({ group: ops.id, privilege: 'view', resource: d });
    });
    const keys = [];
    for (let i = 0; i < 51; i++)
      keys.push((await admin.createAccessKey({ name: `k${i}`, expiry: '1h' })).id);
    for (const id of keys.slice(1)) await admin.deleteAccessKey({ id });
    const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
    const keyOf = new Map<string, string>();
    await inParallel(destinations, 16, async (d) => {
      const created = await admin.createAccessKey({
        userID: connector.id,
        expiry: '24h',
        destination: d,
      });
      keyOf.set(d, created.accessKey);
    });
    console.log(
      `setup: ${n} grants and connector keys in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const pid = server.process.pid!;
    const rssBase = rssMiB(pid);
    started = performance.now();
    for (let i = 0; i < n; i += 200) {
      const batch = await Promise.all(
        destinations.slice(i, i + 200).map(() => Connection.open(server.url)),
      );
      await Promise.all(batch.map((c) => c.get('/healthz')));
      connections.push(...batch);
    }
    await sleep(1000);
    const rssIdle = rssMiB(pid);
    console.log(
      `${n} connections opened in ${((performance.now() - started) / 1000).toFixed(1)} s; server RSS ${rssBase.toFixed(0)} → ${rssIdle.toFixed(0)} MiB, ${(((rssIdle - rssBase) * 1024) / n).toFixed(1)} KiB per idle connection`,
    );

    const feedPath = (d: string, index?: number) =>
      `/api/feed?destination=${d}` +
      (index === undefined ? '' : `&lastUpdateIndex=${index}&wait=5m`);
    const index = new Map<string, number>();
    started = performance.now();
    await inParallel(
      destinations.map((d, i) => [d, connections[i]!] as const),
      64,
      async ([d, c]) => {
        const res = await c.get(feedPath(d), keyOf.get(d));
        index.set(d, (JSON.parse(res.body) as { updateIndex: number }).updateIndex);
      },
    );
    const initial = (performance.now() - started) / 1000;
    console.log(
      `first feed requests (no wait, 64 at a time): ${n} in ${initial.toFixed(1)} s, ${(n / initial).toFixed(0)}/s`,
    );
    await sleep(1000);
    const rssBefore = rssMiB(pid);

    const answers = new Map<string, Promise<Answer>>();
    const answered = new Set<string>();
    const wait = (d: string, i: number) => {
      const answer = connections[i]!.get(feedPath(d, index.get(d)), keyOf.get(d));
      answers.set(d, answer);
      answer.then(
        () => answered.add(d),
        () => {},
      );
    };
    /** Waits until `count` feed requests wait; fails on an answer meanwhile (503: a full pool). */
    const untilWaiting = async (count: number) => {
      const deadline = performance.now() + 120_000;
      while ((await metric(metricsPort, 'feed_requests_waiting')) < count) {
        if (answered.size > 0) {
          const statuses = await Promise.all([...answered].map((d) => answers.get(d)!));
          throw new Error(`feeds answered before any change: ${statuses.map((a) => a.status)}`);
        }
        if (performance.now() > deadline) throw new Error('the feeds never all waited');
        await sleep(50);
      }
    };
    // Connectors' polls are spread out: 500 at a time.
    started = performance.now();
    for (let i = 0; i < n; i += 500) {
      destinations.slice(i, i + 500).forEach((d, j) => wait(d, i + j));
      await untilWaiting(Math.min(n, i + 500));
    }
    const allWaiting = performance.now();
    console.log(
      `${n} feeds set waiting, 500 at a time, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    await sleep(1000);
    const rssWaiting = rssMiB(pid);
    console.log(
      `${n} feeds waiting: server RSS ${rssBefore.toFixed(0)} → ${rssWaiting.toFixed(0)} MiB, ${(((rssWaiting - rssBefore) * 1024) / n).toFixed(1)} KiB per waiting request; ${(((rssWaiting - rssBase) * 1024) / n).toFixed(1)} KiB per waiting connector with its connection`,
    );

    // (a) A grant on one destination.
    let woken = await metric(metricsPort, 'feed_wakeups_total');
    let t0 = clock();
    await admin.createGrant({ group: ops.id, privilege: 'edit', resource: destinations[0]! });
    const first = await answers.get(destinations[0]!)!;
    await sleep(2000);
    console.log(
      `(a) grant on one destination: its feed answered ${first.status} after ${ms(first.at - t0)}; requests woken: ${(await metric(metricsPort, 'feed_wakeups_total')) - woken}; other feeds answered within 2 s: ${answered.size - 1}`,
    );
    for (const d of answered) {
      const res = await answers.get(d)!;
      if (res.status === 200)
        index.set(d, (JSON.parse(res.body) as { updateIndex: number }).updateIndex);
      wait(d, destinations.indexOf(d));
    }
    answered.clear();
    await untilWaiting(n);

    // (b) A session ended: every destination is concerned.
    const probe = startProbe(server.url, pid);
    await sleep(500);
    woken = await metric(metricsPort, 'feed_wakeups_total');
    // Scraping resets the server's event loop delay histogram: the next scrape covers the fan-out.
    await metric(metricsPort, 'nodejs_eventloop_lag_max_seconds');
    const cpuBefore = cpuMs(pid);
    t0 = clock();
    await admin.deleteAccessKey({ id: keys[0]! });
    const done = await Promise.all(destinations.map((d) => answers.get(d)!));
    const tAll = clock();
    const cpu = cpuMs(pid) - cpuBefore;
    const lag = (await metric(metricsPort, 'nodejs_eventloop_lag_max_seconds')) * 1000;
    await sleep(2000);
    const rssAfter = rssMiB(pid);
    const { probes, rss } = await probe.stop();
    const notOk = done.filter((r) => r.status !== 200).length;
    console.log(
      `(b) session ended: every feed answered: ${stats(done.map((r) => r.at - t0))}${notOk ? `; ${notOk} not 200` : ''}; requests woken: ${(await metric(metricsPort, 'feed_wakeups_total')) - woken}; server CPU ${ms(cpu)}`,
    );
    const during = probes.filter(([at]) => at >= t0 && at <= tAll).map(([, v]) => v);
    console.log(
      `    /healthz meanwhile (${ms(tAll - t0)}): ${during.length ? stats(during) : 'no probe'}; the server's event loop was held up ${ms(lag)} at most`,
    );
    const peak = Math.max(...rss.filter(([at]) => at >= t0).map(([, v]) => v));
    console.log(
      `    server RSS ${rssWaiting.toFixed(0)} MiB waiting, peak ${peak.toFixed(0)} MiB, ${rssAfter.toFixed(0)} MiB 2 s after`,
    );

    // (c) Every connector asks again at once, as after (b), a minute after their last use.
    for (const [i, d] of destinations.entries()) {
      index.set(d, (JSON.parse(done[i]!.body) as { updateIndex: number }).updateIndex);
    }
    answered.clear();
    // As at any poll a minute after a key's last recorded use: every request records it.
    await sleep(allWaiting + 61_000 - performance.now());
    const herdProbe = startProbe(server.url, pid);
    await sleep(500);
    const tHerd = clock();
    started = performance.now();
    destinations.forEach(wait);
    const deadline = performance.now() + 120_000;
    let waitingNow = 0;
    while ((waitingNow = await metric(metricsPort, 'feed_requests_waiting')) < n) {
      if (waitingNow + answered.size >= n || performance.now() > deadline) break;
      await sleep(50);
    }
    const tHerdEnd = clock();
    const herdProbes = (await herdProbe.stop()).probes
      .filter(([at]) => at >= tHerd && at <= tHerdEnd)
      .map(([, v]) => v);
    const statuses = new Map<number, number>();
    for (const d of answered) {
      const { status } = await answers.get(d)!;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    console.log(
      `(c) all ${n} asking again at once: ${waitingNow} waiting after ${((performance.now() - started) / 1000).toFixed(1)} s${statuses.size ? `; answered meanwhile: ${[...statuses].map(([k, v]) => `${v} × ${k}`).join(', ')}` : ''}`,
    );
    console.log(`    /healthz meanwhile: ${herdProbes.length ? stats(herdProbes) : 'no probe'}`);
  } finally {
    for (const c of connections) c.close();
    await server.stop();
    if (writer !== server) await writer.stop();
    await database?.drop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

for (const engine of engines) for (const n of counts) await run(engine, n);
process.exit(0);
