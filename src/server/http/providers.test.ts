import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { rawRequest } from '../../../test/http.js';
import { ADMIN, ADMIN_CONFIG, startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { dashboardLogin } from '../../../test/provider-login.js';
import { startTestServer, type TestServer } from '../../../test/server.js';

/** The status and message of a refused call. */
async function refusal(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  assert.fail('the call succeeded');
}

const SYNC = 5 * 60_000;

for (const engine of engines) {
  describe(`identity providers [${engine}]`, () => {
    const clock = new TestClock();
    let idp: TestIdp;
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    let providerId: string;
    let connector: ApiClient;

    before(async () => {
      ({ server, admin, adminKey } = await startAdminServer(engine, { clock }));
      idp = await startTestIdp({
        redirectUris: [`${server.url}/login/callback`, 'http://127.0.0.1/callback'],
      });
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs', 'admins'] });
      idp.accounts.set('bob', { email: 'Bob@Example.com', groups: [] });
      const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      const key = await admin.createAccessKey({
        userID: connectorUser.id,
        name: 'prod-connector',
        expiry: '8760h',
      });
      connector = server.client({ accessKey: key.accessKey });
      await connector.createDestination({
        name: 'prod',
        uniqueID: 'prod-1',
        connection: { url: 'https://prod.example.com:8443', ca: '' },
        namespaces: ['default'],
        roles: ['view'],
        version: '0.1.0',
      });
    });
    after(async () => {
      await server.close();
      await idp.close();
    });
    beforeEach(() => {
      idp.tamper = undefined;
    });

    /**
     * Logs in through the provider the way the dashboard does (carrying the browser's binding
     * cookie), or the CLI does with a loopback redirect.
     */
    async function providerLogin(account: string, redirect?: string) {
      if (redirect === undefined) return dashboardLogin(server, idp, providerId, account);
      const started = await server
        .client()
        .startProviderLogin({ id: providerId, redirectURL: redirect });
      const back = await idp.signIn(started.authorizationURL, account);
      assert.equal(`${back.origin}${back.pathname}`, redirect);
      const callback = {
        state: back.searchParams.get('state')!,
        code: back.searchParams.get('code')!,
      };
      return { callback, login: () => server.client().login({ oidc: callback }) };
    }

    it('refuses a provider whose issuer does not answer or is not an OIDC issuer', async () => {
      const down = await refusal(
        admin.createProvider({
          name: 'down',
          kind: 'oidc',
          url: 'http://127.0.0.1:1',
          clientID: 'x',
          clientSecret: 'y',
        }),
      );
      assert.equal(down.status, 400);
      assert.match(down.message, /discovery at http:\/\/127\.0\.0\.1:1.*cannot connect/);
      // On the url field, where a form shows it.
      assert.deepEqual(
        down.fieldErrors?.map((f) => f.field),
        ['url'],
      );
      const notOidc = await refusal(
        admin.createProvider({
          name: 'not-oidc',
          kind: 'oidc',
          url: `${server.url}`.replace('https://', 'http://'),
          clientID: 'x',
          clientSecret: 'y',
        }),
      );
      assert.equal(notOidc.status, 400);
      const insecure = await refusal(
        admin.createProvider({
          name: 'insecure',
          kind: 'okta',
          url: 'http://okta.example.com',
          clientID: 'x',
          clientSecret: 'y',
        }),
      );
      assert.equal(insecure.status, 400);
      assert.match(insecure.message, /url: must be an https:\/\/ URL/);
      const noSecret = await refusal(
        admin.createProvider({ name: 'nosecret', kind: 'oidc', url: idp.issuer, clientID: 'x' }),
      );
      assert.equal(noSecret.status, 400);
      assert.equal((await admin.listProviders({})).count, 0);
    });

    it('refuses bad input with a 400 that names the field, changing nothing', async () => {
      const good = {
        name: 'good',
        kind: 'oidc',
        url: idp.issuer,
        clientID: 'c',
        clientSecret: 's',
      };
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['unknown kind', { ...good, kind: 'saml' }, 'kind'],
        ['upper-case name', { ...good, name: 'Okta' }, 'name'],
        ['name with a space', { ...good, name: 'my okta' }, 'name'],
        ['url with a query', { ...good, url: `${idp.issuer}?x=1` }, 'url'],
        ['url with credentials', { ...good, url: 'https://u:p@okta.example.com' }, 'url'],
        ['not a url', { ...good, url: 'okta' }, 'url'],
        ['empty client id', { ...good, clientID: '' }, 'clientID'],
        ['both secret sources', { ...good, clientSecretRef: 'env:X' }, 'clientSecretRef'],
        [
          'malformed secret reference',
          { ...good, clientSecret: undefined, clientSecretRef: 'X' },
          'clientSecretRef',
        ],
        ['scope with a space', { ...good, scopes: ['openid email'] }, 'scopes.0'],
        ['unknown field', { ...good, admin: true }, 'admin'],
        ['Google settings on an OIDC provider', { ...good, domainAdminEmail: 'a@example.com' }, ''],
      ];
      for (const [what, body, field] of cases) {
        const res = await rawRequest(`${server.url}/api/providers`, {
          method: 'POST',
          ca: server.ca,
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(res.status, 400, what);
        const error = res.json<{ fieldErrors?: Array<{ field: string }>; message: string }>();
        if (field)
          assert.ok(
            error.fieldErrors?.some((f) => f.field === field),
            `${what}: ${error.message}`,
          );
      }
      for (const redirectURL of ['', 'javascript:alert(1)', 'http://127.0.0.1:0/callback']) {
        const r = await refusal(
          server.client().startProviderLogin({ id: `prv_${'0'.repeat(24)}`, redirectURL }),
        );
        assert.equal(r.status, 400, redirectURL);
      }
      const code = await refusal(server.client().approveDevice({ userCode: 'ABCD' }));
      assert.equal(code.status, 401, 'approving needs a session before anything else');
      const badCode = await refusal(admin.approveDevice({ userCode: 'ABCD-123' }));
      assert.equal(badCode.status, 400);
      assert.equal((await admin.listProviders({})).count, 0);
    });

    it('is added by an admin only, shows no secret, and is listed publicly', async () => {
      const created = await admin.createProvider({
        name: 'test-idp',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
      });
      providerId = created.id;
      assert.equal(created.clientSecretRef, null);
      assert.deepEqual(created.redirectURIs, [
        `${server.url}/login/callback`,
        'http://127.0.0.1/callback',
      ]);
      assert.deepEqual(created.scopes, ['openid', 'email', 'groups', 'offline_access']);
      assert.doesNotMatch(JSON.stringify(created), new RegExp(idp.clientSecret));
      const listed = await server.client().listProviders({});
      assert.deepEqual(
        listed.items.map((p) => [p.name, p.kind, p.url]),
        [['test-idp', 'oidc', idp.issuer]],
      );
      const dup = await refusal(
        admin.createProvider({
          name: 'test-idp',
          kind: 'oidc',
          url: idp.issuer,
          clientID: 'a',
          clientSecret: 'b',
        }),
      );
      assert.equal(dup.status, 409);
    });

    it('keeps the client secret sealed at rest', async () => {
      const { openDb } = await import('../data/db.js');
      const database = await openDb(server.config.db);
      try {
        const rows = await database.db
          .selectFrom('providers')
          .select(['clientSecret', 'clientSecretRef'])
          .execute();
        assert.equal(rows.length, 1);
        assert.match(rows[0]!.clientSecret!, /^v1:dk-[a-z0-9]{8}:/);
        assert.doesNotMatch(rows[0]!.clientSecret!, new RegExp(idp.clientSecret));
      } finally {
        await database.close();
      }
    });

    it('logs a user in with PKCE, state and nonce, creating them with their groups', async () => {
      const started = await server
        .client()
        .startProviderLogin({ id: providerId, redirectURL: `${server.url}/login/callback` });
      const auth = new URL(started.authorizationURL);
      assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
      assert.ok(auth.searchParams.get('nonce'));
      assert.ok(auth.searchParams.get('state'));
      // (That login is left unfinished; the dashboard's way, with its cookie, follows.)
      const session = await (await providerLogin('alice')).login();
      assert.equal(session.name, 'alice@example.com');
      assert.equal(session.passwordUpdateRequired, false);
      const alice = server.client({ accessKey: session.accessKey });
      const groups = await admin.listGroups({ userID: session.userID });
      assert.deepEqual(groups.items.map((g) => g.name).sort(), ['admins', 'devs']);
      const keys = await alice.listAccessKeys({ userID: session.userID });
      assert.equal(keys.items[0]?.issuedVia, 'provider');
      const noPassword = await refusal(
        alice.updateUser({ id: 'self', password: 'a-new-password', oldPassword: 'guess' }),
      );
      assert.equal(noPassword.status, 400);
      assert.match(noPassword.message, /you have no password here/);
    });

    it('finishes a dashboard login only in the browser that started it (login CSRF)', async () => {
      const started = await dashboardLogin(server, idp, providerId, 'alice');
      assert.match(started.cookie, /^__Host-infra-login=[A-Za-z0-9_-]{43}$/);
      const none = await refusal(started.login({ cookie: null }));
      assert.equal(none.status, 401);
      assert.match(server.logs.text, /this sign-in was started in another browser/);
      const other = await dashboardLogin(server, idp, providerId, 'alice');
      const wrong = await refusal(other.login({ cookie: '__Host-infra-login=someone-elses' }));
      assert.equal(wrong.status, 401);
      // The CLI's loopback logins need no cookie: the CLI checks the state itself.
      const cli = await providerLogin('alice', 'http://127.0.0.1:45000/callback');
      assert.equal((await cli.login()).name, 'alice@example.com');
    });

    it('refuses a replayed code and an unknown state', async () => {
      const { login } = await providerLogin('alice');
      await login();
      const replay = await refusal(login());
      assert.equal(replay.status, 401);
      const unknown = await refusal(
        server.client().login({ oidc: { state: 'made-up-state', code: 'made-up-code' } }),
      );
      assert.equal(unknown.status, 401);
    });

    it('refuses a redirect that is neither the dashboard nor a loopback listener', async () => {
      for (const redirectURL of [
        'https://evil.example.com/login/callback',
        'http://127.0.0.1:8080/elsewhere',
        `${server.url}/other`,
      ]) {
        const r = await refusal(
          server.client().startProviderLogin({ id: providerId, redirectURL }),
        );
        assert.equal(r.status, 400, redirectURL);
        assert.match(r.message, /redirectURL/);
      }
    });

    for (const tamper of ['signature', 'audience', 'expired'] as const) {
      it(`refuses an ID token with a bad ${tamper}`, async () => {
        idp.accounts.set('mallory', { email: 'mallory@example.com', groups: [] });
        const { login } = await providerLogin('mallory');
        idp.tamper = tamper;
        const r = await refusal(login());
        assert.equal(r.status, 401);
        assert.equal((await admin.listUsers({ name: 'mallory@example.com' })).count, 0);
      });
    }

    it('refuses an email the provider says is not verified', async () => {
      idp.accounts.set('eve', { email: 'eve@example.com', emailVerified: false, groups: [] });
      const { login } = await providerLogin('eve');
      const r = await refusal(login());
      assert.equal(r.status, 401);
      assert.match(server.logs.text, /the provider says eve@example.com is not verified/);
      assert.equal((await admin.listUsers({ name: 'eve@example.com' })).count, 0);
    });

    it('keeps a user whose email changes at the provider (the subject decides)', async () => {
      idp.accounts.set('frank', { email: 'frank@example.com', groups: [] });
      const first = await (await providerLogin('frank')).login();
      idp.accounts.set('frank', { email: 'frank.new@example.com', groups: [] });
      const second = await (await providerLogin('frank')).login();
      assert.equal(second.userID, first.userID);
      assert.equal(second.name, 'frank@example.com');
      assert.equal((await admin.listUsers({ name: 'frank.new@example.com' })).count, 0);
    });

    it('signs in as an existing user only when the provider vouches for the email', async () => {
      // No email_verified claim at all: a new user is fine, taking over the admin is not.
      idp.accounts.set('claims-admin', { email: ADMIN.name, emailVerified: null, groups: [] });
      const takeover = await refusal((await providerLogin('claims-admin')).login());
      assert.equal(takeover.status, 401);
      assert.match(server.logs.text, /does not say admin@example.com is verified/);
      idp.accounts.set('newcomer', {
        email: 'newcomer@example.com',
        emailVerified: null,
        groups: [],
      });
      assert.equal((await (await providerLogin('newcomer')).login()).name, 'newcomer@example.com');
    });

    it('skips group names the API would refuse, with a warning, and emails that hide characters', async () => {
      idp.accounts.set('gina', {
        email: 'gina@example.com',
        groups: [
          'gina-team',
          'system:masters',
          'System:Nodes',
          'ad\u202Emins',
          'ops\u200B',
          '\u0430dmins',
          'e\u0301quipe',
          '運用',
        ],
      });
      const session = await (await providerLogin('gina')).login();
      const groups = await admin.listGroups({ userID: session.userID });
      assert.deepEqual(groups.items.map((g) => g.name).sort(), ['gina-team', 'équipe', '運用']);
      const warning = server.logs.lines
        .map((l) => JSON.parse(l) as { msg: string; refused?: string[] })
        .find((l) => l.msg.startsWith('skipped group names'));
      assert.deepEqual(warning?.refused, [
        'system:masters: starts with system: (Kubernetes reserves those groups)',
        'System:Nodes: starts with system: (Kubernetes reserves those groups)',
        'ad\\u{202E}mins: contains an invisible or text-direction character (U+202E)',
        'ops\\u{200B}: contains an invisible or text-direction character (U+200B)',
        'аdmins: mixes Cyrillic and Latin letters in one word',
      ]);

      for (const email of ['h\u200Barry@example.com', '\u0430dmin@example.com']) {
        idp.accounts.set('harry', { email, groups: [] });
        const r = await refusal((await providerLogin('harry')).login());
        assert.equal(r.status, 401);
      }
      assert.match(server.logs.text, /email address that contains an invisible .*U\+200B/);
      assert.match(server.logs.text, /email address that mixes Cyrillic and Latin letters/);
      assert.equal((await admin.listUsers({ name: 'harry@example.com' })).count, 0);
    });

    it('works with the CLI loopback redirect on any port', async () => {
      const { login } = await providerLogin('bob', 'http://127.0.0.1:41234/callback');
      const session = await login();
      assert.equal(session.name, 'bob@example.com');
    });

    it('syncs groups when a token is minted, never touching memberships added by hand', async () => {
      const { login } = await providerLogin('alice');
      const session = await login();
      const alice = server.client({ accessKey: session.accessKey });
      const ops = (await admin.createGroup({ name: 'ops' })).id;
      const devs = (await admin.listGroups({ name: 'devs' })).items[0]!.id;
      // An admin also adds alice to devs by hand: removing devs upstream must keep this one.
      await admin.updateGroupUsers({ id: devs, usersToAdd: [session.userID] });
      await admin.updateGroupUsers({ id: ops, usersToAdd: [session.userID] });
      await admin.createGrant({ user: session.userID, privilege: 'view', resource: 'prod' });

      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['sre'] });
      await alice.createToken({ destination: 'prod' });
      let names = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
      assert.deepEqual(names.sort(), ['admins', 'devs', 'ops'], 'not yet: synced at most every 5m');

      clock.advance(SYNC + 1000);
      await alice.createToken({ destination: 'prod' });
      names = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
      assert.deepEqual(names.sort(), ['devs', 'ops', 'sre']);
    });

    it('keeps sessions and groups while the provider is down', async () => {
      const { login } = await providerLogin('alice');
      const session = await login();
      const alice = server.client({ accessKey: session.accessKey });
      const before = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
      await idp.stop();
      try {
        clock.advance(SYNC + 1000);
        const token = await alice.createToken({ destination: 'prod' });
        assert.ok(token.token);
        const now = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
        assert.deepEqual(now, before);
        assert.match(server.logs.text, /identity provider test-idp is failing/);
      } finally {
        await idp.start();
      }
    });

    it('keeps sessions when the provider refuses Infra itself (a wrong client secret)', async () => {
      const { login } = await providerLogin('alice');
      const session = await login();
      const alice = server.client({ accessKey: session.accessKey });
      const settings = {
        id: providerId,
        name: 'test-idp',
        kind: 'oidc' as const,
        url: idp.issuer,
        clientID: idp.clientId,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
      };
      await admin.updateProvider({ ...settings, clientSecret: 'rotated-upstream-not-here' });
      try {
        clock.advance(SYNC + 1000);
        assert.ok((await alice.createToken({ destination: 'prod' })).token);
        assert.equal((await alice.getUser({ id: 'self' })).name, 'alice@example.com');
        assert.match(server.logs.text, /invalid_client/);
      } finally {
        await admin.updateProvider({ ...settings, clientSecret: idp.clientSecret });
      }
    });

    it('ends every session of a user the provider no longer knows, and tells the feed', async () => {
      idp.accounts.set('carol', { email: 'carol@example.com', groups: ['devs'] });
      const { login } = await providerLogin('carol');
      const session = await login();
      const carol = server.client({ accessKey: session.accessKey });
      await admin.createGrant({ user: session.userID, privilege: 'view', resource: 'prod' });
      const second = await (await providerLogin('carol')).login();
      const feed = await connector.getAccessFeed({ destination: 'prod' });

      idp.accounts.delete('carol');
      clock.advance(SYNC + 1000);
      const refused = await refusal(carol.createToken({ destination: 'prod' }));
      assert.equal(refused.status, 401);
      for (const key of [session.accessKey, second.accessKey]) {
        const r = await refusal(server.client({ accessKey: key }).getUser({ id: 'self' }));
        assert.equal(r.status, 401);
      }
      const next = await connector.getAccessFeed({
        destination: 'prod',
        lastUpdateIndex: feed.updateIndex,
      });
      assert.ok(next.updateIndex > feed.updateIndex);
      assert.equal((await admin.listGroups({ userID: session.userID })).count, 0);
      const audit = await admin.listAudit({ action: 'offboardUser' });
      assert.equal(audit.items[0]?.target.name, 'carol@example.com');
    });

    it('forgets the accounts and sessions of the old issuer when the issuer changes', async () => {
      const session = await (await providerLogin('alice')).login();
      const other = await startTestIdp();
      const settings = {
        id: providerId,
        name: 'test-idp',
        kind: 'oidc' as const,
        scopes: ['openid', 'email', 'groups', 'offline_access'],
      };
      try {
        await admin.updateProvider({
          ...settings,
          url: other.issuer,
          clientID: other.clientId,
          clientSecret: other.clientSecret,
        });
        const r = await refusal(
          server.client({ accessKey: session.accessKey }).getUser({ id: 'self' }),
        );
        assert.equal(r.status, 401);
        const names = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
        assert.ok(!names.includes('sre'), 'the groups it synced are gone');
      } finally {
        await admin.updateProvider({
          ...settings,
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
        });
        await other.close();
      }
    });

    it('offboards someone who only uses the dashboard or the API, too', async () => {
      idp.accounts.set('dana', { email: 'dana@example.com', groups: [] });
      const session = await (await providerLogin('dana')).login();
      const dana = server.client({ accessKey: session.accessKey });
      assert.equal((await dana.getUser({ id: 'self' })).name, 'dana@example.com');
      idp.accounts.delete('dana');
      clock.advance(SYNC + 1000);
      // This request goes through and has her re-checked in the background; soon after, the
      // session is gone.
      await dana.getUser({ id: 'self' });
      let status = 200;
      for (let i = 0; i < 100 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status = await dana.getUser({ id: 'self' }).then(
          () => 200,
          (err: unknown) => (err instanceof ApiError ? err.status : 0),
        );
      }
      assert.equal(status, 401);
    });

    it('signs a device in once a signed-in browser approves its code', async () => {
      const anonymous = server.client();
      const device = await anonymous.createDeviceRequest({});
      assert.match(device.userCode, /^[A-Z]{4}-[A-Z]{4}$/);
      assert.equal(device.verificationURL, `${server.url}/device`);
      assert.equal(
        (await anonymous.getDeviceStatus({ deviceCode: device.deviceCode })).status,
        'pending',
      );

      const missing = await refusal(admin.approveDevice({ userCode: 'BBBB-BBBB' }));
      assert.equal(missing.status, 404);
      const anon = await refusal(anonymous.approveDevice({ userCode: device.userCode }));
      assert.equal(anon.status, 401);
      await admin.approveDevice({ userCode: device.userCode.replace('-', '').toLowerCase() });
      const again = await refusal(admin.approveDevice({ userCode: device.userCode }));
      assert.equal(again.status, 404, 'a code is approved once');

      const approved = await anonymous.getDeviceStatus({ deviceCode: device.deviceCode });
      assert.equal(approved.status, 'approved');
      assert.equal(approved.login?.name, 'admin@example.com');
      const me = await server
        .client({ accessKey: approved.login!.accessKey })
        .getUser({ id: 'self' });
      assert.equal(me.name, 'admin@example.com');
      const used = await refusal(anonymous.getDeviceStatus({ deviceCode: device.deviceCode }));
      assert.equal(used.status, 410, 'the session is handed out once');
    });

    it('ties a device session to the session that approved it', async () => {
      const short = await admin.createAccessKey({ userID: 'self', expiry: '1h' });
      const approver = server.client({ accessKey: short.accessKey });
      const device = await server.client().createDeviceRequest({});
      await approver.approveDevice({ userCode: device.userCode });
      const approved = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
      assert.ok(Date.parse(approved.login!.expires) <= Date.parse(short.expires));

      // Approved, then the approving session ended before the device asked: nothing to hand out.
      const other = await admin.createAccessKey({ userID: 'self', expiry: '1h' });
      const second = await server.client().createDeviceRequest({});
      await server.client({ accessKey: other.accessKey }).approveDevice({
        userCode: second.userCode,
      });
      await admin.deleteAccessKey({ id: other.id });
      const r = await refusal(server.client().getDeviceStatus({ deviceCode: second.deviceCode }));
      assert.equal(r.status, 410);
    });

    it('expires device codes after ten minutes', async () => {
      const device = await server.client().createDeviceRequest({});
      clock.advance(10 * 60_000 + 1);
      const r = await refusal(admin.approveDevice({ userCode: device.userCode }));
      assert.equal(r.status, 404);
      const s = await refusal(server.client().getDeviceStatus({ deviceCode: device.deviceCode }));
      assert.equal(s.status, 410);
    });

    it('bounds the logins anyone may start, and does not audit starting one', async () => {
      await server.client().createDeviceRequest({});
      assert.equal((await admin.listAudit({ action: 'startProviderLogin' })).count, 0);
      assert.equal((await admin.listAudit({ action: 'createDeviceRequest' })).count, 0);
      const { openDb } = await import('../data/db.js');
      const database = await openDb(server.config.db);
      try {
        const flood = async (count: number, sourceIp: (i: number) => string) => {
          const rows = Array.from({ length: count }, (_, i) => ({
            deviceCodeHash: `flood-${sourceIp(i)}-${i}`,
            userCode: `FLOOD-${sourceIp(i)}-${i}`,
            approvedBy: null,
            approvedKeyId: null,
            sourceIp: sourceIp(i),
            expiresAt: clock.now() + 60_000,
            createdAt: clock.now(),
          }));
          for (let i = 0; i < rows.length; i += 1000)
            await database.db
              .insertInto('deviceRequests')
              .values(rows.slice(i, i + 1000))
              .execute();
        };
        const startLogin = () =>
          server
            .client()
            .startProviderLogin({ id: providerId, redirectURL: `${server.url}/login/callback` });
        // Many addresses together fill the store: nobody new may start until some expire.
        await flood(10_000, (i) => `198.51.100.${i % 250}`);
        const r = await refusal(server.client().createDeviceRequest({}));
        assert.equal(r.status, 429);
        assert.match(r.message, /too many logins are waiting/);
        // Retry when the first of them expires.
        const device = () =>
          rawRequest(`${server.url}/api/device`, {
            method: 'POST',
            ca: server.ca,
            headers: { 'content-type': 'application/json' },
            body: '{}',
          });
        assert.equal((await device()).headers['retry-after'], '60');
        assert.equal((await refusal(startLogin())).status, 429);
        // Expired requests do not count (and the sweep removes them).
        await database.db.updateTable('deviceRequests').set({ expiresAt: clock.now() }).execute();
        await server.client().createDeviceRequest({});

        // One address alone gets 200 at a time.
        const [mine] = await database.db
          .selectFrom('deviceRequests')
          .select('sourceIp')
          .where('expiresAt', '>', clock.now())
          .execute();
        await flood(199, () => mine!.sourceIp);
        const own = await refusal(startLogin());
        assert.equal(own.status, 429);
        assert.match(own.message, /started from your address/);
        clock.advance(15_000);
        assert.equal((await device()).headers['retry-after'], '45');
        await database.db.updateTable('deviceRequests').set({ expiresAt: clock.now() }).execute();
        await startLogin();
      } finally {
        await database.close();
      }
    });

    it('removes a provider: its sessions end and the groups it synced go', async () => {
      const { login } = await providerLogin('alice');
      const session = await login();
      const forbidden = await refusal(
        server.client({ accessKey: session.accessKey }).deleteProvider({ id: providerId }),
      );
      assert.equal(forbidden.status, 403);
      // Sessions made from that one (a key exchange, a device it approved) go with it.
      const alice = server.client({ accessKey: session.accessKey });
      const exchanged = await server.client().login({ accessKey: session.accessKey });
      const device = await server.client().createDeviceRequest({});
      await alice.approveDevice({ userCode: device.userCode });
      const approved = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
      await admin.deleteProvider({ id: providerId });
      for (const key of [session.accessKey, exchanged.accessKey, approved.login!.accessKey]) {
        const r = await refusal(server.client({ accessKey: key }).getUser({ id: 'self' }));
        assert.equal(r.status, 401);
      }
      const names = (await admin.listGroups({ userID: session.userID })).items.map((g) => g.name);
      assert.deepEqual(names.sort(), ['devs', 'ops'], 'memberships added by hand stay');
      assert.equal((await server.client().listProviders({})).count, 0);
    });
  });
}

