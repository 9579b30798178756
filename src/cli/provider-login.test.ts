import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/client.js';
import { infraBin, workstation, type Workstation } from '../../test/cli.js';
import { startAdminServer } from '../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../test/oidc-provider.js';
import type { TestServer } from '../../test/server.js';

/** `infra` as a child process whose stderr a test can watch while it runs. */
function startInfra(ws: Workstation, argv: string[]) {
  const child = spawn(process.execPath, [infraBin, ...argv], { env: ws.env });
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  return {
    exited,
    get stderr() {
      return stderr;
    },
    /** Resolves with the first match of `re` in stderr. */
    async waitFor(re: RegExp): Promise<RegExpExecArray> {
      for (;;) {
        const m = re.exec(stderr);
        if (m) return m;
        const done = await Promise.race([
          new Promise<false>((resolve) => waiters.push(() => resolve(false))),
          exited.then(() => true),
        ]);
        if (done) {
          const last = re.exec(stderr);
          if (last) return last;
          assert.fail(`infra exited before printing ${re}:\n${stderr}`);
        }
      }
    },
  };
}

describe('infra login --provider', () => {
  let server: TestServer;
  let admin: ApiClient;
  let adminKey: string;
  let idp: TestIdp;
  let login: string[];

  before(async () => {
    ({ server, admin, adminKey } = await startAdminServer('sqlite'));
    idp = await startTestIdp();
    idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
    await admin.createProvider({
      name: 'corp',
      kind: 'okta',
      url: idp.issuer,
      clientID: idp.clientId,
      clientSecret: idp.clientSecret,
    });
    const host = new URL(server.url).host;
    login = ['login', host, '--tls-trusted-fingerprint', server.running.fingerprint];
  });
  after(async () => {
    await server.close();
    await idp.close();
  });

  it('signs in through the browser and a loopback listener, ignoring foreign callbacks', async () => {
    const ws = workstation();
    const infra = startInfra(ws, [...login, '--provider', 'corp']);
    const [url] = await infra.waitFor(/http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/);
    assert.match(
      infra.stderr,
      /Open this URL in a browser on this machine to sign in through corp/,
    );
    const back = await idp.signIn(url, 'alice');
    assert.equal(back.pathname, '/callback');

    // Another local process cannot complete the login with a code of its own.
    const forged = await fetch(`${back.origin}/callback?state=forged&code=attacker`);
    assert.equal(forged.status, 400);

    const page = await fetch(back);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /You can close this tab/);
    assert.equal(await infra.exited, 0, infra.stderr);
    assert.match(infra.stderr, /Logged in as alice@example.com/);
    const state = JSON.parse(readFileSync(path.join(ws.home, '.infra', 'config'), 'utf8')) as {
      servers: Array<{ session?: { name: string } }>;
    };
    assert.equal(state.servers[0]?.session?.name, 'alice@example.com');
  });

  for (const [cause, account, tamper, page, said] of [
    [
      'an unverified email',
      'eve',
      undefined,
      /corp says your email address is not verified; verify it there/,
      /corp says your email address is not verified; verify it there, then run `infra login --provider corp` again/,
    ],
    [
      'an ID token for another client',
      'alice',
      'audience',
      /security check/,
      /corp's answer failed a security check on the server, so you are not signed in; tell an admin/,
    ],
  ] as const) {
    it(`says why the server refused the sign-in: ${cause}`, async () => {
      idp.accounts.set('eve', { email: 'eve@example.com', emailVerified: false, groups: [] });
      const ws = workstation();
      const infra = startInfra(ws, [...login, '--provider', 'corp']);
      const [url] = await infra.waitFor(/http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/);
      const back = await idp.signIn(url, account);
      idp.tamper = tamper;
      try {
        // The browser's page waits for the server: it never says "Signed in" for a refusal.
        const res = await fetch(back);
        const text = await res.text();
        assert.equal(res.status, 400);
        assert.match(text, /Sign-in failed/);
        assert.match(text, page);
        assert.doesNotMatch(text, /Signed in/);
      } finally {
        idp.tamper = undefined;
      }
      assert.equal(await infra.exited, 1);
      assert.match(infra.stderr, said);
      assert.doesNotMatch(infra.stderr, /the server log says why/);
    });
  }

  it('reports a sign-in the provider refused', async () => {
    const ws = workstation();
    const infra = startInfra(ws, [...login, '--provider', 'corp']);
    const [url] = await infra.waitFor(/http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/);
    const auth = new URL(url);
    const redirect = new URL(auth.searchParams.get('redirect_uri')!);
    redirect.search = new URLSearchParams({
      state: auth.searchParams.get('state')!,
      error: 'access_denied',
      error_description: 'User is not assigned to the client application.',
    }).toString();
    assert.equal((await fetch(redirect)).status, 400);
    assert.equal(await infra.exited, 1);
    assert.match(
      infra.stderr,
      /The identity provider did not sign you in: User is not assigned to the client application\./,
    );
  });

  it('signs a headless machine in with the device flow, approved from a signed-in browser', async () => {
    const ws = workstation();
    const infra = startInfra(ws, [...login, '--provider', 'corp', '--device']);
    const [, code] = await infra.waitFor(/approve the code\s+([A-Z]{4}-[A-Z]{4})/);
    assert.match(infra.stderr, new RegExp(`${server.url}/device\\?code=${code}`));
    await admin.approveDevice({ userCode: code! });
    assert.equal(await infra.exited, 0, infra.stderr);
    assert.match(infra.stderr, /Logged in as admin@example.com/);
  });

  it('lets an admin add, list, edit and remove a provider', async () => {
    const ws = workstation();
    assert.equal((await ws.run(...login, '--key', adminKey)).code, 0);
    const noSecret = await ws.run(
      'providers',
      'add',
      'okta2',
      '--kind',
      'okta',
      '--url',
      idp.issuer,
      '--client-id',
      'c',
    );
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.stderr, /set INFRA_PROVIDER_CLIENT_SECRET or pass --client-secret-ref/);

    ws.env.INFRA_PROVIDER_CLIENT_SECRET = idp.clientSecret;
    const added = await ws.run(
      'providers',
      'add',
      'okta2',
      '--kind',
      'okta',
      '--url',
      idp.issuer,
      '--client-id',
      idp.clientId,
      '--scopes',
      'openid,email,groups',
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /Added provider okta2 \(okta, http:\/\/127\.0\.0\.1:\d+\)/);
    assert.match(
      added.stderr,
      new RegExp(`  ${server.url}/login/callback\n  http://127.0.0.1/callback\n`),
    );
    delete ws.env.INFRA_PROVIDER_CLIENT_SECRET;

    const bad = await ws.run(
      'providers',
      'add',
      'down',
      '--kind',
      'oidc',
      '--url',
      'http://127.0.0.1:1',
      '--client-id',
      'c',
      '--client-secret-ref',
      'env:NOPE',
    );
    assert.equal(bad.code, 1);
    // References through the API are the operator's to allow (apiSecretReferences); env: never.
    assert.match(bad.stderr, /this server allows no secret references through the API/);
    ws.env.INFRA_PROVIDER_CLIENT_SECRET = 'c-secret';
    const down = await ws.run(
      'providers',
      'add',
      'down',
      '--kind',
      'oidc',
      '--url',
      'http://127.0.0.1:1',
      '--client-id',
      'c',
    );
    delete ws.env.INFRA_PROVIDER_CLIENT_SECRET;
    assert.equal(down.code, 1);
    assert.match(down.stderr, /discovery at http:\/\/127\.0\.0\.1:1.*cannot connect/);

    const edited = await ws.run('providers', 'edit', 'okta2', '--groups-claim', 'roles');
    assert.equal(edited.code, 0, edited.stderr);
    const listed = await ws.run('providers', 'list', '--format', 'json');
    const items = JSON.parse(listed.stdout) as Array<{
      name: string;
      groupsClaim: string;
      scopes: string[];
    }>;
    const okta2 = items.find((p) => p.name === 'okta2');
    assert.equal(okta2?.groupsClaim, 'roles');
    assert.deepEqual(okta2?.scopes, ['openid', 'email', 'groups'], 'what was not passed stays');
    assert.equal((await admin.listProviders({ name: 'okta2' })).count, 1);

    assert.equal((await ws.run('providers', 'remove', 'okta2')).code, 0);
    assert.equal((await admin.listProviders({ name: 'okta2' })).count, 0);
    assert.equal((await ws.run('providers', 'remove', 'okta2')).code, 1);
    assert.equal((await ws.run('providers', 'remove', 'okta2', '--force')).code, 0);
  });

  it('creates a SCIM token for a provider, shown once, that `keys remove` ends', async () => {
    const ws = workstation();
    assert.equal((await ws.run(...login, '--key', adminKey)).code, 0);
    const created = await ws.run('providers', 'scim-key', 'corp', '--expiry', '720h');
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^\w{10}\.\w{24}$/);
    const name = /Created SCIM token (scim-corp-\w+) for provider corp, expiring /.exec(
      created.stderr,
    )?.[1];
    assert.ok(name, created.stderr);
    assert.match(created.stderr, new RegExp(`SCIM base URL: ${server.url}/api/scim/v2\n`));
    const client = server.client({ accessKey: token });
    await assert.rejects(client.listUsers({}), /SCIM token can only provision/);
    const removed = await ws.run('keys', 'remove', name, '--user', 'scim');
    assert.equal(removed.code, 0, removed.stderr);
    await assert.rejects(client.listUsers({}), /unauthenticated/);
    const missing = await ws.run('providers', 'scim-key', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No provider named nope/);
  });

  it('names the providers it knows when asked for another, and wants --provider with --device', async () => {
    const ws = workstation();
    const unknown = await ws.run(...login, '--provider', 'nope');
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      'infra: This server has no identity provider named nope (it has: corp)\n',
    );
    const device = await ws.run(...login, '--device');
    assert.equal(device.code, 1);
    assert.match(device.stderr, /--device signs in through an identity provider: add --provider/);
  });
});
