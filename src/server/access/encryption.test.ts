import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { TestClock } from '../../../test/clock.js';
import { engines, openTestDb } from '../../../test/engines.js';
import { startFakeVault, type FakeVault } from '../../../test/fake-vault/server.js';
import { startMoto, type Moto } from '../../../test/moto.js';
import { createLogger } from '../../shared/logger.js';
import { Secret } from '../../shared/secrets.js';
import type { RootKeyConfig } from '../config.js';
import type { OpenDb } from '../data/db.js';
import { createSigningKey } from '../data/signing-keys.js';
import { countStaleValues } from '../data/sealed-columns.js';
import { DataEncryption, STAGE_MS, openKeyring } from './encryption.js';

const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const clock = new TestClock();
const context = (kid: string) => `signing_keys.private_jwk:${kid}`;
const tmp = () => mkdtempSync(path.join(tmpdir(), 'infra-keys-'));

/** Signing-key rows with sealed private parts: the one sealed column this issue owns. */
async function addSealedRows(
  database: OpenDb,
  keyring: { seal(p: string, c: string): string },
  n: number,
  prefix = 'k',
) {
  const plain = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const kid = `${prefix}${i}-${randomBytes(4).toString('hex')}`;
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    plain.set(kid, secret);
    await createSigningKey(database.db, {
      kid,
      algorithm: 'ES512',
      publicJwk: '{}',
      privateJwk: keyring.seal(secret, context(kid)),
      createdAt: clock.now(),
      retiredAt: null,
    });
  }
  return plain;
}

async function sealedValues(database: OpenDb): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('signingKeys').select(['kid', 'privateJwk']).execute();
  return new Map(rows.map((r) => [r.kid, r.privateJwk]));
}

const nativeFile = (file: string): RootKeyConfig => ({ kind: 'native', file });

