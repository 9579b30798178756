import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBalancer, type Balancer } from '../../test/balancer.js';
import { workstation, type Workstation } from '../../test/cli.js';
import { kubectl, startConnectedKube, type ConnectedKube } from '../../test/cluster.js';
import { startConnectProxy, type ConnectProxy } from '../../test/connect-proxy.js';
import { createSignedInUser, startAdminServer } from '../../test/identity.js';
import { rawRequest } from '../../test/http.js';
import { createTestDatabase } from '../../test/postgres.js';
import { startServerProcess, type ServerProcess } from '../../test/server-process.js';
import type { ApiClient } from '../api/client.js';
import { kubePath } from '../shared/tunnel.js';
import { TUNNEL_ONLY, until } from '../../test/tunnel.js';

async function signedInWorkstation(url: string, fingerprint: string, key: string) {
  const ws = workstation();
  const res = await ws.run(
    'login',
    new URL(url).host,
    '--tls-trusted-fingerprint',
    fingerprint,
    '--key',
    key,
  );
  if (res.code !== 0) throw new Error(`login failed: ${res.stderr}`);
  return ws;
}

describe('tunnels behind a load balancer, two server replicas [postgres]', () => {
  let db: { url: string; drop(): Promise<void> };
  let replicas: ServerProcess[] = [];
  let balancer: Balancer;
  let admin: ApiClient;
  let kube: ConnectedKube;
  let ws: Workstation;
  let alice: ApiClient;

  before(async () => {
    db = await createTestDatabase();
    const config = `db:\n  connectionString: ${db.url}\n`;
    const first = await startServerProcess({ config });
    const second = await startServerProcess({ config, stateDir: first.stateDir });
    replicas = [first, second];
    balancer = await startBalancer(replicas.map((r) => Number(new URL(r.url).port)));
    admin = first.client(await first.adminKey());
    const fingerprint = /fingerprint ([0-9A-F:]+)/.exec(first.output())![1]!;
    kube = await startConnectedKube({
      admin,
      serverUrl: balancer.url,
      serverTrust: { 'server.trustedFingerprint': fingerprint },
      connectorSettings: TUNNEL_ONLY,
    });
    const user = await admin.createUser({ name: 'alice@example.com' });
    await admin.createGrant({ user: user.id, privilege: 'view', resource: 'prod' });
    const key = (await admin.createAccessKey({ userID: user.id, expiry: '1h' })).accessKey;
    alice = replicas[0]!.client(key);
    ws = await signedInWorkstation(balancer.url, fingerprint, key);
    assert.equal((await ws.run('use', 'prod')).code, 0);
  });
  after(async () => {
    await kube?.close();
    await balancer?.close();
    for (const r of replicas) await r.kill('SIGKILL');
    await db?.drop();
  });

  it('holds a tunnel to each replica, so kubectl works whichever replica it lands on', async () => {
    await until('a tunnel to both replicas', () => kube.connector.tunnels().length === 2);
    const [prod] = (await admin.listDestinations({ name: 'prod' })).items;
    assert.deepEqual([...prod!.tunnel.replicas].sort(), [...kube.connector.tunnels()].sort());
    for (let i = 0; i < 6; i++) {
      const res = await kubectl(ws, ['get', 'pods', '-A']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /app-1/);
    }
    // Each replica relays through its own tunnel, whichever the balancer picks.
    const { token } = await alice.createToken({ destination: 'prod' });
    for (const r of replicas) {
      const res = await rawRequest(`${r.url}${kubePath('prod')}/api/v1/pods`, {
        ca: r.ca,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200, res.body);
      assert.match(res.body, /app-1/);
    }
  });

  it('moves to the other replica when one is killed, with no manual step', async () => {
    await until('a tunnel to both replicas', () => kube.connector.tunnels().length === 2);
    await replicas[1]!.kill('SIGKILL');
    // Every request after the kill lands on the survivor, which holds its own tunnel.
    for (let i = 0; i < 4; i++) {
      const res = await kubectl(ws, ['get', 'pods', '-A']);
      assert.equal(res.code, 0, res.stderr);
    }
    await until('the dead replica is no longer held', () => kube.connector.tunnels().length === 1);
    const survivor = replicas[0]!.client(await replicas[0]!.adminKey());
    await until('the API shows one replica', async () => {
      const [prod] = (await survivor.listDestinations({ name: 'prod' })).items;
      return prod!.tunnel.replicas.length === 1;
    });
  });
});

describe('the tunnel through an HTTPS proxy', () => {
  let proxy: ConnectProxy;
  let stop: () => Promise<void>;

  before(async () => {
    proxy = await startConnectProxy({ user: 'egress', password: 'p@ss' });
  });
  after(async () => {
    await stop?.();
  });

  it('dials out through HTTPS_PROXY (CONNECT, with credentials) for the feed and the tunnel', async () => {
    const { server, admin } = await startAdminServer('sqlite');
    const url = new URL(proxy.url);
    const kube = await startConnectedKube({
      admin,
      serverUrl: server.url,
      serverTrust: { 'server.trustedCertificate': server.ca },
      connectorSettings: TUNNEL_ONLY,
      connectorEnv: { HTTPS_PROXY: `http://egress:p%40ss@${url.host}` },
    });
    // The proxy goes before the server: a connection through it kept the server's close waiting.
    stop = async () => {
      await kube.close();
      await proxy.close();
      await server.close();
    };
    await until('the tunnel is open', () => kube.connector.tunnels().length === 1);
    const target = new URL(server.url).host;
    assert.ok(proxy.targets.length >= 2, 'the feed and the tunnel went through the proxy');
    assert.ok(proxy.targets.every((t) => t === target));
    const alice = await createSignedInUser(server, admin, 'alice@example.com');
    await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
    await kube.connectorCaughtUp();
    const ws = await signedInWorkstation(
      server.url,
      server.running.fingerprint,
      (await alice.client.createAccessKey({ expiry: '1h' })).accessKey,
    );
    assert.equal((await ws.run('use', 'prod')).code, 0);
    const res = await kubectl(ws, ['get', 'pods', '-A']);
    assert.equal(res.code, 0, res.stderr);
  });
});
