/**
 * Kubernetes request audit: what recording a request adds to the proxy's request path, what
 * building and sending its event costs off that path, and a small GET through the connector with
 * auditing on.
 *
 *   npx tsx bench/kube-audit.ts [seconds=5]
 *
 * 1. The request path: the proxy's own calls (`auditedRequest`, then `record` when the response
 *    closes) over a realistic request, timed in rounds of 100,000; p50 and p99 of the rounds'
 *    per-request cost. This is all the audit adds to a request: the event itself is built later.
 * 2. Off the path: turning queued requests into audit.k8s.io Events (parsing the path, ids,
 *    timestamps) and JSON, per event.
 * 3. Delivery: events stored per second by the server (SQLite) in batches of 500.
 * 4. End to end: wrk through the connector (auditing on), one connection, with the events
 *    delivered meanwhile.
 */
import type { IncomingMessage } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type { TokenClaims } from '../src/connector/authenticate.js';
import { KubeAuditLog, kubeEvent, type ProxiedRequest } from '../src/connector/kube-audit.js';
import { auditedRequest, type Verdict } from '../src/connector/proxy.js';
import { createLogger } from '../src/shared/logger.js';
import { startCluster } from '../test/cluster.js';
import { machine, wrk } from './lib.js';

const seconds = Number(process.argv[2] ?? 5);
console.log(
  `machine: ${machine()}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

// 1. The request path.
const dropped = { events: 0, chunk: 0 };
const log = new KubeAuditLog({
  client: {
    createKubeEvents: async () => ({ accepted: 0, duplicates: 0 }),
    createKubeRecordingChunk: async () => {},
  },
  destination: 'prod',
  dir: mkdtempSync(path.join(tmpdir(), 'bench-audit-')),
  bufferBytes: 1 << 30,
  log: quiet,
  metrics: { dropped: (kind, n) => (dropped[kind] += n) },
});
const req = {
  method: 'GET',
  url: '/api/v1/namespaces/default/pods/app-1',
  headers: { 'user-agent': 'kubectl/v1.32.4 (linux/amd64) kubernetes/abcdef0' },
  socket: { remoteAddress: '10.1.2.3' },
} as unknown as IncomingMessage;
const claims: TokenClaims = {
  userId: 'usr_0123456789abcdefghijklmn',
  name: 'alice@example.com',
  sessionId: 'key_x',
  expiresAt: 0,
};
const verdict = {
  ok: true,
  claims,
  user: 'alice@example.com',
  groups: ['devs', 'oncall'],
  state: undefined,
} as unknown as Verdict;
const ROUND = 10_000;
const perRequestNs: number[] = [];
for (let round = 0; round < 200; round++) {
  const t = performance.now();
  for (let i = 0; i < ROUND; i++) {
    // As the proxy does: the facts at the verdict, then code and time when the response closes.
    const audited = auditedRequest(req, verdict, Date.now())!;
    audited.code = 200;
    audited.at = Date.now();
    log.record(audited);
  }
  perRequestNs.push(((performance.now() - t) * 1e6) / ROUND);
  // Empty the queue between rounds, as the flush would (not timed).
  await log.flush();
}
console.log(
  `\n== request path: recording a request costs p50 ${(pct(perRequestNs, 50) / 1000).toFixed(2)} µs, p99 ${(pct(perRequestNs, 99) / 1000).toFixed(2)} µs per request (${perRequestNs.length} rounds of ${ROUND})`,
);

// 2. Building the events off the path.
const queued: ProxiedRequest[] = Array.from({ length: 100_000 }, (_, i) => ({
  method: 'GET',
  url: `/api/v1/namespaces/default/pods/app-${i}`,
  userId: claims.userId,
  userName: claims.name,
  groups: ['devs'],
  impersonated: true,
  sourceIP: '10.1.2.3',
  userAgent: 'kubectl/v1.32.4',
  stage: 'ResponseComplete',
  code: 200,
  receivedAt: Date.now(),
  at: Date.now(),
}));
let t = performance.now();
let bytes = 0;
for (const q of queued) bytes += JSON.stringify(kubeEvent(q)).length;
const buildUs = ((performance.now() - t) * 1000) / queued.length;
console.log(
  `\n== off the path: building an event and its JSON: ${buildUs.toFixed(2)} µs, ${Math.round(bytes / queued.length)} bytes per event`,
);

// 3 and 4 against a real server and connector.
const cluster = await startCluster('sqlite');
const { admin } = cluster;
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

const [connectorUser] = (await admin.listUsers({ name: 'connector', showSystem: true })).items;
const connectorKey = await admin.createAccessKey({
  userID: connectorUser!.id,
  destination: 'prod',
  expiry: '1h',
});
const asConnector = createApiClient({
  baseUrl: cluster.server.url,
  ca: cluster.server.ca,
  accessKey: connectorKey.accessKey,
});
const batches = 20;
t = performance.now();
for (let b = 0; b < batches; b++) {
  await asConnector.createKubeEvents({
    destination: 'prod',
    events: queued.slice(b * 500, (b + 1) * 500).map((q) => kubeEvent(q)!),
  });
}
const perSecond = (batches * 500) / ((performance.now() - t) / 1000);
console.log(
  `\n== delivery: ${Math.round(perSecond)} events stored per second (SQLite, batches of 500)`,
);

const target = '/api/v1/namespaces/default/pods/app-1';
console.log(`\n== GET ${target} through the connector, auditing on (1 connection, ${seconds}s)`);
console.log(
  await wrk(`${cluster.connector.url}${target}`, {
    seconds,
    connections: 1,
    headers: [`Authorization: Bearer ${token}`],
  }),
);
const stored = await admin.listKubeEvents({ user: user.id, limit: 1 });
console.log(`events stored for the run: newest ${stored.items[0]?.stageTimestamp ?? 'none'}`);
await cluster.close();
process.exit(0);
