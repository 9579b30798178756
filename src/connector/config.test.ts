import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKube, type FakeKube } from '../../test/fake-kube/server.js';
import { startFakeVault, type FakeVault } from '../../test/fake-vault/server.js';
import { loadConnectorConfig } from './config.js';

describe('loadConnectorConfig: server.accessKey from secret storages', () => {
  let kube: FakeKube;
  let vault: FakeVault;
  let dir: string;
  before(async () => {
    kube = await startFakeKube();
    kube.addNamespace('infra');
    kube.seed('secrets', {
      metadata: { name: 'connector', namespace: 'infra' },
      data: { 'access-key': Buffer.from('AbCdEfGhIj.from-kubernetes-secret-0').toString('base64') },
    });
    vault = await startFakeVault({ tokens: { 'connector-token': '' } });
    vault.putSecret('connectors/prod', { accessKey: 'AbCdEfGhIj.from-vault-secret-00000' });
    dir = mkdtempSync(path.join(tmpdir(), 'infra-connector-config-'));
    writeFileSync(path.join(dir, 'kubeconfig'), kube.kubeconfig(kube.adminToken, 'infra'));
  });
  after(async () => {
    await kube.close();
    await vault.close();
  });

  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
    const file = path.join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      `name: prod\nkubeconfig: ${path.join(dir, 'kubeconfig')}\nserver: {url: 'https://infra.example.com'${yaml}}\n`,
    );
    return loadConnectorConfig({ file, env, flags: {} });
  };

  it('reads kubernetes:<secret>/<key> with the connector’s own kube access', async () => {
    const config = await load(', accessKey: kubernetes:connector/access-key');
    assert.equal(config.server.accessKey.reveal(), 'AbCdEfGhIj.from-kubernetes-secret-0');
  });

  it('reads a declared Vault storage whose token comes from env', async () => {
    const file = path.join(dir, 'vault.yaml');
    writeFileSync(
      file,
      `name: prod
kubeconfig: ${path.join(dir, 'kubeconfig')}
secrets:
  - kind: vault
    config: {address: '${vault.address}', token: env:VAULT_TOKEN}
server: {url: 'https://infra.example.com', accessKey: 'vault:connectors/prod#accessKey'}
`,
    );
    const config = await loadConnectorConfig({
      file,
      env: { VAULT_TOKEN: 'connector-token' },
      flags: {},
    });
    assert.equal(config.server.accessKey.reveal(), 'AbCdEfGhIj.from-vault-secret-00000');
  });

  it('takes the server fingerprint in any common spelling, and refuses what is not one', async () => {
    const hex = 'ab'.repeat(32);
    const config = await load(`, accessKey: env:KEY, trustedFingerprint: 'sha256:${hex}'`, {
      KEY: 'AbCdEfGhIj.from-env-0000000000000',
    });
    assert.deepEqual(config.server.trust, {
      kind: 'fingerprint',
      fingerprint: Array(32).fill('AB').join(':'),
    });
    await assert.rejects(
      load(`, accessKey: env:KEY, trustedFingerprint: '${hex.slice(2)}'`, { KEY: 'x' }),
      /server\.trustedFingerprint.*must be a SHA-256 fingerprint: 64 hex digits, with or without colons/,
    );
  });

  it('names the reference and the storage when the secret is missing', async () => {
    await assert.rejects(load(', accessKey: kubernetes:connector/nope'), {
      message:
        'server.accessKey: cannot resolve secret kubernetes:connector/nope from storage "kubernetes": secret connector in namespace infra has no key nope',
    });
  });
});

describe('loadConnectorConfig: failClosedAfter', () => {
  const load = (flags: Record<string, string> = {}) =>
    loadConnectorConfig({
      env: {},
      flags: {
        name: 'prod',
        'server.url': 'https://infra.example.com',
        'server.accessKey': 'plaintext:AbCdEfGhIj.0123456789abcdefghijkl',
        ...flags,
      },
    });

  it('is off by default: the last known access stays in force', async () => {
    assert.equal((await load()).failClosedAfterMs, 0);
  });

  it('reads a duration of at least a second', async () => {
    assert.equal((await load({ failClosedAfter: '5m' })).failClosedAfterMs, 300_000);
    await assert.rejects(load({ failClosedAfter: '500ms' }), /failClosedAfter.*at least 1s/);
    await assert.rejects(load({ failClosedAfter: 'soon' }), /failClosedAfter.*not a duration/);
  });
});

describe('loadConnectorConfig: direct or tunnel mode', () => {
  const load = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
    loadConnectorConfig({
      env,
      flags: {
        name: 'prod',
        'server.url': 'https://infra.example.com',
        'server.accessKey': 'plaintext:AbCdEfGhIj.secret-0000000000000000',
        ...flags,
      },
    });

  it('listens on :9443 in direct mode, and nowhere in tunnel mode unless asked', async () => {
    const direct = await load({});
    assert.equal(direct.tunnel, false);
    assert.equal(direct.addr.https?.port, 9443);
    assert.match(direct.endpoint, /^https:\/\/.+:9443$/);
    const tunnel = await load({ tunnel: 'true' });
    assert.equal(tunnel.tunnel, true);
    assert.equal(tunnel.addr.https, undefined);
    assert.equal(tunnel.endpoint, '');
    const both = await load({ tunnel: 'true', 'addr.https': '127.0.0.1:9555' });
    assert.equal(both.addr.https?.port, 9555);
  });

  it('refuses an endpoint in tunnel mode: kubectl goes through the server', async () => {
    await assert.rejects(
      load({ tunnel: 'true', endpoint: 'https://prod.example.com:9443' }),
      /endpoint.*leave endpoint out/,
    );
  });

  it('takes HTTPS_PROXY, unless NO_PROXY names the server', async () => {
    const proxied = await load({}, { HTTPS_PROXY: 'http://proxy.internal:3128' });
    assert.equal(proxied.server.proxy?.host, 'proxy.internal:3128');
    const lower = await load({}, { https_proxy: 'proxy.internal:3128' });
    assert.equal(lower.server.proxy?.host, 'proxy.internal:3128');
    for (const noProxy of [
      'infra.example.com',
      '.example.com',
      'example.com',
      '*',
      'a, example.com:443',
    ]) {
      const direct = await load({}, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy });
      assert.equal(direct.server.proxy, undefined, noProxy);
    }
    const other = await load({}, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'ample.com' });
    assert.ok(other.server.proxy, 'a suffix matches whole labels only');
    await assert.rejects(load({}, { HTTPS_PROXY: 'socks5://proxy:1080' }), /http:\/\/ proxy/);
  });
});
