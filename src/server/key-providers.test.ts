import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startFakeVault, type FakeVault } from '../../test/fake-vault/server.js';
import { startTestServer, type TestServer } from '../../test/server.js';
import { engines } from '../../test/engines.js';
import { loadServerConfig } from './config.js';
import { runRotateKeys } from './rotate-keys.js';

const ADMIN = { name: 'admin@example.com', password: 'vault-held-password-1' };

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

const kids = async (server: TestServer) =>
  (await server.client().getJwks()).keys.map((k) => k.kid).sort();

for (const engine of engines) {
  describe(`infra server with a missing or wrong root key [${engine}]`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ engine });
    });
    after(() => server.close());

    it('stops with one sentence, and starts again with the right key', async () => {
      const file = path.join(server.stateDir, 'root.key');
      const original = readFileSync(file);
      const published = await kids(server);
      rmSync(file);
      await assert.rejects(server.restart(), {
        message: `the root key ${file} is missing but the database holds data encrypted with it; restore the file (or point the server at the state directory it was in)`,
      });
      // Never silently re-created: that would orphan what the old key encrypted.
      assert.throws(() => readFileSync(file), { code: 'ENOENT' });
      writeFileSync(file, randomBytes(32), { mode: 0o600 });
      await assert.rejects(server.restart(), (err: Error) => {
        assert.match(
          err.message,
          new RegExp(
            `^the root key \\(native key file ${file}\\) cannot decrypt data key dk-[a-z0-9]+ of this database; start with the root key this database was created with$`,
          ),
        );
        return true;
      });
      writeFileSync(file, original, { mode: 0o600 });
      server = await server.restart();
      assert.deepEqual(await kids(server), published);
    });
  });

  describe(`Vault from the config file: secret storage and root key, rotate-keys under load [${engine}]`, () => {
    let vault: FakeVault;
    let server: TestServer;
    let configFile: string;
    const env = { VAULT_TOKEN: 'server-token' };
    before(async () => {
      vault = await startFakeVault({ tokens: { 'server-token': '' } });
      vault.putSecret('infra/admin', { password: ADMIN.password });
      configFile = `
secrets:
  - kind: vault
    config: {address: '${vault.address}', token: env:VAULT_TOKEN}
keyProvider:
  kind: vault
  config: {address: '${vault.address}', token: env:VAULT_TOKEN, key: infra-root}
users:
  - name: ${ADMIN.name}
    password: vault:infra/admin#password
    infraRole: admin
`;
      server = await startTestServer({ engine, env, configFile });
    });
    after(async () => {
      await server?.close();
      await vault?.close();
    });

    it('reads the admin password from Vault and wraps the data key with transit', async () => {
      const session = await server.client().login({ passwordCredentials: ADMIN });
      assert.ok(session.accessKey);
      assert.ok(
        vault.requests.some(
          (r) =>
            r.path === '/v1/transit/encrypt/infra-root' ||
            r.path === '/v1/transit/decrypt/infra-root',
        ),
      );
      assert.equal(server.logs.text.includes(ADMIN.password), false);
    });

    it('rotates the data key while requests keep succeeding, and restarts on the new key', async () => {
      const session = await server.client().login({ passwordCredentials: ADMIN });
      const admin = server.client({ accessKey: session.accessKey });
      await admin.rotateSigningKey();
      const published = await kids(server);

      const db =
        server.config.db.kind === 'postgres'
          ? `db: {connectionString: '${server.config.db.connectionString}'}`
          : `db: {file: '${server.config.db.file}'}`;
      const rotateConfig = path.join(server.stateDir, 'rotate.yaml');
      writeFileSync(rotateConfig, `stateDir: '${server.stateDir}'\n${db}\n${configFile}`);

      const failures: string[] = [];
      let requests = 0;
      let stop = false;
      const load = Array.from({ length: 3 }, async () => {
        while (!stop) {
          try {
            await admin.listUsers({});
            await server.client().getJwks();
            requests += 2;
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      });
      const stdout = new Collect();
      const stderr = new Collect();
      const rotation = runRotateKeys(['-f', rotateConfig, '--activate-after', '2s'], env, {
        stdout,
        stderr,
      });
      // The running server loads the staged key before it is used (its timer, or SIGHUP).
      while (!stdout.text.includes('Waiting') && !stderr.text) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await server.running.reload();
      const code = await rotation;
      stop = true;
      await Promise.all(load);
      assert.equal(stderr.text, '');
      assert.equal(code, 0);
      assert.match(
        stdout.text,
        new RegExp(
          `^Data key (dk-[a-z0-9]+) made; it becomes active at \\S+, once running servers have loaded it\\. Waiting \\d+s\\.\\nData key \\1 is active, wrapped by Vault transit key transit/infra-root at ${vault.address.replaceAll('.', '\\.')}\\. Re-encrypted 2 values \\(signing_keys\\.private_jwk: 2(, [a-z_.]+: \\d+)*\\)\\.\\n$`,
        ),
      );
      assert.deepEqual(failures, []);
      assert.ok(requests > 0);

      // New values are sealed with the new key, without a reload.
      await admin.rotateSigningKey();
      server = await server.restart();
      const after = await kids(server);
      assert.equal(after.length, published.length + 1);
      for (const kid of published) assert.ok(after.includes(kid));
    });

    it('refuses rotate-keys with a wrong Vault token, in one sentence', async () => {
      const rotateConfig = path.join(server.stateDir, 'rotate.yaml');
      const stdout = new Collect();
      const stderr = new Collect();
      const code = await runRotateKeys(
        ['-f', rotateConfig],
        { VAULT_TOKEN: 'stolen' },
        { stdout, stderr },
      );
      assert.equal(code, 1);
      assert.equal(stdout.text, '');
      // The token is checked first where it is first used: reading the admin password.
      assert.equal(
        stderr.text,
        `infra server rotate-keys: users[0].password: cannot resolve secret vault:infra/admin#password from storage "vault": cannot read secret/infra/admin from ${vault.address}: Vault answered 403: permission denied\n`,
      );
      assert.equal(stderr.text.includes('stolen'), false);
    });
  });
}

describe('infra server rotate-keys arguments', () => {
  it('prints its usage with --help, and refuses a bad --activate-after in one sentence', async () => {
    const out = new Collect();
    const err = new Collect();
    assert.equal(await runRotateKeys(['--help'], {}, { stdout: out, stderr: err }), 0);
    assert.match(
      out.text,
      /^Usage: infra server rotate-keys \[-f <config file>\] \[--activate-after <duration>\]/,
    );
    const out2 = new Collect();
    const err2 = new Collect();
    assert.equal(
      await runRotateKeys(['--activate-after', 'soon'], {}, { stdout: out2, stderr: err2 }),
      2,
    );
    assert.equal(
      err2.text,
      'infra server rotate-keys: --activate-after "soon" is not a duration; use forms like 90s or 2m\n',
    );
    assert.equal(out2.text, '');
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-rotate-'));
    const err3 = new Collect();
    assert.equal(
      await runRotateKeys([], { INFRA_SERVER_STATE_DIR: dir }, { stdout: out2, stderr: err3 }),
      1,
    );
    assert.equal(
      err3.text,
      `infra server rotate-keys: there is no database at ${dir}/infra.db; give the configuration the server runs with (-f)\n`,
    );
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('key provider and secret storage settings', () => {
  const load = async (yaml: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-kp-config-'));
    const file = path.join(dir, 'infra.yaml');
    writeFileSync(file, yaml);
    return loadServerConfig({ file, env: {}, flags: { stateDir: dir } }).then(
      () => 'loaded',
      (err: Error) => `${err.name}: ${err.message.replace(file, '<file>')}`,
    );
  };

  it('stops start-up with one sentence naming the key, or the cycle', async () => {
    assert.equal(
      await load('keyProvider: {kind: native, config: {file: a, bogus: 1}}\n'),
      'ConfigError: invalid setting keyProvider.config.bogus (from config file <file>): not a setting of the native key provider; known: file, key',
    );
    assert.equal(
      await load("keyProvider: {kind: vault, config: {token: 'env:T'}}\n"),
      'ConfigError: invalid setting keyProvider.config.address (from config file <file>): Invalid input: expected string, received undefined',
    );
    assert.equal(
      await load(
        "keyProvider: {kind: vault, config: {address: 'http://vault.internal:8200', token: 'env:T'}}\n",
      ),
      'ConfigError: invalid setting keyProvider.config.address (from config file <file>): must be an https:// URL (http:// only on loopback)',
    );
    assert.equal(
      await load("keyProvider: {kind: awskms, config: {keyId: k, accessKeyId: 'env:A'}}\n"),
      'ConfigError: invalid setting keyProvider.config (from config file <file>): give both accessKeyId and secretAccessKey, or neither (the default chain)',
    );
    assert.equal(
      await load(
        "secrets:\n  - {name: a, kind: vault, config: {address: 'http://127.0.0.1:1', token: 'b:t'}}\n  - {name: b, kind: awssm, config: {accessKeyId: 'a:k', secretAccessKey: 'env:S'}}\n",
      ),
      'ConfigError: secret storages refer to each other in a cycle: a → b → a',
    );
    assert.equal(
      await load(
        "secrets:\n  - {kind: vault, config: {address: 'http://127.0.0.1:1', token: 'env:T', mount: x}}\n",
      ),
      'ConfigError: invalid setting secrets.0.config.mount (from config file <file>): not a setting of a vault storage; known: address, token, namespace, secretMount, caCertificate',
    );
  });
});
