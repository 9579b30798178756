import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startFakeKube, type FakeKube } from '../../test/fake-kube/server.js';
import { startFakeVault, type FakeVault } from '../../test/fake-vault/server.js';
import { startMoto, type Moto } from '../../test/moto.js';
import { SecretStorageDeclaration, buildSecretResolver } from './secret-storages.js';

const declare = (list: unknown[]) => list.map((d) => SecretStorageDeclaration.parse(d));
const errorText = (err: unknown) => (err as Error).message;

describe('secret storages: env, file and plaintext with base64', () => {
  it('decodes base64 when asked, and rejects what is not base64', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-storages-'));
    writeFileSync(path.join(dir, 'key'), Buffer.from('from a file').toString('base64') + '\n');
    const resolver = await buildSecretResolver(
      declare([
        { name: 'b64env', kind: 'env', config: { base64: true } },
        { name: 'keys', kind: 'file', config: { base64: true, path: dir } },
        { name: 'b64', kind: 'plaintext', config: { base64: true } },
      ]),
      { env: { GOOD: Buffer.from('s3cr3t:é').toString('base64url'), BAD: 'not*base64' } },
    );
    assert.equal((await resolver.resolve('a', 'b64env:GOOD')).reveal(), 's3cr3t:é');
    assert.equal((await resolver.resolve('a', 'keys:key')).reveal(), 'from a file');
    assert.equal((await resolver.resolve('a', 'b64:aGk=')).reveal(), 'hi');
    await assert.rejects(resolver.resolve('db.password', 'b64env:BAD'), {
      message:
        'db.password: cannot resolve secret b64env:BAD from storage "b64env": the value is not valid base64',
    });
  });

  it('refuses a cycle between storages and names it', async () => {
    await assert.rejects(
      buildSecretResolver(
        declare([
          { name: 'a', kind: 'vault', config: { address: 'http://127.0.0.1:1', token: 'b:x' } },
          { name: 'b', kind: 'vault', config: { address: 'http://127.0.0.1:1', token: 'c:x' } },
          { name: 'c', kind: 'awssm', config: { accessKeyId: 'a:k', secretAccessKey: 'env:S' } },
        ]),
        { env: {} },
      ),
      { message: 'secret storages refer to each other in a cycle: a → b → c → a' },
    );
    await assert.rejects(
      buildSecretResolver(
        declare([{ kind: 'vault', config: { address: 'http://127.0.0.1:1', token: 'vault:t' } }]),
        { env: {} },
      ),
      {
        message:
          'secret storages refer to each other in a cycle: vault → vault (secrets[0].config.token)',
      },
    );
  });

  it('refuses two storages with one name, and bad config with the path of the key', async () => {
    await assert.rejects(
      buildSecretResolver(declare([{ kind: 'env' }, { kind: 'env', config: { base64: true } }]), {
        env: {},
      }),
      { message: 'secrets[1]: another storage is already named "env"; give each a unique name' },
    );
    const parsed = SecretStorageDeclaration.safeParse({
      kind: 'vault',
      config: { address: 'not a url', token: 'env:T' },
    });
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error!.issues.map((i) => i.path.join('.')),
      ['config.address'],
    );
  });

  it('re-reads on refresh, keeps the last value when a re-read fails, and says which', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-storages-'));
    const file = path.join(dir, 'pw');
    writeFileSync(file, 'first');
    const resolver = await buildSecretResolver([], { env: {} });
    const secret = await resolver.resolve('db.password', `file:${file}`);
    writeFileSync(file, 'second');
    assert.equal(secret.reveal(), 'first');
    assert.deepEqual(await resolver.refresh(), { changed: ['db.password'], failed: [] });
    assert.equal(secret.reveal(), 'second');
    writeFileSync(file, 'third');
    const { rmSync } = await import('node:fs');
    rmSync(file);
    const result = await resolver.refresh();
    assert.equal(secret.reveal(), 'second');
    assert.deepEqual(result.failed, [
      {
        setting: 'db.password',
        reference: `file:${file}`,
        message: `db.password: cannot resolve secret file:${file} from storage "file": cannot read file ${file}: ENOENT`,
      },
    ]);
  });
});

