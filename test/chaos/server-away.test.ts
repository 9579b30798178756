import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../src/api/client.js';
import { startConnectedKube, type ConnectedKube } from '../cluster.js';
import { rawRequest } from '../http.js';
import { freePort } from '../pebble.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';
import { pollFor as until } from '../poll.js';

// The Infra server goes away (killed) and comes back (started again on the same port and
// state). Connectors keep the last known access meanwhile; one with failClosedAfter refuses
// everyone instead, and serves again once the server answers. A revocation made as soon as the
// server is back is enforced within seconds: connectors probe for the server about every
// second, not with a back-off that has grown during the outage.

/**
 * Listens where the server was while it is away, with its certificate, and notes which
 * destinations' feeds the connectors ask for, and when; each request has its connection cut, as
 * a server going down would. (What the connectors try, seen from outside them.)
 */
async function standIn(port: number, stateDir: string) {
  const attempts: Array<{ destination: string | null; at: number }> = [];
  const tls = (name: string) => readFileSync(path.join(stateDir, 'tls', name), 'utf8');
  const server: Server = createServer(
    { key: tls('server.key'), cert: tls('server.crt') },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://stand-in');
      if (url.pathname === '/api/feed') {
        attempts.push({ destination: url.searchParams.get('destination'), at: Date.now() });
      }
      res.socket?.destroy();
    },
  );
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    attempts,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the server away and back', { timeout: 120_000 }, () => {
  let port: number;
  let server: ServerProcess;
  let adminKey: string;
  let admin: ApiClient;
  /** prod: keeps the last known access (the default). */
  let keeps: ConnectedKube;
  /** staging: failClosedAfter 1s. */
  let failsClosed: ConnectedKube;
  let away: Awaited<ReturnType<typeof standIn>> | undefined;
  let grantId: string;
  const tokens = { prod: '', staging: '' };

  const startServer = (stateDir?: string) =>
    startServerProcess({ stateDir, args: ['--addr-https', `127.0.0.1:${port}`] });
  /** A request of alice's straight to a connector (as kubectl would send it). */
  const listPods = (c: ConnectedKube, token: string) =>
    rawRequest(`${c.connector.url}/api/v1/namespaces/default/pods`, {
      ca: c.connectorCa,
      headers: { authorization: `Bearer ${token}` },
    });
  const logged = (c: ConnectedKube, pattern: RegExp) =>
    c.connectorLogs.lines.filter((l) => pattern.test((JSON.parse(l) as { msg: string }).msg));

  before(async () => {
    port = await freePort();
    server = await startServer();
    adminKey = await server.adminKey();
    admin = server.client(adminKey);
    const serverTrust = { 'server.trustedCertificate': server.ca };
    keeps = await startConnectedKube({ admin, serverUrl: server.url, serverTrust, name: 'prod' });
    failsClosed = await startConnectedKube({
      admin,
      serverUrl: server.url,
      serverTrust,
      name: 'staging',
      connectorSettings: { failClosedAfter: '1s' },
    });
    const alice = await admin.createUser({ name: 'alice@example.com' });
    grantId = (await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' })).id;
    await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'staging' });
    const asAlice = server.client(
      (await admin.createAccessKey({ userID: alice.id, expiry: '1h' })).accessKey,
    );
    tokens.prod = (await asAlice.createToken({ destination: 'prod' })).token;
    tokens.staging = (await asAlice.createToken({ destination: 'staging' })).token;
    await keeps.connectorCaughtUp();
    await failsClosed.connectorCaughtUp();
  });
  after(async () => {
    await away?.close();
    await keeps?.close();
    await failsClosed?.close();
    await server?.kill('SIGKILL');
  });

  it('keeps the last known access, or fails closed, while away; enforces a revocation made on its return within seconds', async () => {
    assert.equal((await listPods(keeps, tokens.prod)).status, 200);
    assert.equal((await listPods(failsClosed, tokens.staging)).status, 200);
    const kubectl = kubectlWithToken(failsClosed, tokens.staging);
    const before = await kubectl('get', 'pods');
    assert.equal(before.code, 0, before.stderr);

    const stateDir = server.stateDir;
    await server.kill('SIGKILL');
    const killedAt = Date.now();
    away = await standIn(port, stateDir);

    // The default: the last known access stands.
    const kept = await listPods(keeps, tokens.prod);
    assert.equal(kept.status, 200, kept.body);

    // failClosedAfter: 1s: refused, with a Status that says why, which kubectl prints.
    const refused = await until('failing closed', 10_000, async () => {
      const res = await listPods(failsClosed, tokens.staging);
      return res.status === 503 ? res : undefined;
    });
    assert.deepEqual(refused.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'the Infra connector for staging has not reached the Infra server for 1s and refuses every request until it does (failClosedAfter); try again later',
      reason: 'ServiceUnavailable',
      code: 503,
    });
    // (With its discovery cached; one that must rediscover prints only "the server is currently
    // unable to handle the request".)
    const during = await kubectl('get', 'pods');
    assert.notEqual(during.code, 0);
    assert.match(
      during.stderr,
      /Error from server \(ServiceUnavailable\): the Infra connector for staging has not reached the Infra server/,
    );
    const metrics = await rawRequest(
      `http://127.0.0.1:${failsClosed.connector.metricsPort}/metrics`,
    );
    assert.match(metrics.body, /^connector_failing_closed 1$/m);
    assert.match(metrics.body, /^connector_server_reachable 0$/m);

    // Away long enough that a back-off which grows (the old 2 s ×1.5, ±20%) has made its fourth
    // try (13 to 19.5 s in): its next would come at least 8 s later. The server returns right
    // after one of prod's connector's tries, as it may in life: a connector that waits long
    // between tries misses the limit below by seconds; one that probes every second does not.
    await until(
      'an attempt of the prod connector 12.5 s after the server went away',
      killedAt + 20_000 - Date.now(),
      async () => away!.attempts.find((a) => a.destination === 'prod' && a.at >= killedAt + 12_500),
    );
    assert.equal((await listPods(keeps, tokens.prod)).status, 200, 'still the last known access');
    await away.close();
    away = undefined;
    server = await startServer(stateDir);
    admin = server.client(adminKey);

    // Revoked as soon as the server is back: refused at the connector within seconds (the aim
    // is one; three leave room for a loaded machine).
    await admin.deleteGrant({ id: grantId });
    const denied = await until('the revocation enforced', 3000, async () => {
      const res = await listPods(keeps, tokens.prod);
      return res.status === 200 ? undefined : res;
    });
    assert.equal(denied.status, 403, denied.body);
    assert.match(denied.json<{ message: string }>().message, /you have no access to prod/);

    // failClosedAfter: serving again once the server answers.
    await until('serving again', 3000, async () =>
      (await listPods(failsClosed, tokens.staging)).status === 200 ? true : undefined,
    );

    // One warning for the outage, not one per attempt; one line when it ended, with its length.
    assert.equal(
      logged(keeps, /cannot reach the Infra server/).length,
      1,
      keeps.connectorLogs.text,
    );
    const [recovered] = logged(keeps, /answers again after/);
    assert.ok(recovered, keeps.connectorLogs.text);
    assert.ok((JSON.parse(recovered) as { outageSeconds: number }).outageSeconds >= 12.5);
  });
});

/**
 * The real kubectl, with a kubeconfig that sends `token` to the connector `c`, and a discovery
 * cache of its own that lasts across its runs (as a user's does).
 */
function kubectlWithToken(c: ConnectedKube, token: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-kubectl-'));
  const kubeconfig = path.join(dir, 'config');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          cluster: {
            server: c.connector.url,
            'certificate-authority-data': Buffer.from(c.connectorCa).toString('base64'),
          },
        },
      ],
      users: [{ name: 'u', user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return (...args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        'kubectl',
        [...args, '--cache-dir', path.join(dir, 'cache'), '--request-timeout', '15s'],
        { env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: kubeconfig }, timeout: 30_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
}
