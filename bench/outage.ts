/**
 * Revocation right after an outage of the server: the server process is killed, stays away,
 * and is started again on the same port and state; a grant is deleted the moment it listens.
 * Measures the time from the server listening again to the connector refusing the grant's
 * holder, and from the deletion (the API answered) to the refusal.
 *
 *   npm run build && npx tsx bench/outage.ts [outageSeconds=30] [rounds=5]
 */
import { existsSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startConnectedKube } from '../test/cluster.js';
import { freePort } from '../test/pebble.js';
import { startServerProcess, type ServerProcess } from '../test/server-process.js';
import { machine, percentiles, root } from './lib.js';

if (!existsSync(path.join(root, 'dist/infra.mjs'))) {
  console.error('run `npm run build` first');
  process.exit(1);
}
const outageSeconds = Number(process.argv[2] ?? 30);
const rounds = Number(process.argv[3] ?? 5);
console.log(`machine: ${machine()}`);

const port = await freePort();
const start = (stateDir?: string) =>
  startServerProcess({ stateDir, args: ['--addr-https', `127.0.0.1:${port}`] });
let server: ServerProcess = await start();
const adminKey = await server.adminKey();
const admin = () => server.client(adminKey);
const cluster = await startConnectedKube({
  admin: admin(),
  serverUrl: server.url,
  serverTrust: { 'server.trustedCertificate': server.ca },
});
const user = await admin().createUser({ name: 'bench@example.com' });
const userKey = (await admin().createAccessKey({ userID: user.id, expiry: '24h' })).accessKey;

function status(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.connector.url}/api/v1/namespaces/default/pods`,
      { ca: cluster.connectorCa, headers: { authorization: `Bearer ${token}` }, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const fromListening: number[] = [];
const fromRevocation: number[] = [];
for (let round = 1; round <= rounds; round++) {
  const grant = await admin().createGrant({ user: user.id, privilege: 'view', resource: 'prod' });
  const token = (await server.client(userKey).createToken({ destination: 'prod' })).token;
  await cluster.connectorCaughtUp();
  if ((await status(token)) !== 200) throw new Error('the grant does not work before the outage');

  const stateDir = server.stateDir;
  await server.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, outageSeconds * 1000));
  server = await start(stateDir);
  const listening = performance.now();
  await admin().deleteGrant({ id: grant.id });
  const revoked = performance.now();
  while ((await status(token)) === 200) {
    if (performance.now() - listening > 120_000) throw new Error('never refused');
    await new Promise((r) => setTimeout(r, 5));
  }
  const refused = performance.now();
  fromListening.push(refused - listening);
  fromRevocation.push(refused - revoked);
  console.log(
    `round ${round}: refused ${(refused - listening).toFixed(0)} ms after the server listened again (${(refused - revoked).toFixed(0)} ms after the grant was deleted)`,
  );
}
console.log(`\n== after a ${outageSeconds} s outage: server listening again → holder refused`);
console.log(percentiles(fromListening));
console.log(`== grant deleted (API answered) → holder refused`);
console.log(percentiles(fromRevocation));

await cluster.close();
await server.kill();
