import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeVault, type FakeVault } from './server.js';

/** The fake answers as Vault 1.15 does, for the calls we make (shapes checked against its docs). */
describe('fake Vault', () => {
  let vault: FakeVault;
  before(async () => {
    vault = await startFakeVault({ tokens: { root: '', team: 'team' } });
  });
  after(() => vault.close());

  const call = async (
    method: string,
    path: string,
    options: { token?: string; namespace?: string; body?: unknown } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (options.token) headers['X-Vault-Token'] = options.token;
    if (options.namespace) headers['X-Vault-Namespace'] = options.namespace;
    const res = await fetch(`${vault.address}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read Vault's JSON by path
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };

  it('refuses a missing or unknown token, and a token outside its namespace', async () => {
    for (const options of [{}, { token: 'nope' }, { token: 'team' }]) {
      assert.deepEqual(await call('GET', '/v1/secret/data/x', options), {
        status: 403,
        body: { errors: ['permission denied'] },
      });
    }
  });

  it('writes and reads KV v2 versions, and answers 404 with no errors for a missing path', async () => {
    const put = await call('POST', '/v1/secret/data/app/db', {
      token: 'root',
      body: { data: { password: 'one' } },
    });
    assert.equal(put.status, 200);
    assert.equal(put.body.data.version, 1);
    await call('PUT', '/v1/secret/data/app/db', {
      token: 'root',
      body: { data: { password: 'two' } },
    });
    const got = await call('GET', '/v1/secret/data/app/db', { token: 'root' });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.data.data, { password: 'two' });
    assert.equal(got.body.data.metadata.version, 2);
    assert.equal(got.body.lease_id, '');
    assert.deepEqual(await call('GET', '/v1/secret/data/app/none', { token: 'root' }), {
      status: 404,
      body: { errors: [] },
    });
    const other = await call('GET', '/v1/secret/data/app/db', { token: 'team', namespace: 'team' });
    assert.equal(other.status, 404);
    assert.match(
      (await call('GET', '/v1/nope/data/x', { token: 'root' })).body.errors[0],
      /no handler for route/,
    );
  });

  it('encrypts to vault:v1: and decrypts only with the same associated data and an intact text', async () => {
    const aad = Buffer.from('row-1').toString('base64');
    const enc = await call('POST', '/v1/transit/encrypt/k', {
      token: 'root',
      body: { plaintext: Buffer.from('data key').toString('base64'), associated_data: aad },
    });
    assert.equal(enc.status, 200);
    const ciphertext = enc.body.data.ciphertext as string;
    assert.match(ciphertext, /^vault:v1:[A-Za-z0-9+/=]+$/);
    const dec = await call('POST', '/v1/transit/decrypt/k', {
      token: 'root',
      body: { ciphertext, associated_data: aad },
    });
    assert.equal(Buffer.from(dec.body.data.plaintext, 'base64').toString(), 'data key');
    const wrongAad = await call('POST', '/v1/transit/decrypt/k', {
      token: 'root',
      body: { ciphertext, associated_data: Buffer.from('row-2').toString('base64') },
    });
    assert.deepEqual(wrongAad, {
      status: 400,
      body: { errors: ['cipher: message authentication failed'] },
    });
    const raw = Buffer.from(ciphertext.slice('vault:v1:'.length), 'base64');
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 1;
    const tampered = await call('POST', '/v1/transit/decrypt/k', {
      token: 'root',
      body: { ciphertext: `vault:v1:${raw.toString('base64')}`, associated_data: aad },
    });
    assert.equal(tampered.status, 400);
    assert.deepEqual(
      await call('POST', '/v1/transit/decrypt/missing', { token: 'root', body: { ciphertext } }),
      { status: 400, body: { errors: ['encryption key not found'] } },
    );
    // After Vault rotates its key, old ciphertexts still decrypt and new ones name v2.
    assert.equal((await call('POST', '/v1/transit/keys/k/rotate', { token: 'root' })).status, 204);
    const again = await call('POST', '/v1/transit/decrypt/k', {
      token: 'root',
      body: { ciphertext, associated_data: aad },
    });
    assert.equal(again.status, 200);
    const enc2 = await call('POST', '/v1/transit/encrypt/k', {
      token: 'root',
      body: { plaintext: 'AA==', associated_data: aad },
    });
    assert.match(enc2.body.data.ciphertext, /^vault:v2:/);
  });
});
