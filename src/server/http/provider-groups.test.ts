import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { engines } from '../../../test/engines.js';
import {
  startFakeGoogle,
  startFakeGraph,
  type FakeGoogle,
  type FakeGraph,
} from '../../../test/fake-idp-apis.js';
import { startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { dashboardLogin } from '../../../test/provider-login.js';
import type { TestServer } from '../../../test/server.js';

for (const engine of engines) {
  describe(`groups from Microsoft Graph and the Google Directory API [${engine}]`, () => {
    let idp: TestIdp;
    let graph: FakeGraph;
    let google: FakeGoogle;
    let server: TestServer;
    let admin: ApiClient;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine));
      idp = await startTestIdp({ redirectUris: [`${server.url}/login/callback`] });
      graph = await startFakeGraph(`${idp.issuer}/me`);
      google = await startFakeGoogle();
      // The ID token's own groups claim must be ignored for these kinds.
      idp.accounts.set('ann', { email: 'ann@example.com', groups: ['from-the-claim'] });
    });
    after(async () => {
      await server.close();
      await Promise.all([idp.close(), graph.close(), google.close()]);
    });

    const logIn = async (providerId: string, account: string) =>
      (await dashboardLogin(server, idp, providerId, account)).login();

    const groupsOf = async (userID: string) =>
      (await admin.listGroups({ userID })).items.map((g) => g.name).sort();

    it('Azure AD: group names from memberOf, across pages, without directory roles', async () => {
      graph.memberOf.set('ann@example.com', [
        { type: 'group', displayName: 'Platform Team' },
        { type: 'directoryRole', displayName: 'Global Reader' },
        { type: 'group', displayName: 'On-call' },
        { type: 'group', displayName: 'SRE' },
      ]);
      const azure = await admin.createProvider({
        name: 'azure',
        kind: 'azure',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
        apiURL: graph.url,
      });
      const session = await logIn(azure.id, 'ann');
      assert.deepEqual(await groupsOf(session.userID), ['On-call', 'Platform Team', 'SRE']);

      // Graph refusing (a permission not granted) keeps the groups and still signs in.
      graph.failWith = 403;
      try {
        const again = await logIn(azure.id, 'ann');
        assert.equal(again.name, 'ann@example.com');
        assert.deepEqual(await groupsOf(session.userID), ['On-call', 'Platform Team', 'SRE']);
        assert.match(server.logs.text, /Microsoft Graph answered HTTP 403/);
      } finally {
        graph.failWith = undefined;
      }
      // A next page elsewhere (the token would go there) cuts the list short: keep the groups
      // rather than drop the ones on later pages.
      graph.memberOf.set('ann@example.com', [
        { type: 'group', displayName: 'Platform Team' },
        { type: 'group', displayName: 'New\u0000Group' },
        { type: 'group', displayName: 'SRE' },
      ]);
      graph.nextLinkOrigin = 'https://elsewhere.example.com';
      try {
        await logIn(azure.id, 'ann');
        assert.deepEqual(await groupsOf(session.userID), ['On-call', 'Platform Team', 'SRE']);
        assert.match(server.logs.text, /next page on another origin/);
      } finally {
        graph.nextLinkOrigin = undefined;
      }
      // Names with control characters are not group names.
      await logIn(azure.id, 'ann');
      assert.deepEqual(await groupsOf(session.userID), ['Platform Team', 'SRE']);
      await admin.deleteProvider({ id: azure.id });
      assert.deepEqual(await groupsOf(session.userID), []);
    });

    it('Google: groups from the Directory API as the service account acting for an admin', async () => {
      google.groups.set('ann@example.com', ['Engineering', 'Interns', 'Support']);
      const created = await admin.createProvider({
        name: 'google',
        kind: 'google',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
        apiURL: google.url,
        domainAdminEmail: google.domainAdmin,
        serviceAccountKey: google.serviceAccountKey,
      });
      assert.equal(created.serviceAccountKeySet, true);
      assert.doesNotMatch(JSON.stringify(created), /PRIVATE KEY/);
      const auth = new URL(
        (
          await server.client().startProviderLogin({
            id: created.id,
            redirectURL: `${server.url}/login/callback`,
          })
        ).authorizationURL,
      );
      assert.equal(auth.searchParams.get('prompt'), 'consent', 'so Google issues a refresh token');
      assert.equal(auth.searchParams.get('access_type'), 'offline');

      const session = await logIn(created.id, 'ann');
      assert.deepEqual(await groupsOf(session.userID), ['Engineering', 'Interns', 'Support']);

      // Acting for someone who is not the configured admin is refused by Google: groups stay.
      await admin.updateProvider({
        id: created.id,
        name: 'google',
        kind: 'google',
        url: idp.issuer,
        clientID: idp.clientId,
        apiURL: google.url,
        domainAdminEmail: 'not-an-admin@example.com',
      });
      await logIn(created.id, 'ann');
      assert.deepEqual(await groupsOf(session.userID), ['Engineering', 'Interns', 'Support']);
      assert.match(server.logs.text, /Google OAuth answered HTTP 400/);
      await admin.deleteProvider({ id: created.id });
    });
  });
}
