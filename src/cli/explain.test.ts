import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/client.js';
import { workstation, type Workstation } from '../../test/cli.js';
import { engines } from '../../test/engines.js';
import { assertGolden } from '../../test/golden.js';
import { createSignedInUser, startAdminServer } from '../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../test/oidc-provider.js';
import { dashboardLogin } from '../../test/provider-login.js';
import type { TestServer } from '../../test/server.js';

const golden = (name: string) => path.join(import.meta.dirname, 'testdata', name);

/** Ids and times change from run to run; the golden files hold placeholders. */
const stable = (text: string) =>
  text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/req_[0-9a-z]{24}/g, 'req_<id>');

for (const engine of engines) {
  describe(`infra explain [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    let idp: TestIdp;
    let ws: Workstation;
    let alice: ApiClient;

    before(async () => {
      ({ server, admin, adminKey } = await startAdminServer(engine));
      idp = await startTestIdp({ redirectUris: [`${server.url}/login/callback`] });
      await admin.createDestination({
        name: 'prod',
        uniqueID: 'prod',
        connection: { url: 'https://prod.example.com:9443', ca: '' },
        namespaces: ['default', 'web'],
        roles: ['admin', 'cluster-admin', 'edit', 'exec', 'view'],
      });
      // Direct: alice has edit on prod.web.
      const a = await createSignedInUser(server, admin, 'alice@example.com');
      alice = a.client;
      await admin.createGrant({ user: a.id, privilege: 'edit', resource: 'prod.web' });
      // Group, added by an admin: bob is in sre, which has view on prod.
      const bob = await createSignedInUser(server, admin, 'bob@example.com');
      const sre = await admin.createGroup({ name: 'sre' });
      await admin.updateGroupUsers({ id: sre.id, usersToAdd: [bob.id] });
      await admin.createGrant({ groupName: 'sre', privilege: 'view', resource: 'prod' });
      // Provider sync: dave's group oncall comes from the identity provider okta.
      idp.accounts.set('dave', { email: 'dave@example.com', groups: ['oncall'] });
      const okta = await admin.createProvider({
        name: 'okta',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: ['openid', 'email', 'groups'],
      });
      await (await dashboardLogin(server, idp, okta.id, 'dave')).login();
      await admin.createGrant({ groupName: 'oncall', privilege: 'exec', resource: 'prod.web' });
      // Temporary: erin asked for edit on prod.web under a policy, and bob approved.
      const devs = await admin.createGroup({ name: 'devs' });
      const erin = await createSignedInUser(server, admin, 'erin@example.com');
      const carol = await createSignedInUser(server, admin, 'carol@example.com');
      await admin.updateGroupUsers({ id: devs.id, usersToAdd: [erin.id, carol.id] });
      await admin.createRequestPolicy({
        name: 'prod-edit',
        roles: ['edit'],
        resources: ['prod.*'],
        requesters: { users: [], groups: ['devs'] },
        approvers: { users: ['bob@example.com'], groups: [] },
        maxDuration: '4h',
        reasonRequired: true,
      });
      const request = await erin.client.createAccessRequest({
        role: 'edit',
        resource: 'prod.web',
        duration: '1h',
        reason: 'INC-123',
      });
      await bob.client.reviewAccessRequest({ id: request.id, decision: 'approve' });
      // Denied: carol (in devs, so she may ask) and frank (no policy for him) have nothing.
      await createSignedInUser(server, admin, 'frank@example.com');

      ws = workstation();
      const login = await ws.run(
        'login',
        new URL(server.url).host,
        '--tls-trusted-fingerprint',
        server.running.fingerprint,
        '--key',
        adminKey,
      );
      assert.equal(login.code, 0, login.stderr);
    });
    after(async () => {
      await server.close();
      await idp.close();
    });

    const cases: Array<[string, string[]]> = [
      ['direct', ['alice@example.com', 'prod.web', '--verb', 'create', '--resource', 'pods/exec']],
      ['group', ['bob@example.com', 'prod.web', '--verb', 'create', '--resource', 'pods/exec']],
      ['provider', ['dave@example.com', 'prod.web', '--verb', 'create', '--resource', 'pods/exec']],
      ['temporary', ['erin@example.com', 'prod.web']],
      [
        'denied-requestable',
        ['carol@example.com', 'prod.web', '--verb', 'create', '--resource', 'pods/exec'],
      ],
      ['denied', ['frank@example.com', 'prod.web', '--verb', 'create', '--resource', 'pods/exec']],
    ];
    for (const [name, args] of cases) {
      it(`explains the ${name} case`, async () => {
        const res = await ws.run('explain', ...args);
        assert.equal(res.stderr, '');
        assert.equal(res.code, 0);
        assertGolden(golden(`explain-${name}.txt`), stable(res.stdout));
      });
    }

    it('answers users about themselves only', async () => {
      const self = await alice.explainAccess({ user: 'self', destination: 'prod.web' });
      assert.equal(self.hasAccess, true);
      assert.deepEqual(
        self.paths.map((p) => [p.role, p.resource, p.via.kind, p.binding?.kind]),
        [['edit', 'prod.web', 'user', 'RoleBinding']],
      );
      await assert.rejects(
        alice.explainAccess({ user: 'bob@example.com', destination: 'prod.web' }),
        { status: 403 },
      );
    });

    it('says when the rules of a role are not known', async () => {
      await admin.createGrant({
        userName: 'frank@example.com',
        privilege: 'custom',
        resource: 'prod',
      });
      const e = await admin.explainAccess({
        user: 'frank@example.com',
        destination: 'prod',
        verb: 'get',
        resource: 'pods',
      });
      assert.deepEqual(
        [e.hasAccess, e.paths[0]?.roleOffered, e.paths[0]?.allows, e.check?.allowed],
        [true, false, null, false],
      );
    });
  });
}
