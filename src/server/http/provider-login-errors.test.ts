import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { dashboardLogin } from '../../../test/provider-login.js';
import type { TestServer } from '../../../test/server.js';

async function refusal(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  assert.fail('the call succeeded');
}

for (const engine of engines) {
  describe(`a failed provider login says why [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let idp: TestIdp;
    let providerId: string;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, { clock }));
      idp = await startTestIdp({ redirectUris: [`${server.url}/login/callback`] });
      idp.accounts.set('alice', { email: 'alice@example.com', groups: [] });
      providerId = (
        await admin.createProvider({
          name: 'corp',
          kind: 'okta',
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
        })
      ).id;
    });
    after(async () => {
      await server.close();
      await idp.close();
    });
    beforeEach(() => {
      idp.tamper = undefined;
    });

    const start = (account: string) => dashboardLogin(server, idp, providerId, account);

    it('an email the provider does not verify', async () => {
      idp.accounts.set('eve', { email: 'eve@example.com', emailVerified: false, groups: [] });
      const r = await refusal((await start('eve')).login());
      assert.equal(r.code, 'login_email_unverified');
      assert.match(r.message, /corp says your email address is not verified; verify it there/);
    });

    it('no usable email', async () => {
      idp.accounts.set('nomail', { email: 'not-an-address', groups: [] });
      const r = await refusal((await start('nomail')).login());
      assert.equal(r.code, 'login_email_missing');
    });

    it('finished in another browser', async () => {
      const r = await refusal((await start('alice')).login({ cookie: null }));
      assert.equal(r.code, 'login_other_browser');
      assert.match(r.message, /started in another browser/);
    });

    it('used twice', async () => {
      const login = await start('alice');
      await login.login();
      const r = await refusal(login.login());
      assert.equal(r.code, 'login_unknown');
    });

    it('finished too late', async () => {
      const login = await start('alice');
      clock.advance(11 * 60_000);
      const r = await refusal(login.login());
      assert.equal(r.status, 410);
      assert.equal(r.code, 'login_expired');
      assert.match(r.message, /more than 10 minutes ago; start again/);
    });

    for (const [tamper, claim] of [
      ['audience', 'aud'],
      ['issuer', 'iss'],
      ['nonce', 'nonce'],
      ['expired', 'exp'],
    ] as const) {
      it(`an ID token with a wrong ${claim}: the log names the claim`, async () => {
        const login = await start('alice');
        idp.tamper = tamper;
        const r = await refusal(login.login());
        assert.equal(r.code, 'login_check_failed');
        // The person is told what to do, not the details of the check.
        assert.doesNotMatch(r.message, /claim/);
        const logged = server.logs.lines.filter((l) => l.includes('provider login failed')).at(-1);
        assert.match(logged ?? '', new RegExp(`the ID token's \\\\"${claim}\\\\" claim failed`));
      });
    }

    it('failed logins are audited', async () => {
      const audit = await admin.listAudit({ action: 'login' });
      assert.ok(audit.items.some((e) => e.result === 'failure' && e.target.name === 'corp'));
    });
  });
}