let vault: FakeVault;
let moto: Moto;
let kmsKeys: { a: string; b: string };
before(async () => {
  vault = await startFakeVault({ tokens: { 'vault-token': '' } });
  moto = await startMoto();
  const kms = new KMSClient(moto.clientConfig);
  const make = async () => (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  kmsKeys = { a: await make(), b: await make() };
});
after(async () => {
  await vault?.close();
  await moto?.stop();
});

const vaultKey = (token: string, key = 'infra-root'): RootKeyConfig => ({
  kind: 'vault',
  vault: { address: vault.address, token: new Secret(token) },
  transitMount: 'transit',
  key,
});
const kmsKey = (keyId: string): RootKeyConfig => ({
  kind: 'awskms',
  keyId,
  aws: {
    region: 'us-east-1',
    endpoint: moto.endpoint,
    accessKeyId: new Secret('test'),
    secretAccessKey: new Secret('test'),
  },
});

for (const engine of engines) {
  describe(`root keys [${engine}]`, () => {
    let database: OpenDb;
    before(async () => {
      database = await openTestDb(engine);
    });
    after(() => database.close());
    const fresh = async () => {
      await database.db.deleteFrom('signingKeys').execute();
      await database.db.deleteFrom('encryptionKeys').execute();
    };

    it('creates the native key file (0600) on a new database, and opens the data with it again', async () => {
      await fresh();
      const file = path.join(tmp(), 'root.key');
      const first = await openKeyring(database.db, { keyProvider: nativeFile(file) }, clock);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(readFileSync(file).length, 32);
      const plain = await addSealedRows(database, first.keyring, 2);
      const again = await openKeyring(database.db, { keyProvider: nativeFile(file) }, clock);
      for (const [kid, sealed] of await sealedValues(database)) {
        assert.equal(again.keyring.open(sealed, context(kid)), plain.get(kid));
      }
    });

    it('stops with one sentence when the native key file is missing or another key', async () => {
      await fresh();
      const dir = tmp();
      const file = path.join(dir, 'root.key');
      await openKeyring(database.db, { keyProvider: nativeFile(file) }, clock);
      const dataKey = (await database.db.selectFrom('encryptionKeys').select('id').execute())[0]!
        .id;
      rmSync(file);
      await assert.rejects(openKeyring(database.db, { keyProvider: nativeFile(file) }, clock), {
        message: `the root key ${file} is missing but the database holds data encrypted with it; restore the file (or point the server at the state directory it was in)`,
      });
      writeFileSync(file, randomBytes(32), { mode: 0o600 });
      await assert.rejects(openKeyring(database.db, { keyProvider: nativeFile(file) }, clock), {
        message: `the root key (native key file ${file}) cannot decrypt data key ${dataKey} of this database; start with the root key this database was created with`,
      });
    });

    it('takes the native key from a secret reference, and refuses one that is not 32 bytes', async () => {
      await fresh();
      const key = randomBytes(32).toString('base64');
      const config: RootKeyConfig = {
        kind: 'native',
        key: new Secret(key),
        reference: 'env:ROOT_KEY',
      };
      const { keyring } = await openKeyring(database.db, { keyProvider: config }, clock);
      const plain = await addSealedRows(database, keyring, 1);
      const again = await openKeyring(database.db, { keyProvider: config }, clock);
      const [kid, sealed] = [...(await sealedValues(database))][0]!;
      assert.equal(again.keyring.open(sealed, context(kid)), plain.get(kid));
      await assert.rejects(
        openKeyring(
          database.db,
          {
            keyProvider: {
              kind: 'native',
              key: new Secret(randomBytes(16).toString('base64')),
              reference: 'env:ROOT_KEY',
            },
          },
          clock,
        ),
        {
          message:
            'the root key env:ROOT_KEY must be 32 bytes in base64 (openssl rand -base64 32); it decodes to 16',
        },
      );
    });

    it('wraps the data key with Vault transit; a wrong token or another transit key stops it', async () => {
      await fresh();
      const { keyring } = await openKeyring(
        database.db,
        { keyProvider: vaultKey('vault-token') },
        clock,
      );
      const row = (await database.db.selectFrom('encryptionKeys').selectAll().execute())[0]!;
      assert.equal(row.provider, 'vault');
      assert.match(row.wrapped, /^vault:v1:/);
      const plain = await addSealedRows(database, keyring, 1);
      const again = await openKeyring(database.db, { keyProvider: vaultKey('vault-token') }, clock);
      const [kid, sealed] = [...(await sealedValues(database))][0]!;
      assert.equal(again.keyring.open(sealed, context(kid)), plain.get(kid));

      await assert.rejects(
        openKeyring(database.db, { keyProvider: vaultKey('wrong-token') }, clock),
        {
          message: `the root key (Vault transit key transit/infra-root at ${vault.address}) cannot decrypt data key ${row.id} of this database (Vault answered 403: permission denied); start with the root key this database was created with`,
        },
      );
      await assert.rejects(
        openKeyring(database.db, { keyProvider: vaultKey('vault-token', 'other') }, clock),
        {
          message: `the root key (Vault transit key transit/other at ${vault.address}) cannot decrypt data key ${row.id} of this database (Vault answered 400: encryption key not found); start with the root key this database was created with`,
        },
      );
    });

    it('makes and opens the data key with AWS KMS (real SDK, moto); another KMS key stops it', async (t) => {
      t.diagnostic(`AWS backend: moto_server at ${moto.endpoint}`);
      await fresh();
      const { keyring } = await openKeyring(database.db, { keyProvider: kmsKey(kmsKeys.a) }, clock);
      const row = (await database.db.selectFrom('encryptionKeys').selectAll().execute())[0]!;
      assert.equal(row.provider, 'awskms');
      const plain = await addSealedRows(database, keyring, 1);
      const again = await openKeyring(database.db, { keyProvider: kmsKey(kmsKeys.a) }, clock);
      const [kid, sealed] = [...(await sealedValues(database))][0]!;
      assert.equal(again.keyring.open(sealed, context(kid)), plain.get(kid));
      await assert.rejects(
        openKeyring(database.db, { keyProvider: kmsKey(kmsKeys.b) }, clock),
        (err: Error) => {
          assert.match(
            err.message,
            new RegExp(
              `^the root key \\(AWS KMS key ${kmsKeys.b}\\) cannot decrypt data key ${row.id} of this database \\(KMS: \\w+.*\\); start with the root key this database was created with$`,
            ),
          );
          return true;
        },
      );
    });

    it('says which root key wrapped the data when another kind is configured (KMS, then native)', async () => {
      await fresh();
      await openKeyring(database.db, { keyProvider: kmsKey(kmsKeys.a) }, clock);
      const row = (await database.db.selectFrom('encryptionKeys').selectAll().execute())[0]!;
      const file = path.join(tmp(), 'root.key');
      await assert.rejects(openKeyring(database.db, { keyProvider: nativeFile(file) }, clock), {
        message: `data key ${row.id} of this database is wrapped by an awskms root key, but the configured root key is native key file ${file}; configure the awskms root key it was made with as keyProvider (or as previousKeyProvider while moving to a new one)`,
      });
      // Nothing was made for the wrong key.
      assert.throws(() => statSync(file), { code: 'ENOENT' });
    });

    it('moves to a new root key: previousKeyProvider opens, the data keys are re-wrapped', async () => {
      await fresh();
      const file = path.join(tmp(), 'root.key');
      const { keyring } = await openKeyring(database.db, { keyProvider: nativeFile(file) }, clock);
      const plain = await addSealedRows(database, keyring, 2);
      const [dataKey] = await database.db.selectFrom('encryptionKeys').select('id').execute();

      await assert.rejects(
        openKeyring(database.db, { keyProvider: vaultKey('vault-token') }, clock),
        {
          message: `data key ${dataKey!.id} of this database is wrapped by a native root key, but the configured root key is Vault transit key transit/infra-root at ${vault.address}; configure the native root key it was made with as keyProvider (or as previousKeyProvider while moving to a new one)`,
        },
      );
      await openKeyring(
        database.db,
        { keyProvider: vaultKey('vault-token'), previousKeyProvider: nativeFile(file) },
        clock,
      );
      const rows = await database.db.selectFrom('encryptionKeys').selectAll().execute();
      assert.deepEqual(
        rows.map((r) => r.provider),
        ['vault'],
      );
      rmSync(file);
      const moved = await openKeyring(database.db, { keyProvider: vaultKey('vault-token') }, clock);
      for (const [kid, sealed] of await sealedValues(database)) {
        assert.equal(moved.keyring.open(sealed, context(kid)), plain.get(kid));
      }
    });
  });

  describe(`data key rotation and sealed values [${engine}]`, () => {
    let database: OpenDb;
    let rootFile: string;
    before(async () => {
      database = await openTestDb(engine);
      rootFile = path.join(tmp(), 'root.key');
    });
    after(() => database.close());
    const open = () => openKeyring(database.db, { keyProvider: nativeFile(rootFile) }, clock);

    it('tampering with one byte, or swapping two rows’ ciphertexts, fails to open', async () => {
      const { keyring } = await open();
      const plain = await addSealedRows(database, keyring, 2, 'tamper');
      const [a, b] = [...plain.keys()];
      const values = await sealedValues(database);
      const sealedA = values.get(a!)!;
      const body = Buffer.from(sealedA.split(':')[3]!, 'base64url');
      body[0] = body[0]! ^ 1;
      const parts = sealedA.split(':');
      const tampered = [...parts.slice(0, 3), body.toString('base64url')].join(':');
      assert.throws(() => keyring.open(tampered, context(a!)), /unable to authenticate data/);
      assert.throws(
        () => keyring.open(values.get(b!)!, context(a!)),
        /unable to authenticate data/,
      );
      assert.equal(keyring.open(sealedA, context(a!)), plain.get(a!));
    });

    it('keeps no plaintext (nor its base64) of a sealed value in the raw database', async () => {
      const { keyring } = await open();
      const plain = await addSealedRows(database, keyring, 1, 'raw');
      const secret = [...plain.values()][0]!;
      let raw: string;
      if (engine === 'sqlite') {
        const dir = path.dirname(database.location);
        raw = readdirSync(dir)
          .map((f) => readFileSync(path.join(dir, f)).toString('latin1'))
          .join('\n');
      } else {
        const dump = await sql<{ row: string }>`
          select t::text as row from signing_keys t
          union all select t::text from encryption_keys t`.execute(database.db);
        raw = dump.rows.map((r) => r.row).join('\n');
      }
      assert.ok(raw.length > 0);
      for (const form of [
        secret,
        Buffer.from(secret).toString('base64'),
        Buffer.from(secret).toString('base64url'),
      ]) {
        assert.equal(raw.includes(form), false, `found ${form.slice(0, 10)}… in the database`);
      }
    });

    it('rotates the data key without a failed read: staged, loaded everywhere, then used', async () => {
      const { keyring, roots } = await open();
      const plain = await addSealedRows(database, keyring, 450, 'load');
      // Another server, which reloads its keys on its timer; and one that missed the reload.
      const replica = await open();
      const late = await open();
      const encryption = new DataEncryption({
        db: database.db,
        keyring,
        roots,
        clock,
        log: quiet,
      });
      const before = keyring.activeKeyId;
      const { keyId, activeFrom } = await encryption.stage(STAGE_MS);
      assert.equal(activeFrom, clock.now() + STAGE_MS);
      assert.equal(keyring.activeKeyId, before);
      await replica.keyring.reload();
      assert.deepEqual(replica.keyring.staged, { id: keyId, from: activeFrom });

      const failures: string[] = [];
      let reads = 0;
      let stop = false;
      const kids = [...plain.keys()];
      const readers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const kid = kids[Math.floor(Math.random() * kids.length)]!;
          try {
            const row = await database.readDb
              .selectFrom('signingKeys')
              .select('privateJwk')
              .where('kid', '=', kid)
              .executeTakeFirstOrThrow();
            // The synchronous open: it must never meet a key it does not know.
            const value = replica.keyring.open(row.privateJwk, context(kid));
            if (value !== plain.get(kid)) failures.push(`${kid}: wrong value`);
            reads++;
          } catch (err) {
            failures.push(`${kid}: ${(err as Error).message}`);
          }
          await new Promise((r) => setImmediate(r));
        }
      });
      const writer = (async () => {
        let i = 0;
        while (!stop) {
          for (const [kid, v] of await addSealedRows(database, replica.keyring, 1, `w${i++}`)) {
            plain.set(kid, v);
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await new Promise((r) => setTimeout(r, 50));
      clock.advance(STAGE_MS);
      assert.equal(keyring.activeKeyId, keyId);
      assert.equal(replica.keyring.activeKeyId, keyId);
      const reencrypted = await encryption.reencrypt();
      await new Promise((r) => setTimeout(r, 50));
      stop = true;
      await Promise.all([...readers, writer]);
      assert.deepEqual(failures, []);
      assert.ok(reads > 0);
      assert.ok(reencrypted['signing_keys.private_jwk']! >= 450);

      // A value written under the old key just before the switch is moved by the next pass.
      await encryption.reencrypt();
      const stale = await countStaleValues(database.db, keyring);
      assert.equal(stale['signing_keys.private_jwk'], 0);
      assert.deepEqual(
        Object.entries(stale).filter(([, n]) => n !== 0),
        [],
      );
      const values = await sealedValues(database);
      for (const [kid, sealed] of values) {
        if (!plain.has(kid)) continue;
        assert.ok(sealed.startsWith(`v1:${keyId}:`));
        // A server that missed the reload learns the key the first time it meets it.
        assert.equal(await late.keyring.openLatest(sealed, context(kid)), plain.get(kid));
      }
    });
  });
}
