/**
 * The connector as users run it: `infra connector` (the built binary) in a process of its own,
 * following `infra server` (another process), in front of the fake kube-apiserver (this
 * process). Prints:
 *
 * - the connector's memory once idle (resident set, and heap from its /metrics);
 * - a small GET (8 connections, wrk) straight to the fake apiserver, through the connector,
 *   through a bare proxy on Node's https (the floor for any Node proxy), and, when `nginx` is
 *   installed (Debian: apt-get install nginx), through nginx doing the same job (TLS both sides,
 *   the connector's credentials and impersonation headers added, keep-alive upstream); for each
 *   proxy its CPU time per request, read from /proc;
 * - the connector's memory after requests with N distinct users' tokens (default 10,000).
 *
 *   npx tsx bench/connector-process.ts [seconds=10] [users=10000]
 *
 * INFRA_BENCH_PROFILE=<dir> writes a CPU profile of the connector there when it stops;
 * INFRA_BENCH_BUILD=<dir> runs the connector of another build (a checkout after `npm run build`).
 * The connector starts with its certificate already in its state directory, as at every start
 * but the first; INFRA_BENCH_FIRST_START=1 lets it issue one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../src/shared/logger.js';
import {
  createCertificateAuthority,
  issueServerCertificate,
} from '../src/shared/tls/certificates.js';
import { loadOrCreateSelfSigned } from '../src/shared/tls/self-signed.js';
import { startFakeKube } from '../test/fake-kube/server.js';
import { freePort } from '../test/pebble.js';
import { startServerProcess } from '../test/server-process.js';
import { machine, requireBuildAndWrk, root, wrk } from './lib.js';

const seconds = Number(process.argv[2] ?? 10);
const userCount = Number(process.argv[3] ?? 10_000);
requireBuildAndWrk();
const build = path.resolve(process.env.INFRA_BENCH_BUILD ?? root);
const profile = process.env.INFRA_BENCH_PROFILE;
console.log(`machine: ${machine()}; connector from ${build}`);

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) / 1024;
}

function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs `fn` over `items`, `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

const server = await startServerProcess({});
const admin = server.client(await server.adminKey());
const kube = await startFakeKube();
kube.addPod('default', 'app-1');
const dir = mkdtempSync(path.join(tmpdir(), 'infra-bench-connector-'));
const kubeconfig = path.join(dir, 'kubeconfig');
writeFileSync(kubeconfig, kube.kubeconfig(kube.adminToken));
const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
const connectorKey = (
  await admin.createAccessKey({ userID: connectorUser.id, name: 'prod-connector', expiry: '24h' })
).accessKey;

const port = await freePort();
const metricsPort = await freePort();
// The connector's certificate exists, as at any start but its very first (which issues it and
// so loads @peculiar/x509: INFRA_BENCH_FIRST_START=1 measures that one).
if (!process.env.INFRA_BENCH_FIRST_START) {
  const quiet = createLogger({
    level: 'error',
    json: true,
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  await loadOrCreateSelfSigned(dir, ['127.0.0.1'], Date.now(), quiet, 'Infra Connector CA');
}
const connector: ChildProcess = spawn(
  process.execPath,
  [
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
    // INFRA_BENCH_NODE_ARGS="--import ..." passes options to its node (with INFRA_MODULES_OUT and
    // test/count-modules.mjs: the modules it loads).
    ...(process.env.INFRA_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    path.join(build, 'bin', 'infra.cjs'),
    'connector',
    '--name',
    'prod',
    '--endpoint',
    `https://127.0.0.1:${port}`,
    '--state-dir',
    dir,
    '--kubeconfig',
    kubeconfig,
    '--addr-https',
    `127.0.0.1:${port}`,
    '--addr-metrics',
    `127.0.0.1:${metricsPort}`,
    '--server-url',
    server.url,
    '--server-access-key',
    `plaintext:${connectorKey}`,
    '--server-trusted-certificate',
    server.ca,
    '--log-level',
    'warn',
    '--log-format',
    'json',
  ],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      INFRA_MODULES_OUT: process.env.INFRA_MODULES_OUT,
    },
  },
);
const pid = connector.pid!;
const connectorUrl = `https://127.0.0.1:${port}`;
const target = '/api/v1/namespaces/default/pods/app-1';

async function metric(name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    import('node:http').then(({ get: httpGet }) =>
      httpGet(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject),
    );
  });
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
}

async function memory(): Promise<string> {
  const heap = (await metric('nodejs_heap_size_used_bytes')) / 2 ** 20;
  return `RSS ${rssMiB(pid).toFixed(1)} MiB, JS heap used ${heap.toFixed(1)} MiB`;
}

/** Calls `fn` again when the server closed the keep-alive connection as the request went out. */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt === 3 || !/ECONNRESET|socket hang up/.test((err as Error).message)) throw err;
    }
  }
}

