import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  Secret,
  envStore,
  fileStore,
  plaintextStore,
  resolveSecret,
  type SecretStore,
} from './secrets.js';

describe('Secret', () => {
  it('never prints its value', () => {
    const s = new Secret('hunter22');
    assert.equal(String(s), '<redacted>');
    assert.equal(`${s}`, '<redacted>');
    assert.equal(JSON.stringify({ password: s }), '{"password":"<redacted>"}');
    assert.equal(inspect({ nested: { s } }, { depth: 5 }).includes('hunter22'), false);
    assert.equal(s.reveal(), 'hunter22');
  });
});

describe('resolveSecret', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-secrets-'));
  const file = path.join(dir, 'db-password');
  writeFileSync(file, 'from-a-file\n');
  const stores = new Map<string, SecretStore>([
    ['env', envStore({ DB_PASSWORD: 'from-env' })],
    ['file', fileStore()],
    ['plaintext', plaintextStore()],
  ]);

  it('reads env, file and plaintext references', async () => {
    assert.equal(
      (await resolveSecret('db.password', 'env:DB_PASSWORD', stores)).reveal(),
      'from-env',
    );
    assert.equal(
      (await resolveSecret('db.password', `file:${file}`, stores)).reveal(),
      'from-a-file',
    );
    assert.equal((await resolveSecret('db.password', 'plaintext:a:b:c', stores)).reveal(), 'a:b:c');
  });

  it('names the setting and the reference when it fails, never the value', async () => {
    await assert.rejects(resolveSecret('db.password', 'env:MISSING', stores), {
      message:
        'db.password: cannot resolve secret env:MISSING from storage "env": environment variable MISSING is not set',
    });
    await assert.rejects(resolveSecret('db.password', `file:${dir}/nope`, stores), {
      message: `db.password: cannot resolve secret file:${dir}/nope from storage "file": cannot read file ${dir}/nope: ENOENT`,
    });
    await assert.rejects(resolveSecret('tls.privateKey', 'vault:secret/x', stores), {
      message:
        'tls.privateKey refers to secret storage "vault", which is not configured (known: env, file, plaintext)',
    });
    await assert.rejects(resolveSecret('db.password', 'hunter22', stores), (err: Error) => {
      assert.equal(err.message.includes('hunter22'), false);
      assert.match(err.message, /must be a secret reference such as env:NAME/);
      return true;
    });
  });
});
