import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl, startCluster, userWorkstation, type Cluster } from '../../test/cluster.js';
import { engines } from '../../test/engines.js';
import { startTestIdp, type TestIdp } from '../../test/oidc-provider.js';
import { dashboardLogin } from '../../test/provider-login.js';
import type { Workstation } from '../../test/cli.js';

/** Short, so the test runs in seconds; the promise is interval + 1 s, waited for generously. */
const SYNC_INTERVAL = '1s';
const DEADLINE_MS = 20_000;

/** Runs kubectl until `done` says its result is the one expected, or the deadline passes. */
async function kubectlUntil(
  ws: Workstation,
  done: (r: Awaited<ReturnType<typeof kubectl>>) => boolean,
  what: string,
) {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const r = await kubectl(ws, ['get', 'pods']);
    if (done(r)) return r;
    if (Date.now() > deadline) assert.fail(`${what}: kubectl still says ${r.code} ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

for (const engine of engines) {
  describe(`users removed upstream who only run kubectl are refused [${engine}]`, () => {
    let cluster: Cluster;
    let idp: TestIdp;
    let ws: Workstation;

    before(async () => {
      cluster = await startCluster(engine, {
        serverSettings: { providerSyncInterval: SYNC_INTERVAL },
      });
      // A standard provider: a refresh token only for offline_access with prompt=consent.
      idp = await startTestIdp({
        redirectUris: [`${cluster.server.url}/login/callback`],
        refreshTokens: 'spec',
      });
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
      const provider = await cluster.admin.createProvider({
        name: 'corp',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
      });
      const session = await (
        await dashboardLogin(cluster.server, idp, provider.id, 'alice')
      ).login();
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

    it('a group removed upstream', async () => {
      const allowed = await kubectl(ws, ['get', 'pods']);
      assert.equal(allowed.code, 0, allowed.stderr);
      // From here on only kubectl runs, on the token it cached: nothing asks the API.
      idp.accounts.set('alice', { email: 'alice@example.com', groups: [] });
      const denied = await kubectlUntil(ws, (r) => r.code !== 0, 'after the group removal');
      assert.match(denied.stderr, /Forbidden.*you have no access to prod/);
    });

    it('an account disabled upstream', async () => {
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
      await kubectlUntil(ws, (r) => r.code === 0, 'after the group came back');
      idp.accounts.delete('alice');
      const refused = await kubectlUntil(
        ws,
        (r) => /must be logged in|Unauthorized/.test(r.stderr),
        'after the account was disabled',
      );
      assert.notEqual(refused.code, 0);
      assert.match(cluster.server.logs.text, /the identity provider refused the user/);
      const audit = await cluster.admin.listAudit({ action: 'offboardUser' });
      assert.equal(audit.items[0]?.target.name, 'alice@example.com');
    });
  });
}
