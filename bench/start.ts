/**
 * Start-up cost of what users run after `npm run build` (bin/infra.cjs), each its own process:
 * `infra server` with existing state (SQLite) from spawn to the first 200 on /healthz;
 * `infra --version` and `infra list` (logged in, against a running server) against a bare
 * `node -e ''`, the commands taking turns so load hits all alike; and the modules each loads
 * (CommonJS files, ES modules, npm packages), counted in separate runs (the counting hook costs
 * time of its own).
 *
 *   npx tsx bench/start.ts [runs=15] [other build...]
 *
 * Other builds (a directory with bin/infra.cjs and dist/, such as a checkout of the previous
 * commit after `npm run build`) take turns with this one, for a before/after under the same load.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startServerProcess } from '../test/server-process.js';
import { freePort } from '../test/pebble.js';
import { machine, percentiles, requireBuildAndWrk, root } from './lib.js';

const runs = Number(process.argv[2] ?? 15);
const trees = [root, ...process.argv.slice(3).map((d) => path.resolve(d))];
requireBuildAndWrk();
const bin = path.join(root, 'bin', 'infra.cjs');
const binOf = (tree: string) => path.join(tree, 'bin', 'infra.cjs');
const label = (tree: string) => (tree === root ? '' : ` [${tree}]`);
const counter = path.join(root, 'test', 'count-modules.mjs');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.end();
  });
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);
const serverCpu = new Map(trees.map((tree) => [tree, [] as number[]]));
/** Whether runs count (not warm-ups, not module counting). */
let recording = false;

/** Milliseconds from spawning `infra server` on an existing state directory to a 200 on /healthz. */
async function serverStart(
  stateDir: string,
  nodeArgs: string[] = [],
  env = {},
  tree = root,
): Promise<number> {
  const port = await freePort();
  const t = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      binOf(tree),
      'server',
      '--state-dir',
      stateDir,
      '--addr-https',
      `127.0.0.1:${port}`,
      '--addr-metrics',
      '',
    ],
    { stdio: 'ignore', env: { PATH: process.env.PATH, HOME: stateDir, ...env } },
  );
  const exited = new Promise((r) => child.on('exit', r));
  while (!(await healthy(port))) {
    if (child.exitCode !== null) throw new Error('infra server exited');
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t;
  // CPU time (all threads) spent to get there: less sensitive than wall time to a busy machine.
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  if (recording)
    serverCpu.get(tree)!.push(((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1000);
  child.kill('SIGTERM');
  await exited;
  return ms;
}

function modules(run: (extra: string[], env: Record<string, string>) => Promise<unknown>) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-bench-mods-')), 'modules');
  writeFileSync(file, '');
  return run(['--import', counter], { INFRA_MODULES_OUT: file }).then(() => {
    const line = readFileSync(file, 'utf8').trim().split('\n').pop()!;
    const m = JSON.parse(line) as { cjs: number; esm: number; packages: string[] };
    return `${m.cjs} CommonJS files, ${m.esm} ES modules, ${m.packages.length} packages: ${m.packages.join(' ')}`;
  });
}

console.log(`machine: ${machine()}`);

// A server that has run once: its state (SQLite, keys, certificates) exists. Also the one `infra
// list` asks.
const server = await startServerProcess({});
const adminKey = await server.adminKey();
const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-start-'));
{
  const ms = await serverStart(stateDir);
  console.log(`first start (fresh state): ${ms.toFixed(0)} ms`);
}

// A logged-in workstation for `infra list`.
const home = mkdtempSync(path.join(tmpdir(), 'infra-bench-home-'));
mkdirSync(path.join(home, '.kube'));
const cliEnv = { HOME: home, PATH: process.env.PATH!, KUBECONFIG: path.join(home, '.kube/config') };
const login = spawnSync(
  process.execPath,
  [bin, 'login', new URL(server.url).host, '--key', adminKey, '--tls-trusted-cert', server.ca],
  { env: cliEnv },
);
if (login.status !== 0) throw new Error(`login failed: ${login.stderr.toString()}`);

function cli(args: string[], nodeArgs: string[] = [], env = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      env: { ...cliEnv, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${args.join(' ')}: ${err}`));
      else resolve(performance.now() - t);
    });
  });
}

const series: Array<[string, () => Promise<number>]> = [
  ["node -e ''", () => cli(['-e', ''])],
  ...trees.flatMap((tree): Array<[string, () => Promise<number>]> => [
    [`infra --version${label(tree)}`, () => cli([binOf(tree), '--version'])],
    [`infra list (logged in, asks the server)${label(tree)}`, () => cli([binOf(tree), 'list'])],
    [
      `infra server to /healthz 200 (existing state)${label(tree)}`,
      () => serverStart(stateDir, [], {}, tree),
    ],
  ]),
];
const times = series.map((): number[] => []);
for (let i = 0; i < runs + 2; i++) {
  recording = i >= 2;
  for (const [k, [, run]] of series.entries()) {
    const ms = await run();
    if (recording) times[k]!.push(ms);
  }
}
recording = false;
for (const [k, [name]] of series.entries()) {
  console.log(`\n== ${name}\n${percentiles(times[k]!)}`);
  if (k > 0)
    console.log(
      `ratio of medians to node -e '': ${(median(times[k]!) / median(times[0]!)).toFixed(2)}x`,
    );
}

for (const tree of trees) {
  const cpu = serverCpu.get(tree)!;
  console.log(`\n== infra server CPU time to /healthz 200${label(tree)}\n${percentiles(cpu)}`);
}

for (const tree of trees) {
  console.log(`\n== modules loaded${label(tree)}`);
  const b = binOf(tree);
  console.log(`infra --version: ${await modules((a, e) => cli([b, '--version'], a, e))}`);
  console.log(`infra list: ${await modules((a, e) => cli([b, 'list'], a, e))}`);
  console.log(`infra server: ${await modules((a, e) => serverStart(stateDir, a, e, tree))}`);
}

await server.kill();
rmSync(stateDir, { recursive: true, force: true });
rmSync(home, { recursive: true, force: true });
