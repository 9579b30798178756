/**
 * The outbound tunnel: what the path through the server costs, and what idle tunnels cost it.
 *
 *   npx tsx bench/tunnel.ts [seconds=10] [tunnels=2000]   (seconds=0: only the idle tunnels)
 *
 * 1. The same small GET straight to the fake kube-apiserver, through the connector's own
 *    listener (direct mode) and through the server and the tunnel, with wrk (1 and 8
 *    connections). Server, connector and apiserver share this process's thread, as in
 *    bench/connector.ts, so the differences are each hop's own cost.
 * 2. A built server (its own process, SQLite) and `tunnels` connectors' tunnels opened to it from
 *    this process: the server's resident memory before and after, per tunnel.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApiClient } from '../src/api/client.js';
import { TunnelClient } from '../src/connector/tunnel.js';
import { createLogger } from '../src/shared/logger.js';
import { kubePath } from '../src/shared/tunnel.js';
import { startCluster } from '../test/cluster.js';
import { ADMIN, ADMIN_CONFIG } from '../test/identity.js';
import { machine, requireBuildAndWrk, startBuiltServer, wrk } from './lib.js';
import { readFileSync, writeFileSync } from 'node:fs';

requireBuildAndWrk();
const seconds = Number(process.argv[2] ?? 10);
const tunnelCount = Number(process.argv[3] ?? 2000);
console.log(`machine: ${machine()}`);

// 1. Latency and throughput of the three paths.
if (seconds > 0) {
  const cluster = await startCluster('sqlite', {
    connectorSettings: { tunnel: 'true', endpoint: '' },
  });
  {
    const { admin, kube } = cluster;
    for (let i = 0; i < 400 && cluster.connector.tunnels().length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    const user = await admin.createUser({ name: 'bench@example.com' });
    await admin.createGrant({ user: user.id, privilege: 'view', resource: 'prod' });
    const key = (await admin.createAccessKey({ userID: user.id, expiry: '24h' })).accessKey;
    await cluster.connectorCaughtUp();
    const asUser = createApiClient({
      baseUrl: cluster.server.url,
      ca: cluster.server.ca,
      accessKey: key,
    });
    const token = (await asUser.createToken({ destination: 'prod' })).token;
    const target = '/api/v1/namespaces/default/pods/app-1';
    const paths = [
      ['straight to the fake apiserver', `${kube.url}${target}`, kube.adminToken],
      [
        'through the connector (direct mode)',
        `https://127.0.0.1:${cluster.connector.port}${target}`,
        token,
      ],
      [
        'through the server and the tunnel',
        `${cluster.server.url}${kubePath('prod')}${target}`,
        token,
      ],
    ] as const;
    for (const connections of [1, 8]) {
      for (const [what, url, bearer] of paths) {
        console.log(`\n== GET ${target} ${what} (${connections} connection(s), ${seconds}s)`);
        console.log(
          await wrk(url, { seconds, connections, headers: [`Authorization: Bearer ${bearer}`] }),
        );
      }
    }
  }
  await cluster.close();
}

// 2. Idle tunnels held by one server.
const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-tunnels-'));
const configFile = path.join(stateDir, 'config.yaml');
writeFileSync(configFile, ADMIN_CONFIG);
// Every tunnel comes from this one address here; in a fleet each cluster has its own (or a NAT
// gateway's: then raise limits.connectionsPerIP, or set it to 0, as here).
const server = await startBuiltServer([
  '--config-file',
  configFile,
  '--state-dir',
  stateDir,
  '--limits-connections-per-ip',
  '0',
]);
const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
const rss = () => {
  const status = readFileSync(`/proc/${server.process.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};
const anon = createApiClient({ baseUrl: server.url, ca });
const adminKey = (await anon.login({ passwordCredentials: ADMIN })).accessKey;
const admin = createApiClient({ baseUrl: server.url, ca, accessKey: adminKey });
const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
const quiet = createLogger({ level: 'error', json: true });
console.log(`\n== ${tunnelCount} idle tunnels to one server (SQLite)`);
const started = Date.now();
const register = async (i: number): Promise<string> => {
  const name = `c${i}`;
  const key = (
    await admin.createAccessKey({
      userID: connectorUser.id,
      name,
      expiry: '24h',
      destination: name,
    })
  ).accessKey;
  await createApiClient({ baseUrl: server.url, ca, accessKey: key }).createDestination({
    name,
    uniqueID: name,
    connection: { mode: 'tunnel', url: '', ca: '' },
  });
  return key;
};
const keys: string[] = [];
// 20 at a time: registration is set-up, not what this measures.
for (let i = 0; i < tunnelCount; i += 20) {
  const batch = Array.from({ length: Math.min(20, tunnelCount - i) }, (_, j) => register(i + j));
  keys.push(...(await Promise.all(batch)));
}
console.log(
  `registered ${tunnelCount} destinations in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
await new Promise((r) => setTimeout(r, 2000));
const before = rss();
const clients = keys.map(
  (key, i) =>
    new TunnelClient({
      serverUrl: server.url,
      destination: `c${i}`,
      accessKey: () => key,
      ca,
      log: quiet,
      serve: (stream) => stream.destroy(),
    }),
);
const opening = Date.now();
for (let i = 0; i < clients.length; i++) {
  clients[i]!.start();
  // Paced, as connectors arriving over time would.
  if (i % 100 === 99) await new Promise((r) => setTimeout(r, 100));
}
for (let i = 0; i < 2400 && clients.some((c) => c.replicas.length === 0); i++)
  await new Promise((r) => setTimeout(r, 50));
const open = clients.filter((c) => c.replicas.length > 0).length;
console.log(
  `${open} of ${tunnelCount} tunnels open after ${((Date.now() - opening) / 1000).toFixed(1)} s`,
);
await new Promise((r) => setTimeout(r, 5000));
const after = rss();
console.log(
  `server RSS: ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB with ${open} idle tunnels: ${(((after - before) * 1024) / Math.max(open, 1)).toFixed(1)} KiB per tunnel`,
);
// The API as another client sees it, from other processes: this one holds the 10,000 tunnels'
// client ends, so its own event loop would be in every time it took. Ten calls on fresh TLS
// connections (curl), then a steady stream on one connection (wrk) over more than one keep-alive
// round (15 s).
const jwks = `${server.url}/.well-known/jwks.json`;
const fresh: number[] = [];
for (let i = 0; i < 10; i++) {
  const out = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{time_total}', jwks], {
    encoding: 'utf8',
  });
  fresh.push(Number(out) * 1000);
}
console.log(
  `API calls on fresh connections with ${open} tunnels open (ms): ${fresh.map((t) => t.toFixed(1)).join(', ')}`,
);
console.log(`\n== GET /.well-known/jwks.json with ${open} tunnels open (1 connection, 20s)`);
console.log(await wrk(jwks, { seconds: 20, connections: 1 }));
await Promise.all(clients.map((c) => c.stop()));
await server.stop();
