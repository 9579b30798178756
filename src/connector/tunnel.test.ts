import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  kubectl,
  kubectlStream,
  startCluster,
  userWorkstation,
  CONNECTOR_SA,
  type Cluster,
} from '../../test/cluster.js';
import { engines } from '../../test/engines.js';
import { createSignedInUser, type SignedIn } from '../../test/identity.js';
import type { Workstation } from '../../test/cli.js';
import { kubePath, tunnelPath } from '../shared/tunnel.js';
import { talk } from '../../test/http.js';
import { TUNNEL_ONLY, rawRequest, until } from '../../test/tunnel.js';

for (const engine of engines) {
  describe(`kubectl through the outbound tunnel [${engine}]`, () => {
    let cluster: Cluster;
    let alice: SignedIn;
    let ws: Workstation;

    before(async () => {
      cluster = await startCluster(engine, { connectorSettings: TUNNEL_ONLY });
      const { admin, server } = cluster;
      alice = await createSignedInUser(server, admin, 'alice@example.com');
      await until('the tunnel is open', () => cluster.connector.tunnels().length > 0);
      ws = await userWorkstation(
        cluster,
        (await alice.client.createAccessKey({ expiry: '24h' })).accessKey,
      );
    });
    after(() => cluster?.close());

    it('registers in tunnel mode: kubectl is given the server, and the API shows the tunnel', async () => {
      assert.equal(cluster.connector.url, '', 'no inbound listener');
      const [prod] = (await cluster.admin.listDestinations({ name: 'prod' })).items;
      assert.ok(prod);
      assert.equal(prod.connection.mode, 'tunnel');
      assert.equal(prod.connection.url, `${cluster.server.url}${kubePath('prod')}`);
      assert.equal(prod.connection.ca, '');
      assert.equal(prod.tunnel.connected, true);
      assert.deepEqual(prod.tunnel.replicas, cluster.connector.tunnels());
      assert.ok(prod.tunnel.since);
      await cluster.admin.createGrant({ user: alice.id, privilege: 'connect', resource: 'prod' });
      const listed = await ws.run('destinations', 'list');
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(
        listed.stdout,
        /\nprod\s+kubernetes\s+tunnel\s+https:\/\/127\.0\.0\.1:\d+\/api\/destinations\/prod\/kube\s+tunnel to 1 replica\s/,
      );
    });

    it('gets, watches, follows logs and execs through the tunnel, as the user', async () => {
      await cluster.admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod' });
      await cluster.connectorCaughtUp();
      assert.equal((await ws.run('use', 'prod')).code, 0);
      const got = await kubectl(ws, ['get', 'pods', '-A']);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /app-1[\s\S]*web-1|web-1[\s\S]*app-1/);
      const seen = cluster.kube.requests.filter((r) => r.impersonation.user === alice.name);
      assert.ok(seen.length > 0);
      for (const r of seen) assert.equal(r.authenticatedAs, CONNECTOR_SA);
      // The audit event names kubectl's address (the server tells it through the tunnel).
      await until('the connector audits the list', async () =>
        (await cluster.admin.listKubeEvents({ user: alice.id, verb: 'list' })).items.some(
          (e) => e.objectRef?.resource === 'pods',
        ),
      );
      const [listed] = (await cluster.admin.listKubeEvents({ user: alice.id, verb: 'list' })).items;
      assert.deepEqual(listed?.sourceIPs, ['127.0.0.1']);

      const watch = kubectlStream(ws, ['get', 'pods', '-n', 'default', '--watch']);
      await until('the watch lists app-1', () => /app-1/.test(watch.output()));
      cluster.kube.addPod('default', 'app-2');
      await until('the watch streams app-2', () => /app-2/.test(watch.output()));

      const logs = kubectlStream(ws, ['logs', '-f', 'app-1']);
      await cluster.kube.waitForRequest((r) => /\/log\?.*follow=true/.test(r.url));
      cluster.kube.appendLog('default', 'app-1', 'line through the tunnel');
      await until('logs -f streams the line', () => /line through the tunnel/.test(logs.output()));

      const exec = await kubectl(ws, ['exec', 'app-1', '--', 'id']);
      assert.equal(exec.code, 0, exec.stderr);
      assert.match(exec.stdout, /alice@example.com/);

      // Cancelling kubectl ends the streams at the apiserver too.
      const streams = cluster.kube.requests.filter(
        (r) => r.impersonation.user === alice.name && /watch=true|follow=true/.test(r.url),
      );
      assert.equal(streams.length, 2);
      watch.child.kill('SIGINT');
      logs.child.kill('SIGINT');
      await watch.exited;
      await logs.exited;
      await Promise.all(streams.map((r) => r.finished));
    });

    it('port-forwards through the tunnel, over SPDY and over SPDY in a websocket', async () => {
      await cluster.admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod' });
      await cluster.connectorCaughtUp();
      assert.equal((await ws.run('use', 'prod')).code, 0);
      const ways: Array<Record<string, string>> = [{}, { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' }];
      for (const env of ways) {
        const forward = kubectlStream(ws, ['port-forward', 'pod/app-1', ':5432'], env);
        try {
          await until('kubectl listens', () =>
            /Forwarding from 127\.0\.0\.1:\d+/.test(forward.output()),
          );
          const port = Number(/127\.0\.0\.1:(\d+)/.exec(forward.output())![1]);
          assert.equal(
            await talk(port, 'ping\n', /ping\n$/),
            `fake port-forward to default/app-1:5432 as ${alice.name}\nping\n`,
          );
        } finally {
          forward.child.kill('SIGINT');
          await forward.exited;
        }
      }
      assert.equal(
        cluster.kube.forwards.filter((f) => f.user.username === alice.name).length,
        2,
        'one connection each way, impersonating alice',
      );
    });

    it('carries large answers and many requests at once', async () => {
      for (let i = 0; i < 1500; i++) cluster.kube.addPod('web', `bulk-${i}`);
      const { token } = await alice.client.createToken({ destination: 'prod' });
      const get = () =>
        rawRequest(cluster, `${kubePath('prod')}/api/v1/namespaces/web/pods`, {
          authorization: `Bearer ${token}`,
        });
      const one = await get();
      assert.equal(one.status, 200, one.body.slice(0, 300));
      assert.ok(one.body.length > 500_000, `${one.body.length} bytes`);
      assert.equal((JSON.parse(one.body) as { items: unknown[] }).items.length, 1501);
      const many = await Promise.all(Array.from({ length: 40 }, get));
      for (const res of many) {
        assert.equal(res.status, 200);
        assert.equal(res.body.length, one.body.length);
      }
    });

    it('ends streams through the tunnel the moment access goes, and refuses after', async () => {
      const [grant] = (
        await cluster.admin.listGrants({ user: alice.id, resource: 'prod', privilege: 'edit' })
      ).items;
      const watch = kubectlStream(ws, ['get', 'pods', '-n', 'default', '--watch']);
      await until('the watch lists app-1', () => /app-1/.test(watch.output()));
      const before = new Set(cluster.kube.requests);
      const exec = kubectlStream(ws, ['exec', '-i', 'app-1', '--', 'cat']);
      await cluster.kube.waitForRequest(
        (r) => !before.has(r) && /\/exec\?/.test(r.url) && r.status === 101,
      );
      await cluster.admin.deleteGrant({ id: grant!.id });
      assert.notEqual(await watch.exited, null);
      assert.notEqual(await exec.exited, null);
      await cluster.connectorCaughtUp();
      const denied = await kubectl(ws, ['get', 'pods']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /forbidden|no grant|access/i);
    });

    it('refuses strangers at the server: no token, a token for another destination, garbage', async () => {
      await cluster.admin.createGrant({ user: alice.id, privilege: 'connect', resource: 'prod' });
      await cluster.connectorCaughtUp();
      const token = (await alice.client.createToken({ destination: 'prod' })).token;
      const cases: Array<[Record<string, string>, number]> = [
        [{}, 401],
        [{ authorization: 'Bearer not-a-token' }, 401],
        [{ authorization: `Bearer ${token}x` }, 401],
      ];
      for (const [headers, status] of cases) {
        const res = await rawRequest(cluster, `${kubePath('prod')}/api/v1/pods`, headers);
        assert.equal(res.status, status, res.body);
        assert.equal(JSON.parse(res.body).kind, 'Status');
      }
      // A valid token for prod does not open another destination's path.
      const other = await rawRequest(cluster, `${kubePath('staging')}/api/v1/pods`, {
        authorization: `Bearer ${token}`,
      });
      assert.equal(other.status, 401);
      // With a valid token the request reaches the cluster, which decides (connect only: no pods).
      const reached = await rawRequest(cluster, `${kubePath('prod')}/api/v1/pods`, {
        authorization: `Bearer ${token}`,
      });
      assert.equal(reached.status, 403, reached.body);
    });

    it('lets only the connector key of the destination open its tunnel', async () => {
      const upgrade = { connection: 'Upgrade', upgrade: 'infra-tunnel/1' };
      const none = await rawRequest(cluster, tunnelPath('prod'), upgrade);
      assert.equal(none.status, 401);
      // An admin's key is not a connector key.
      const adminKey = (await cluster.admin.createAccessKey({ expiry: '1h' })).accessKey;
      const byAdmin = await rawRequest(cluster, tunnelPath('prod'), {
        ...upgrade,
        authorization: `Bearer ${adminKey}`,
      });
      assert.equal(byAdmin.status, 403, byAdmin.body);
      // Another connector key, bound to another destination, cannot take prod's traffic.
      const connectorUser = (await cluster.admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      const stagingKey = (
        await cluster.admin.createAccessKey({
          userID: connectorUser.id,
          name: 'staging-connector',
          expiry: '1h',
          destination: 'staging',
        })
      ).accessKey;
      const hijack = await rawRequest(cluster, tunnelPath('prod'), {
        ...upgrade,
        authorization: `Bearer ${stagingKey}`,
      });
      assert.equal(hijack.status, 403, hijack.body);
      assert.match(JSON.parse(hijack.body).message, /for destination staging, not prod/);
      // An unbound connector key cannot either.
      const unbound = (
        await cluster.admin.createAccessKey({
          userID: connectorUser.id,
          name: 'spare-connector',
          expiry: '1h',
        })
      ).accessKey;
      const spare = await rawRequest(cluster, tunnelPath('prod'), {
        ...upgrade,
        authorization: `Bearer ${unbound}`,
      });
      assert.equal(spare.status, 403, spare.body);
      // Its own key, asking for another protocol: refused, and nothing is upgraded elsewhere.
      const ownKey = readFileSync(cluster.connectorKeyFile, 'utf8').trim();
      const wrongProtocol = await rawRequest(cluster, tunnelPath('prod'), {
        connection: 'Upgrade',
        upgrade: 'websocket',
        authorization: `Bearer ${ownKey}`,
      });
      assert.equal(wrongProtocol.status, 400, wrongProtocol.body);
      const elsewhere = await rawRequest(cluster, '/api/users', {
        ...upgrade,
        authorization: `Bearer ${adminKey}`,
      });
      assert.equal(elsewhere.status, 400, elsewhere.body);
      assert.equal(JSON.parse(elsewhere.body).code, 'bad_request');
      const [prod] = (await cluster.admin.listDestinations({ name: 'prod' })).items;
      assert.deepEqual(prod!.tunnel.replicas, cluster.connector.tunnels());
    });
  });
}
