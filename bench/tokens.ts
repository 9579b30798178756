/**
 * Destination tokens and the access feed, against the built server (`npm run build` first).
 *
 *   npx tsx bench/tokens.ts [seconds=10] [changes=200]
 *
 * Prints: token minting (POST /api/tokens, ES512) requests/s with wrk; and the feed's wake-up
 * latency: from a grant change committed (its API call answered) to the waiting feed request
 * answered, over `changes` changes, on SQLite, and on PostgreSQL across two server replicas
 * (the change made on one, the feed waiting on the other).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'node:https';
import { createApiClient, type ApiClient } from '../src/api/client.js';
import { createTestDatabase } from '../test/postgres.js';
import { machine, percentiles, requireBuildAndWrk, startBuiltServer, wrk } from './lib.js';

const seconds = Number(process.argv[2] ?? 10);
const changes = Number(process.argv[3] ?? 200);
requireBuildAndWrk();
console.log(`machine: ${machine()}`);

const password = 'bench-admin-password';
function configFile(dir: string): string {
  const file = path.join(dir, 'infra.yaml');
  writeFileSync(
    file,
    `users:\n  - name: admin@bench.example.com\n    password: plaintext:${password}\n    infraRole: admin\n`,
  );
  return file;
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

function getFeed(
  url: string,
  key: string,
  query: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/api/feed?${query}`);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${key}` },
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

/** Measures change → feed answer, `n` times; the change goes through `writer`, the feed waits on `reader`. */
async function wakeUps(
  writer: ApiClient,
  readerUrl: string,
  readerKey: string,
  n: number,
): Promise<number[]> {
  const user = await writer.createUser({ name: `wake-${Date.now()}@bench.example.com` });
  let index = JSON.parse((await getFeed(readerUrl, readerKey, 'destination=bench')).body)
    .updateIndex as number;
  const timings: number[] = [];
  for (let i = 0; i < n; i++) {
    const waiting = getFeed(
      readerUrl,
      readerKey,
      `destination=bench&lastUpdateIndex=${index}&wait=30s`,
    );
    await new Promise((r) => setTimeout(r, 20));
    await writer.createGrant({ user: user.id, privilege: `role-${i}`, resource: 'bench' });
    const committed = performance.now();
    const res = await waiting;
    timings.push(performance.now() - committed);
    if (res.status !== 200) throw new Error(`feed answered ${res.status}`);
    index = JSON.parse(res.body).updateIndex as number;
  }
  return timings;
}

// SQLite: token minting and wake-ups on one server.
{
  const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-tokens-'));
  const server = await startBuiltServer(['-f', configFile(stateDir), '--state-dir', stateDir]);
  const { admin, key } = await signIn(server.url);
  const self = await admin.getUser({ id: 'self' });
  await admin.createGrant({ user: self.id, privilege: 'view', resource: 'bench' });
  console.log(`\n== POST /api/tokens (ES512 signing), SQLite, 8 connections, ${seconds}s`);
  console.log(
    await wrk(`${server.url}/api/tokens`, {
      seconds,
      connections: 8,
      headers: [`Authorization: Bearer ${key}`],
      body: JSON.stringify({ destination: 'bench' }),
    }),
  );
  const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
  const connectorKey = (
    await admin.createAccessKey({ userID: connector.id, expiry: '1h', destination: 'bench' })
  ).accessKey;
  console.log(`\n== feed wake-up after a grant change, SQLite, one server`);
  console.log(percentiles(await wakeUps(admin, server.url, connectorKey, changes)));
  await server.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

// PostgreSQL: the change on one replica, the feed waiting on another.
{
  const database = await createTestDatabase();
  const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-bench-tokens-pg-'));
  const args = [
    '-f',
    configFile(stateDir),
    '--state-dir',
    stateDir,
    '--db-connection-string',
    database.url,
  ];
  const first = await startBuiltServer(args);
  const second = await startBuiltServer(args);
  const { admin } = await signIn(first.url);
  const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
  const connectorKey = (
    await admin.createAccessKey({ userID: connector.id, expiry: '1h', destination: 'bench' })
  ).accessKey;
  console.log(
    `\n== feed wake-up after a grant change, PostgreSQL, change on replica 1, feed on replica 2`,
  );
  console.log(percentiles(await wakeUps(admin, second.url, connectorKey, changes)));
  await first.stop();
  await second.stop();
  await database.drop();
  rmSync(stateDir, { recursive: true, force: true });
}
process.exit(0);