describe('secret storage: vault (KV v2)', () => {
  let vault: FakeVault;
  before(async () => {
    vault = await startFakeVault({ tokens: { 'root-token': '', 'team-token': 'team' } });
    vault.putSecret('infra/db', { password: 'pg-s3cr3t', user: 'infra' });
    vault.putSecret('infra/single', { data: 'only-field' });
    vault.putSecret('infra/db', { password: 'team-s3cr3t' }, { namespace: 'team' });
  });
  after(() => vault.close());

  it('reads a field, the only field, and a namespaced secret with a token from env', async () => {
    const resolver = await buildSecretResolver(
      declare([
        { kind: 'vault', config: { address: vault.address, token: 'env:VAULT_TOKEN' } },
        {
          name: 'team',
          kind: 'vault',
          config: { address: vault.address, token: 'env:TEAM_TOKEN', namespace: 'team' },
        },
      ]),
      { env: { VAULT_TOKEN: 'root-token', TEAM_TOKEN: 'team-token' } },
    );
    assert.equal((await resolver.resolve('x', 'vault:infra/db#password')).reveal(), 'pg-s3cr3t');
    assert.equal((await resolver.resolve('x', 'vault:infra/single')).reveal(), 'only-field');
    assert.equal((await resolver.resolve('x', 'team:infra/db#password')).reveal(), 'team-s3cr3t');
    const last = vault.requests.at(-1)!;
    assert.deepEqual(
      { path: last.path, namespace: last.namespace },
      { path: '/v1/secret/data/infra/db', namespace: 'team' },
    );
  });

  it('says what is missing or refused, without values', async () => {
    const resolver = await buildSecretResolver(
      declare([
        { kind: 'vault', config: { address: vault.address, token: 'plaintext:root-token' } },
        { name: 'wrong', kind: 'vault', config: { address: vault.address, token: 'env:WRONG' } },
      ]),
      { env: { WRONG: 'not-a-token' } },
    );
    await assert.rejects(resolver.resolve('db.password', 'vault:infra/nope#password'), {
      message: `db.password: cannot resolve secret vault:infra/nope#password from storage "vault": no secret infra/nope in the KV v2 mount secret at ${vault.address}`,
    });
    await assert.rejects(resolver.resolve('db.password', 'vault:infra/db'), {
      message:
        'db.password: cannot resolve secret vault:infra/db from storage "vault": secret infra/db has fields password, user; name one as infra/db#<field>',
    });
    await assert.rejects(resolver.resolve('db.password', 'wrong:infra/db#password'), (err) => {
      assert.equal(
        errorText(err),
        `db.password: cannot resolve secret wrong:infra/db#password from storage "wrong": cannot read secret/infra/db from ${vault.address}: Vault answered 403: permission denied`,
      );
      assert.ok(!errorText(err).includes('not-a-token'));
      return true;
    });
  });

  it('fails when the token storage cannot give the token', async () => {
    await assert.rejects(
      buildSecretResolver(
        declare([{ kind: 'vault', config: { address: vault.address, token: 'env:NOPE' } }]),
        { env: {} },
      ),
      {
        message:
          'secrets[0].config.token: cannot resolve secret env:NOPE from storage "env": environment variable NOPE is not set',
      },
    );
  });

  it('sees a rotated value on refresh', async () => {
    vault.putSecret('infra/rotating', { password: 'v1' });
    const resolver = await buildSecretResolver(
      declare([{ kind: 'vault', config: { address: vault.address, token: 'env:T' } }]),
      { env: { T: 'root-token' } },
    );
    const secret = await resolver.resolve('db.password', 'vault:infra/rotating#password');
    vault.putSecret('infra/rotating', { password: 'v2' });
    const result = await resolver.refresh();
    assert.deepEqual(result.changed, ['db.password']);
    assert.equal(secret.reveal(), 'v2');
  });
});

