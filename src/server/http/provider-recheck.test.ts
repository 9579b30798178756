import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { engines } from '../../../test/engines.js';
import { startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { dashboardLogin } from '../../../test/provider-login.js';
import type { TestServer } from '../../../test/server.js';

const DEADLINE_MS = 20_000;

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;

for (const engine of engines) {
  describe(`re-checking provider users in the background [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let idp: TestIdp;
    let providerId: string;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, {
        settings: { providerSyncInterval: '500ms' },
      }));
      // A standard provider: offline_access gives a refresh token only with prompt=consent.
      idp = await startTestIdp({
        redirectUris: [`${server.url}/login/callback`],
        refreshTokens: 'spec',
      });
      for (const name of ['alice', 'bob', 'carol'])
        idp.accounts.set(name, { email: `${name}@example.com`, groups: ['devs'] });
      providerId = (
        await admin.createProvider({
          name: 'corp',
          kind: 'oidc',
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'groups', 'offline_access'],
        })
      ).id;
    });
    after(async () => {
      await server.close();
      await idp.close();
    });

    const groupsOf = async (userID: string) =>
      (await admin.listGroups({ userID })).items.map((g) => g.name);

    it('asks a standard provider for a refresh token with prompt=consent, and warns when none is held', async () => {
      const started = await server
        .client()
        .startProviderLogin({ id: providerId, redirectURL: `${server.url}/login/callback` });
      const params = new URL(started.authorizationURL).searchParams;
      assert.equal(params.get('prompt'), 'consent');
      assert.match(params.get('scope')!, /offline_access/);

      await (await dashboardLogin(server, idp, providerId, 'alice')).login();
      await (await dashboardLogin(server, idp, providerId, 'bob')).login();
      const held = await admin.getProvider({ id: providerId });
      assert.equal(held.linkedUsers, 2);
      assert.equal(held.usersWithoutRefreshToken, 0);

      // Without offline_access the provider issues none: the details say so, and the log.
      const scopes = ['openid', 'email', 'groups'];
      await admin.updateProvider({ ...providerFields(held), id: providerId, scopes });
      await (await dashboardLogin(server, idp, providerId, 'carol')).login();
      const missing = await admin.getProvider({ id: providerId });
      assert.equal(missing.linkedUsers, 3);
      assert.equal(missing.usersWithoutRefreshToken, 1);
      assert.match(server.logs.text, /the provider issued no refresh token/);
      await admin.updateProvider({
        ...providerFields(held),
        id: providerId,
        scopes: [...scopes, 'offline_access'],
      });
    });

    // The back-off is the server's own state, the same on either engine.
    if (engine === 'sqlite')
      it('backs off a provider that does not answer, logging once, and resumes when it does', async () => {
        const alice = (await admin.listUsers({ name: 'alice@example.com' })).items[0]!;
        // Take the provider down: a server on its port answers every request with a 503.
        const port = Number(new URL(idp.issuer).port);
        await idp.stop();
        let requests = 0;
        const down: Server = createServer((_req, res) => {
          requests++;
          res.writeHead(503).end();
        });
        await new Promise<void>((resolve) => down.listen(port, '127.0.0.1', resolve));
        const failing = /identity provider corp is failing/;
        try {
          await until(() => failing.test(server.logs.text), 'the provider to be found down');
          const first = requests;
          // Without a back-off, the two users with refresh tokens would be asked twice a second;
          // with it, only probes go out (0.5 s, then 1 s, then 2 s after the first failure).
          await new Promise((resolve) => setTimeout(resolve, 2000));
          assert.ok(
            requests - first <= 3,
            `${requests - first} requests in 2 s after the first failure`,
          );
          assert.equal(count(server.logs.text, failing), 1);
          assert.doesNotMatch(server.logs.text, /could not sync a user/);
        } finally {
          down.closeAllConnections();
          await new Promise<void>((resolve) => down.close(() => resolve()));
          await idp.start();
        }
        idp.accounts.set('alice', { email: 'alice@example.com', groups: [] });
        await until(
          async () => (await groupsOf(alice.id)).length === 0,
          'the group removal to be synced after the provider came back',
        );
        assert.equal(count(server.logs.text, /identity provider corp works again/), 1);
      });
  });
}

/** The settings of a provider's details, as an update takes them. */
function providerFields(p: {
  name: string;
  kind: 'okta' | 'azure' | 'google' | 'oidc';
  url: string;
  clientID: string;
}) {
  return { name: p.name, kind: p.kind, url: p.url, clientID: p.clientID };
}
