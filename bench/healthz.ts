/**
 * Requests per second of `GET /healthz` and `GET /api/version` over HTTPS (keep-alive), with
 * wrk as the load generator, against the built server (`npm run build` first). Prints wrk's
 * figures; record them in docs/benchmarks.md with the machine and date.
 *
 *   npx tsx bench/healthz.ts [seconds=10] [connections=32]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { machine, requireBuildAndWrk, startBuiltServer, wrk } from './lib.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);
requireBuildAndWrk();

const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-'));
const server = await startBuiltServer(['--state-dir', stateDir]);
console.log(`machine: ${machine()}`);
for (const p of ['/healthz', '/api/version']) {
  console.log(`\n== GET ${p} (${connections} connections, ${seconds}s, HTTPS keep-alive)`);
  console.log(await wrk(`${server.url}${p}`, { seconds, connections }));
}
await server.stop();
rmSync(stateDir, { recursive: true, force: true });