describe('secret storage: kubernetes', () => {
  let kube: FakeKube;
  let kubeconfig: string;
  before(async () => {
    kube = await startFakeKube({ tokens: { 'reader-token': { user: 'reader' } } });
    kube.addNamespace('infra');
    kube.seed('secrets', {
      metadata: { name: 'db', namespace: 'infra' },
      data: { password: Buffer.from('kube-s3cr3t').toString('base64') },
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-kube-'));
    kubeconfig = path.join(dir, 'admin');
    writeFileSync(kubeconfig, kube.kubeconfig(kube.adminToken, 'infra'));
    writeFileSync(path.join(dir, 'reader'), kube.kubeconfig('reader-token', 'infra'));
  });
  after(() => kube.close());

  it('reads <secret>/<key> in the namespace of the context, or the one configured', async () => {
    const resolver = await buildSecretResolver(
      declare([
        { name: 'k', kind: 'kubernetes', config: { kubeconfig, namespace: 'infra' } },
        { name: 'other', kind: 'kubernetes', config: { kubeconfig, namespace: 'default' } },
      ]),
      { env: {}, kubeconfig },
    );
    assert.equal((await resolver.resolve('x', 'kubernetes:db/password')).reveal(), 'kube-s3cr3t');
    assert.equal((await resolver.resolve('x', 'k:db/password')).reveal(), 'kube-s3cr3t');
    await assert.rejects(resolver.resolve('db.password', 'other:db/password'), {
      message:
        'db.password: cannot resolve secret other:db/password from storage "other": secret db not found in namespace default',
    });
    await assert.rejects(resolver.resolve('db.password', 'k:db/user'), {
      message:
        'db.password: cannot resolve secret k:db/user from storage "k": secret db in namespace infra has no key user',
    });
    await assert.rejects(resolver.resolve('db.password', 'k:db'), {
      message:
        'db.password: cannot resolve secret k:db from storage "k": a Kubernetes secret reference has the form <secret>/<key>',
    });
  });

  it('says so when RBAC refuses to read the secret', async () => {
    const resolver = await buildSecretResolver([], {
      env: {},
      kubeconfig: path.join(path.dirname(kubeconfig), 'reader'),
    });
    await assert.rejects(resolver.resolve('db.password', 'kubernetes:db/password'), {
      message:
        'db.password: cannot resolve secret kubernetes:db/password from storage "kubernetes": Kubernetes refused to read secret db in namespace infra (403); grant get on secrets',
    });
  });
});

describe('secret storage: AWS Secrets Manager and SSM Parameter Store (real SDK, moto_server)', () => {
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
    const sm = new SecretsManagerClient(moto.clientConfig);
    await sm.send(new CreateSecretCommand({ Name: 'infra/db', SecretString: 'sm-s3cr3t' }));
    await sm.send(
      new CreateSecretCommand({ Name: 'infra/json', SecretString: '{"password":"json-s3cr3t"}' }),
    );
    const ssm = new SSMClient(moto.clientConfig);
    await ssm.send(
      new PutParameterCommand({ Name: '/infra/db', Value: 'ssm-s3cr3t', Type: 'SecureString' }),
    );
  });
  after(() => moto?.stop());

  const awsStorages = () =>
    declare([
      {
        kind: 'awssm',
        config: {
          region: 'us-east-1',
          endpoint: moto.endpoint,
          accessKeyId: 'env:AWS_KEY',
          secretAccessKey: 'env:AWS_SECRET',
        },
      },
      {
        kind: 'awsssm',
        config: {
          region: 'us-east-1',
          endpoint: moto.endpoint,
          accessKeyId: 'plaintext:test',
          secretAccessKey: 'env:AWS_SECRET',
        },
      },
    ]);

  it('reads a secret, a JSON key of a secret, and a SecureString parameter', async (t) => {
    t.diagnostic(`AWS backend: moto_server at ${moto.endpoint}`);
    const resolver = await buildSecretResolver(awsStorages(), {
      env: { AWS_KEY: 'test', AWS_SECRET: 'test' },
    });
    const rotating = await resolver.resolve('db.password', 'awssm:infra/db');
    assert.equal(rotating.reveal(), 'sm-s3cr3t');
    assert.equal(
      (await resolver.resolve('x', 'awssm:infra/json#password')).reveal(),
      'json-s3cr3t',
    );
    assert.equal((await resolver.resolve('x', 'awsssm:/infra/db')).reveal(), 'ssm-s3cr3t');

    await new SecretsManagerClient(moto.clientConfig).send(
      new PutSecretValueCommand({ SecretId: 'infra/db', SecretString: 'sm-rotated' }),
    );
    await resolver.refresh();
    assert.equal(rotating.reveal(), 'sm-rotated');
  });

  it('names the missing secret or parameter and the storage', async () => {
    const resolver = await buildSecretResolver(awsStorages(), {
      env: { AWS_KEY: 'test', AWS_SECRET: 'test' },
    });
    await assert.rejects(resolver.resolve('db.password', 'awssm:infra/missing'), (err) => {
      assert.match(
        errorText(err),
        /^db\.password: cannot resolve secret awssm:infra\/missing from storage "awssm": Secrets Manager: ResourceNotFoundException: /,
      );
      return true;
    });
    await assert.rejects(resolver.resolve('db.password', 'awsssm:/infra/missing'), (err) => {
      assert.match(
        errorText(err),
        /^db\.password: cannot resolve secret awsssm:\/infra\/missing from storage "awsssm": SSM Parameter Store: ParameterNotFound/,
      );
      return true;
    });
    await assert.rejects(resolver.resolve('db.password', 'awssm:infra/db#password'), {
      message:
        'db.password: cannot resolve secret awssm:infra/db#password from storage "awssm": secret infra/db is not a JSON object, so it has no key password',
    });
  });
});