/** A user with `view` on prod (or in `group`), and a destination token for them. */
async function userToken(name: string, group?: string): Promise<string> {
  // A retried creation may have happened: then the user is there.
  const user = await retried(() => admin.createUser({ name })).catch(async (err: unknown) => {
    const [existing] = (await admin.listUsers({ name })).items;
    if (!existing) throw err;
    return existing;
  });
  if (group) await retried(() => admin.updateGroupUsers({ id: group, usersToAdd: [user.id] }));
  else
    await retried(() => admin.createGrant({ user: user.id, privilege: 'view', resource: 'prod' }));
  const key = (await retried(() => admin.createAccessKey({ userID: user.id, expiry: '24h' })))
    .accessKey;
  return (await retried(() => server.client(key).createToken({ destination: 'prod' }))).token;
}

const token = await userToken('bench@example.com');
const deadline = Date.now() + 60_000;
while ((await get(`${connectorUrl}${target}`, token).catch(() => ({ status: 0 }))).status !== 200) {
  if (Date.now() > deadline) throw new Error('the connector never let the user through');
  await new Promise((r) => setTimeout(r, 100));
}
await new Promise((r) => setTimeout(r, 5000));
console.log(`\n== connector idle, 5 s after its first proxied request: ${await memory()}`);

const results: Array<{ name: string; rps: number; cpuUs?: number; report: string }> = [];
async function measure(name: string, url: string, headers: string[], pids: number[]) {
  const before = pids.reduce((sum, p) => sum + cpuSeconds(p), 0);
  const t = Date.now();
  const report = await wrk(url, { seconds, connections: 8, headers });
  const cpu = pids.reduce((sum, p) => sum + cpuSeconds(p), 0) - before;
  const requests = Number(/(\d+) requests in/.exec(report)?.[1] ?? 0);
  // wrk warms up for 2 s first (its requests are not in the report): count them by rate.
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(report)?.[1] ?? 0);
  const total = requests + rps * ((Date.now() - t) / 1000 - seconds);
  results.push({
    name,
    rps,
    cpuUs: pids.length ? (cpu / total) * 1e6 : undefined,
    report,
  });
}

await measure(
  'straight to the fake apiserver',
  `${kube.url}${target}`,
  [`Authorization: Bearer ${kube.adminToken}`],
  [],
);
await measure(
  'through the connector',
  `${connectorUrl}${target}`,
  [`Authorization: Bearer ${token}`],
  [pid],
);

// nginx doing the connector's job (without checking the token): TLS both sides, the caller's
// credentials replaced with the connector's, impersonation headers added, keep-alive upstream.
{
  const now = Date.now();
  const ca = await createCertificateAuthority(now, 'bench proxy CA');
  const leaf = await issueServerCertificate(ca, ['127.0.0.1'], now, 2);
  writeFileSync(path.join(dir, 'proxy.crt'), leaf.certificate + ca.certificate);
  writeFileSync(path.join(dir, 'proxy.key'), leaf.privateKey);
  const kubeCa = JSON.parse(kube.kubeconfig(kube.adminToken)) as {
    clusters: Array<{ cluster: Record<string, string> }>;
  };
  writeFileSync(
    path.join(dir, 'kube-ca.crt'),
    Buffer.from(kubeCa.clusters[0]!.cluster['certificate-authority-data']!, 'base64'),
  );
}
const kubePort = new URL(kube.url).port;

