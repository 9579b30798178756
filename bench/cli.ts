/**
 * Start-up cost of the kubectl credential plugin (`infra tokens`, what the kubeconfig Infra
 * writes runs: bin/infra.cjs handing over to dist/tokens.cjs) with a cached token, against a bare
 * `node -e ''`; and the plugin bundle run directly, as kubeconfig entries of earlier versions do. It runs as kubectl runs it:
 * with `KUBERNETES_EXEC_INFO` naming the cluster, which the plugin checks against
 * `~/.infra/config`. Built binary required (`npm run build`).
 *
 *   npx tsx bench/cli.ts [runs=40]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { machine, percentiles, requireBuildAndWrk, root } from './lib.js';

const runs = Number(process.argv[2] ?? 40);
requireBuildAndWrk();
const home = mkdtempSync(path.join(tmpdir(), 'infra-bench-cli-'));
mkdirSync(path.join(home, '.infra'));
const server = 'https://infra.example.com:4443';
// A certificate's worth of PEM, as a connector's CA is.
const ca = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64 * 10)}\n-----END CERTIFICATE-----\n`;
const prod = { url: 'https://prod.example.com:9443', ca };
writeFileSync(
  path.join(home, '.infra', 'config'),
  JSON.stringify({ version: 1, servers: [{ url: server, current: true, destinations: { prod } }] }),
);
const execInfo = JSON.stringify({
  kind: 'ExecCredential',
  apiVersion: 'client.authentication.k8s.io/v1',
  spec: {
    cluster: {
      server: prod.url,
      'certificate-authority-data': Buffer.from(ca).toString('base64'),
      config: null,
    },
    interactive: false,
  },
});
writeFileSync(
  path.join(home, '.infra', 'tokens.json'),
  JSON.stringify({
    [`${server}#prod`]: { token: 'x.y.z', expires: new Date(Date.now() + 3_600_000).toISOString() },
  }),
);

/** Milliseconds per run of each command, the commands taking turns (load hits all alike). */
function time(series: string[][]): number[][] {
  const ms = series.map((): number[] => []);
  for (let i = 0; i < runs + 3; i++) {
    for (const [k, args] of series.entries()) {
      const t = performance.now();
      const r = spawnSync(process.execPath, args, {
        env: { HOME: home, PATH: process.env.PATH, KUBERNETES_EXEC_INFO: execInfo },
      });
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.toString()}`);
      // Three warm-up rounds.
      if (i >= 3) ms[k]!.push(performance.now() - t);
    }
  }
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`machine: ${machine()}`);
const [bare, tokens, direct] = time([
  ['-e', ''],
  [path.join(root, 'bin', 'infra.cjs'), 'tokens', '--server', server, 'prod'],
  [path.join(root, 'dist', 'tokens.cjs'), '--server', server, 'prod'],
]) as [number[], number[], number[]];
console.log(`\n== node -e ''\n${percentiles(bare)}`);
console.log(`== infra tokens (cached token)\n${percentiles(tokens)}`);
console.log(`ratio of medians: ${(median(tokens) / median(bare)).toFixed(2)}x`);
console.log(`== node dist/tokens.cjs (cached token)\n${percentiles(direct)}`);
console.log(`ratio of medians: ${(median(direct) / median(bare)).toFixed(2)}x`);
