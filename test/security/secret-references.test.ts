import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../src/api/client.js';
import { ApiError } from '../../src/api/errors.js';
import { startFakeVault, type FakeVault } from '../fake-vault/server.js';
import { ADMIN, ADMIN_CONFIG } from '../identity.js';
import { startTestIdp, type TestIdp } from '../oidc-provider.js';
import { startTestServer, type TestServer } from '../server.js';

// A secret reference given through the API makes the server read that secret and send it to the
// provider's token endpoint, which the caller chooses. So the API may only name storages the
// operator declared, within the names the operator allowed; env:, file: and plaintext: (the
// server's own environment and files) belong in the config file only.

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('secret references given through the API', () => {
  let idp: TestIdp;
  let vault: FakeVault;
  let server: TestServer;
  let admin: ApiClient;
  const config = (allowed: string[]) => `${ADMIN_CONFIG}secrets:
  - kind: vault
    config: { address: '${vault.address}', token: env:VAULT_TOKEN }
apiSecretReferences: [${allowed.map((a) => `'${a}'`).join(', ')}]
`;
  const env = () => ({ VAULT_TOKEN: 'root-token', INFRA_DB_PASSWORD: 'the-db-password' });
  const signIn = async () =>
    server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });

  before(async () => {
    idp = await startTestIdp();
    idp.accounts.set('dave', { email: 'dave@example.com', groups: [] });
    vault = await startFakeVault({ tokens: { 'root-token': '' } });
    vault.putSecret('infra/providers/corp', { secret: idp.clientSecret });
    vault.putSecret('infra/db', { password: 'db-password-in-vault' });
    server = await startTestServer({
      configFile: config(['vault:infra/providers/*']),
      env: env(),
    });
    admin = await signIn();
  });
  after(async () => {
    await server?.close();
    await vault.close();
    await idp.close();
  });

  const provider = (clientSecretRef: string) => ({
    name: 'corp',
    kind: 'oidc' as const,
    url: idp.issuer,
    clientID: idp.clientId,
    clientSecretRef,
  });

  it('refuses the server’s own files and environment, and names outside the allowed ones', async () => {
    const requestsBefore = vault.requests.length;
    for (const ref of [
      `file:${path.join(server.stateDir, 'tls', 'server.key')}`,
      'env:INFRA_DB_PASSWORD',
      'plaintext:whatever',
      'vault:infra/db#password',
      'vault:infra/providers/../db#password',
      'vault:infra/providers/./x/../../db#password',
      'kubernetes:infra-tls/tls.key',
    ]) {
      const err = await refusal(admin.createProvider(provider(ref)));
      assert.equal(err.status, 400, ref);
      assert.equal(err.code, 'bad_request');
      assert.match(
        err.message,
        /clientSecretRef: (references given through the API must match one of vault:infra\/providers\/\* \(apiSecretReferences\); env:, file: and plaintext: references belong in the config file|must not contain \. or \.\. segments)/,
        ref,
      );
    }
    assert.equal((await admin.listProviders({})).count, 0, 'nothing was created');
    assert.equal(vault.requests.length, requestsBefore, 'nothing was read on their behalf');
  });

  it('accepts an allowed reference and reads it at login; refused on update too', async () => {
    const created = await admin.createProvider(provider('vault:infra/providers/corp#secret'));
    assert.equal(created.clientSecretRef, 'vault:infra/providers/corp#secret');
    const started = await server
      .client()
      .startProviderLogin({ id: created.id, redirectURL: 'http://127.0.0.1:40123/callback' });
    const back = await idp.signIn(started.authorizationURL, 'dave');
    const session = await server.client().login({
      oidc: { state: back.searchParams.get('state')!, code: back.searchParams.get('code')! },
    });
    assert.equal(session.name, 'dave@example.com');

    const err = await refusal(
      admin.updateProvider({ id: created.id, ...provider('env:INFRA_DB_PASSWORD') }),
    );
    assert.equal(err.status, 400);
    assert.equal(
      (await admin.getProvider({ id: created.id })).clientSecretRef,
      'vault:infra/providers/corp#secret',
    );
  });

  it('does not read a stored reference the operator no longer allows', async () => {
    server = await server.restart({ configFile: config([]), env: env() });
    admin = await signIn();
    const [corp] = (await admin.listProviders({ name: 'corp' })).items;
    const started = await server
      .client()
      .startProviderLogin({ id: corp!.id, redirectURL: 'http://127.0.0.1:40123/callback' });
    const back = await idp.signIn(started.authorizationURL, 'dave');
    const requestsBefore = vault.requests.length;
    const err = await refusal(
      server.client().login({
        oidc: { state: back.searchParams.get('state')!, code: back.searchParams.get('code')! },
      }),
    );
    assert.equal(err.status, 503);
    assert.equal(vault.requests.length, requestsBefore);
    assert.match(
      server.logs.text,
      /the secret reference vault:infra\/providers\/corp#secret is refused/,
    );
    // With no patterns, the API takes no references at all, and says how to allow some.
    const none = await refusal(
      admin.createProvider({ ...provider('vault:infra/providers/x'), name: 'x' }),
    );
    assert.match(none.message, /allows no secret references through the API.*apiSecretReferences/);
  });

  it('lets apiSecretReferences name only declared storages that are not env, file or plaintext', async () => {
    for (const [yaml, message] of [
      ['apiSecretReferences: [vault:infra/*]\n', /vault is not a storage declared under secrets/],
      [
        "secrets:\n  - {name: keys, kind: file, config: {path: /run/secrets}}\napiSecretReferences: ['keys:*']\n",
        /keys is a file storage, which reads the server's own environment or files; such references belong in the config file only/,
      ],
      ["apiSecretReferences: ['env:*']\n", /env is not a storage declared under secrets/],
    ] as const) {
      await assert.rejects(startTestServer({ configFile: yaml }), message);
    }
  });
});
