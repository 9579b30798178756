import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/client.js';
import { TestClock } from '../../test/clock.js';
import { kubectl, startCluster, userWorkstation, type Cluster } from '../../test/cluster.js';
import { engines } from '../../test/engines.js';
import { startTestIdp, type TestIdp } from '../../test/oidc-provider.js';
import { rawRequest } from '../../test/http.js';
import { dashboardLogin } from '../../test/provider-login.js';
import type { Workstation } from '../../test/cli.js';
import { tokenCacheFile } from '../cli/token-cache.js';

const PAST_SYNC_INTERVAL = 5 * 60_000 + 1000;

for (const engine of engines) {
  describe(`identity-provider changes reach kubectl through the connector [${engine}]`, () => {
    const clock = new TestClock();
    let cluster: Cluster;
    let idp: TestIdp;
    let alice: ApiClient;
    let ws: Workstation;
    let providerId: string;

    before(async () => {
      cluster = await startCluster(engine, { clock, connectorOnTestClock: true });
      idp = await startTestIdp({ redirectUris: [`${cluster.server.url}/login/callback`] });
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
      const provider = await cluster.admin.createProvider({
        name: 'okta',
        kind: 'okta',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
      });
      providerId = provider.id;
      const session = await (
        await dashboardLogin(cluster.server, idp, provider.id, 'alice')
      ).login();
      alice = cluster.server.client({ accessKey: session.accessKey });
      // Access comes only from the group the provider reports.
      const devs = (await cluster.admin.listGroups({ name: 'devs' })).items[0]!;
      await cluster.admin.createGrant({ group: devs.id, privilege: 'view', resource: 'prod' });
      ws = await userWorkstation(cluster, session.accessKey);
      assert.equal((await ws.run('use', 'prod')).code, 0);
      await cluster.connectorCaughtUp();
    });
    after(async () => {
      await cluster.close();
      await idp.close();
    });

    it('removing the user from the group upstream denies kubectl at the next sync', async () => {
      assert.equal((await kubectl(ws, ['get', 'pods'])).code, 0);
      idp.accounts.set('alice', { email: 'alice@example.com', groups: [] });
      clock.advance(PAST_SYNC_INTERVAL);
      assert.equal((await kubectl(ws, ['get', 'pods'])).code, 0, 'not synced yet');
      // Any token minted for alice syncs her; her kubectl token is still cached.
      await assert.rejects(alice.createToken({ destination: 'prod' }), /no grant on destination/);
      await cluster.connectorCaughtUp();
      const denied = await kubectl(ws, ['get', 'pods']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /Forbidden.*you have no access to prod/);
    });

    it('a user disabled upstream loses every session, and kubectl is refused', async () => {
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
      clock.advance(PAST_SYNC_INTERVAL);
      await alice.createToken({ destination: 'prod' });
      await cluster.connectorCaughtUp();
      // The test clock moved ten minutes: the cached token has expired for the connector, but
      // the plugin (on the real clock) would still offer it. Drop it, as time would.
      rmSync(tokenCacheFile(path.join(ws.home, '.infra')), { force: true });
      const allowed = await kubectl(ws, ['get', 'pods']);
      assert.equal(allowed.code, 0, allowed.stderr);

      idp.accounts.delete('alice');
      clock.advance(PAST_SYNC_INTERVAL);
      await assert.rejects(alice.createToken({ destination: 'prod' }), /unauthenticated/);
      await cluster.connectorCaughtUp();
      const refused = await kubectl(ws, ['get', 'pods']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /must be logged in|Unauthorized|infra login/);
    });

    it('a user deactivated through SCIM loses every session, and kubectl is refused', async () => {
      const { accessKey: token } = await cluster.admin.createScimKey({ id: providerId });
      const scim = (method: string, path: string, body: unknown) =>
        rawRequest(`${cluster.server.url}/api/scim/v2${path}`, {
          method,
          ca: cluster.server.ca,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify(body),
        });
      const bob = (await scim('POST', '/Users', { userName: 'Bob@example.com' })).json<{
        id: string;
      }>().id;
      const group = await scim('POST', '/Groups', {
        displayName: 'scim-viewers',
        members: [{ value: bob }],
      });
      assert.equal(group.status, 201, group.body);
      const groupId = group.json<{ id: string }>().id;
      await cluster.admin.createGrant({ group: groupId, privilege: 'view', resource: 'prod' });
      idp.accounts.set('bob', { email: 'bob@example.com', groups: [] });
      const session = await (await dashboardLogin(cluster.server, idp, providerId, 'bob')).login();
      const bobWs = await userWorkstation(cluster, session.accessKey);
      assert.equal((await bobWs.run('use', 'prod')).code, 0);
      await cluster.connectorCaughtUp();
      const allowed = await kubectl(bobWs, ['get', 'pods']);
      assert.equal(allowed.code, 0, allowed.stderr);

      // Okta's deactivation: replace, no path.
      const off = await scim('PATCH', `/Users/${bob}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', value: { active: false } }],
      });
      assert.equal(off.status, 200, off.body);
      await cluster.connectorCaughtUp();
      const refused = await kubectl(bobWs, ['get', 'pods']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /must be logged in|Unauthorized|infra login/);
    });
  });
}
