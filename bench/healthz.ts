/**
 * Requests per second of `GET /healthz` and `GET /api/version` over HTTPS (keep-alive), with
 * wrk as the load generator, against the built server (`npm run build` first). Prints wrk's
 * figures; record them in docs/benchmarks.md with the machine and date.
 *
 *   npx tsx bench/healthz.ts [seconds=10] [connections=32]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);

if (!existsSync(path.join(root, 'dist/infra.mjs'))) {
  console.error('run `npm run build` first');
  process.exit(1);
}
if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: apt-get install wrk');
  process.exit(1);
}

const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-'));
const server = spawn(
  process.execPath,
  [
    path.join(root, 'bin/infra.mjs'),
    'server',
    '--state-dir',
    stateDir,
    '--addr-https',
    '127.0.0.1:0',
    '--addr-metrics',
    '',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  server.on('exit', () => reject(new Error(`server exited: ${out}`)));
});

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
for (const p of ['/healthz', '/api/version']) {
  // Warm up, then measure. wrk and the server share the machine's cores.
  spawnSync('wrk', ['-t1', `-c${connections}`, '-d2s', `${url}${p}`]);
  const run = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `${url}${p}`],
    {
      encoding: 'utf8',
    },
  );
  console.log(`\n== GET ${p} (${connections} connections, ${seconds}s, HTTPS keep-alive)`);
  console.log(run.stdout.trim());
}
server.kill('SIGTERM');
rmSync(stateDir, { recursive: true, force: true });