describe('providers declared in the config file', () => {
  let idp: TestIdp;
  let server: TestServer;

  before(async () => {
    idp = await startTestIdp();
    idp.accounts.set('dave', { email: 'dave@example.com', groups: ['ops'] });
  });
  after(async () => {
    await server?.close();
    await idp.close();
  });

  it('are reconciled at start, read their secret at login, and refuse API changes', async () => {
    const config = `${ADMIN_CONFIG}providers:
  - name: corp
    kind: oidc
    url: ${idp.issuer}
    clientID: ${idp.clientId}
    clientSecret: env:CORP_OIDC_SECRET
    scopes: [openid, email, groups, offline_access]
  - name: broken
    kind: oidc
    url: ${idp.issuer}
    clientID: ${idp.clientId}
    clientSecret: env:NOT_SET_ANYWHERE
`;
    server = await startTestServer({
      configFile: config,
      env: { CORP_OIDC_SECRET: idp.clientSecret },
    });
    const admin = server.client({
      accessKey: (
        await server.client().login({
          passwordCredentials: { name: 'admin@example.com', password: 'admin-password-1' },
        })
      ).accessKey,
    });
    const [corp] = (await admin.listProviders({ name: 'corp' })).items;
    assert.equal(corp?.managedBy, 'config');
    const details = await admin.getProvider({ id: corp.id });
    assert.equal(details.clientSecretRef, 'env:CORP_OIDC_SECRET');
    const r = await refusal(admin.deleteProvider({ id: corp.id }));
    assert.equal(r.status, 400);
    assert.match(r.message, /config file/);

    const started = await server
      .client()
      .startProviderLogin({ id: corp.id, redirectURL: 'http://127.0.0.1:40123/callback' });
    const back = await idp.signIn(started.authorizationURL, 'dave');
    const session = await server.client().login({
      oidc: { state: back.searchParams.get('state')!, code: back.searchParams.get('code')! },
    });
    assert.equal(session.name, 'dave@example.com');

    // A secret reference that does not resolve is the server's problem, said as such.
    const broken = (await admin.listProviders({ name: 'broken' })).items[0]!;
    const startedBroken = await server
      .client()
      .startProviderLogin({ id: broken.id, redirectURL: 'http://127.0.0.1:40124/callback' });
    const backBroken = await idp.signIn(startedBroken.authorizationURL, 'dave');
    const failed = await refusal(
      server.client().login({
        oidc: {
          state: backBroken.searchParams.get('state')!,
          code: backBroken.searchParams.get('code')!,
        },
      }),
    );
    assert.equal(failed.status, 503);
    assert.match(failed.message, /misconfigured on this server; tell an admin/);
    assert.doesNotMatch(failed.message, /NOT_SET_ANYWHERE/);
    assert.match(server.logs.text, /NOT_SET_ANYWHERE/);

    server = await server.restart({ configFile: ADMIN_CONFIG });
    assert.equal((await server.client().listProviders({})).count, 0);
  });
});
