/**
 * What a waiting access feed request keeps in memory, measured inside the server with garbage
 * collected first (`bench/feed-fanout.ts` gives the server's RSS, which also holds garbage and
 * the heap's slack).
 *
 *   node --expose-gc --import tsx bench/feed-memory.ts [waiters=2000] [engine=sqlite]
 *
 * The server runs in this process; a child process opens the connections (each makes one
 * request), then sends a feed request that waits on each. Prints the JS heap and RSS per idle
 * connection, and per waiting request on top of its connection.
 */
import { fork } from 'node:child_process';
import { Connection, machine } from './lib.js';

async function client(url: string, key: string, n: number): Promise<void> {
  const send = (m: string) => process.send!(m);
  const next = () => new Promise((r) => process.once('message', r));
  const connections: Connection[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(200, n - i) }, () => Connection.open(url)),
    );
    await Promise.all(batch.map((c) => c.get('/healthz')));
    connections.push(...batch);
  }
  const index: number[] = [];
  for (let i = 0; i < n; i += 100) {
    const answers = await Promise.all(
      connections.slice(i, i + 100).map((c, j) => c.get(`/api/feed?destination=d${i + j}`, key)),
    );
    for (const a of answers)
      index.push((JSON.parse(a.body) as { updateIndex: number }).updateIndex);
  }
  send('idle');
  await next();
  connections.forEach((c, i) => {
    c.get(`/api/feed?destination=d${i}&lastUpdateIndex=${index[i]}&wait=5m`, key).catch(() => {});
  });
  await next();
  process.exit(0);
}

if (process.argv[2] === 'client') {
  await client(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
} else {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.error('run with node --expose-gc --import tsx');
    process.exit(1);
  }
  const n = Number(process.argv[2] ?? 2000);
  const engine = (process.argv[3] ?? 'sqlite') as 'sqlite' | 'postgres';
  const { startAdminServer } = await import('../test/identity.js');
  const { server, adminKey } = await startAdminServer(engine, {
    settings: { 'limits.connectionsPerIP': '0', 'addr.metrics': '127.0.0.1:0' },
  });
  const waiting = async () => {
    const res = await fetch(`http://127.0.0.1:${server.running.metricsPort}/metrics`);
    return Number(/^feed_requests_waiting (\d+)/m.exec(await res.text())?.[1]);
  };
  const memory = () => {
    for (let i = 0; i < 4; i++) gc();
    return process.memoryUsage();
  };
  const per = (a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage) =>
    `JS heap ${((b.heapUsed - a.heapUsed) / n / 1024).toFixed(1)} KiB, RSS ${((b.rss - a.rss) / n / 1024).toFixed(1)} KiB`;

  console.log(`machine: ${machine()}; ${engine}, ${n} connections`);
  const before = memory();
  const child = fork(import.meta.filename, ['client', server.url, adminKey, String(n)], {
    execArgv: ['--import', 'tsx'],
  });
  await new Promise((r) => child.once('message', r));
  const idle = memory();
  console.log(`per idle connection (after a request): ${per(before, idle)}`);
  child.send('wait');
  const deadline = Date.now() + 120_000;
  while ((await waiting()) < n && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  // Let the writes the requests started (connector presence, key use) finish.
  await new Promise((r) => setTimeout(r, 5000));
  const held = memory();
  console.log(
    `per waiting feed request, on top of its connection (${await waiting()} waiting): ${per(idle, held)}`,
  );
  child.send('end');
  await server.close();
  process.exit(0);
}