// The floor for a proxy on Node's own HTTP and TLS: a bare one (no token check, no metrics, the
// same headers added), in a process of its own.
{
  const barePort = await freePort();
  const script = `
    import { readFileSync } from 'node:fs';
    import { Agent, createServer, request } from 'node:https';
    class OneAgent extends Agent { getName() { return 'kube'; } }
    const agent = new OneAgent({ keepAlive: true, maxSockets: 512, servername: '',
      ca: readFileSync(${JSON.stringify(path.join(dir, 'kube-ca.crt'))}) });
    createServer({ cert: readFileSync(${JSON.stringify(path.join(dir, 'proxy.crt'))}),
        key: readFileSync(${JSON.stringify(path.join(dir, 'proxy.key'))}) }, (req, res) => {
      const headers = { ...req.headers, host: '127.0.0.1:${kubePort}',
        authorization: 'Bearer ${kube.adminToken}', 'impersonate-user': 'bench@example.com' };
      const up = request({ host: '127.0.0.1', port: ${kubePort}, method: req.method, path: req.url,
        headers, agent }, (upRes) => { res.writeHead(upRes.statusCode, upRes.headers); upRes.pipe(res); });
      req.pipe(up);
    }).listen(${barePort}, '127.0.0.1');`;
  const bare = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  const bareUrl = `https://127.0.0.1:${barePort}${target}`;
  for (let i = 0; (await get(bareUrl, 'x').catch(() => ({ status: 0 }))).status !== 200; i++) {
    if (i > 100) throw new Error('the bare Node proxy did not answer 200');
    await new Promise((r) => setTimeout(r, 100));
  }
  await measure('through a bare Node proxy (no token check)', bareUrl, [], [bare.pid!]);
  bare.kill();
}

const nginxBin = spawnSync('sh', ['-c', 'command -v nginx']).stdout.toString().trim();
let nginx: ChildProcess | undefined;
if (nginxBin) {
  const nginxPort = await freePort();
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  upstream kube { server 127.0.0.1:${kubePort}; keepalive 32; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${dir}/proxy.crt;
    ssl_certificate_key ${dir}/proxy.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass https://kube;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:${kubePort};
      proxy_set_header Authorization "Bearer ${kube.adminToken}";
      proxy_set_header Impersonate-User "bench@example.com";
      proxy_set_header Impersonate-Group "";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${dir}/kube-ca.crt;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering on;
    }
  }
}
`,
  );
  nginx = spawn(
    nginxBin,
    ['-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'nginx-error.log')],
    {
      stdio: 'inherit',
    },
  );
  const nginxUrl = `https://127.0.0.1:${nginxPort}${target}`;
  for (let i = 0; (await get(nginxUrl, 'x').catch(() => ({ status: 0 }))).status !== 200; i++) {
    if (i > 100)
      throw new Error(
        `nginx did not answer 200: ${readFileSync(path.join(dir, 'nginx-error.log'), 'utf8')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
  const pids = spawnSync('pgrep', ['-P', String(nginx.pid)])
    .stdout.toString()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
  await measure(
    'through nginx (same headers, TLS both sides)',
    nginxUrl,
    [],
    [nginx.pid!, ...pids],
  );
} else {
  console.log('\n(nginx is not installed: no comparison; apt-get install nginx)');
}

for (const r of results) {
  console.log(`\n== GET ${target}, ${r.name} (8 connections, ${seconds}s)`);
  if (r.cpuUs !== undefined) console.log(`proxy CPU per request: ${r.cpuUs.toFixed(0)} µs`);
  console.log(r.report);
}
console.log(`\n== connector after the runs: ${await memory()}`);

// N distinct users, each with a token used once through the connector.
if (userCount > 0) {
  const group = (await admin.createGroup({ name: 'bench-viewers' })).id;
  await admin.createGrant({ group, privilege: 'view', resource: 'prod' });
  const tokens: string[] = [];
  const names = Array.from({ length: userCount }, (_, i) => `user${i}@example.com`);
  let t = Date.now();
  await inParallel(names, 8, async (name) => {
    tokens.push(await userToken(name, group));
    if (tokens.length % 1000 === 0) console.log(`${tokens.length} users...`);
  });
  console.log(`\n${userCount} users with tokens made in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  // Wait until the connector knows them all (its feed), then measure before using the tokens.
  for (let i = 0; (await get(`${connectorUrl}${target}`, tokens.at(-1)!)).status !== 200; i++) {
    if (i > 600) throw new Error('the connector never let the last user through');
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 5000));
  console.log(`== connector idle with ${userCount} users in its access state: ${await memory()}`);
  t = Date.now();
  const refused: number[] = [];
  await inParallel(tokens, 8, async (tok) => {
    const { status } = await get(`${connectorUrl}${target}`, tok);
    if (status !== 200) refused.push(status);
  });
  console.log(
    `${userCount} tokens used once each in ${((Date.now() - t) / 1000).toFixed(1)} s (${refused.length} refused)`,
  );
  await new Promise((r) => setTimeout(r, 5000));
  console.log(`== connector idle after ${userCount} distinct tokens: ${await memory()}`);
}

nginx?.kill('SIGQUIT');
connector.kill('SIGTERM');
await new Promise((r) => connector.on('exit', r));
await kube.close();
await server.kill();
process.exit(0);
