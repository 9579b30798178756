import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ApiClient } from '../api/client.js';
import { engines } from '../../test/engines.js';
import { startAdminServer } from '../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../test/oidc-provider.js';
import { dashboardLogin } from '../../test/provider-login.js';
import type { TestServer } from '../../test/server.js';
import { openDb } from './data/db.js';
import { runRotateKeys } from './rotate-keys.js';

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

/** Everything the database holds, as text: the SQLite files, or every PostgreSQL row. */
async function rawDatabase(server: TestServer): Promise<string> {
  const config = server.config.db;
  if (config.kind === 'sqlite') {
    const dir = path.dirname(config.file);
    return readdirSync(dir)
      .filter((f) => f.startsWith(path.basename(config.file)))
      .map((f) => readFileSync(path.join(dir, f)).toString('latin1'))
      .join('\n');
  }
  const database = await openDb(config);
  try {
    const tables = await sql<{ name: string }>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(database.db);
    const rows: string[] = [];
    for (const { name } of tables.rows) {
      const dump = await sql<{
        row: string;
      }>`select t::text as row from ${sql.table(name)} t`.execute(database.db);
      rows.push(...dump.rows.map((r) => r.row));
    }
    return rows.join('\n');
  } finally {
    await database.close();
  }
}

for (const engine of engines) {
  describe(`identity-provider secrets at rest, and rotation with providers [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let idp: TestIdp;
    let providerId: string;
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    before(async () => {
      ({ server, admin } = await startAdminServer(engine));
      idp = await startTestIdp({ redirectUris: [`${server.url}/login/callback`] });
      idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
      providerId = (
        await admin.createProvider({
          name: 'test-idp',
          kind: 'oidc',
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'email', 'groups', 'offline_access'],
        })
      ).id;
      await admin.createProvider({
        name: 'random-secret',
        kind: 'oidc',
        url: idp.issuer,
        clientID: 'another-client',
        clientSecret: secret,
      });
    });
    after(async () => {
      await server?.close();
      await idp?.close();
    });

    const login = async () => (await dashboardLogin(server, idp, providerId, 'alice')).login();

    it('keeps no client secret or refresh token, nor their base64, in the raw database', async () => {
      await login();
      const raw = await rawDatabase(server);
      assert.ok(raw.includes('random-secret'), 'the dump sees the providers table');
      for (const value of [secret, idp.clientSecret]) {
        for (const form of [
          value,
          Buffer.from(value).toString('base64'),
          Buffer.from(value).toString('base64url'),
          Buffer.from(value).toString('hex'),
        ]) {
          assert.equal(raw.includes(form), false, `found ${form.slice(0, 12)}… in the database`);
        }
      }
    });

    it('logs in through the provider during and after a data key rotation', async () => {
      const db =
        server.config.db.kind === 'postgres'
          ? `db: {connectionString: '${server.config.db.connectionString}'}`
          : `db: {file: '${server.config.db.file}'}`;
      const config = path.join(server.stateDir, 'rotate.yaml');
      writeFileSync(config, `stateDir: '${server.stateDir}'\n${db}\n`);
      const stdout = new Collect();
      const stderr = new Collect();
      const rotation = runRotateKeys(
        ['-f', config, '--activate-after', '2s'],
        {},
        {
          stdout,
          stderr,
        },
      );
      while (!stdout.text.includes('Waiting') && !stderr.text) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await server.running.reload();
      const failures: string[] = [];
      let logins = 0;
      let stop = false;
      const load = (async () => {
        while (!stop) {
          try {
            await login();
            logins++;
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      })();
      assert.equal(await rotation, 0, stderr.text);
      stop = true;
      await load;
      assert.deepEqual(failures, []);
      assert.ok(logins > 0);
      assert.match(stdout.text, /providers\.client_secret: 2/);
      // A login after the switch may already have stored the refresh token under the new key.
      assert.match(stdout.text, /provider_users\.refresh_token: [01][,)]/);
      const session = await login();
      assert.equal(session.name, 'alice@example.com');
    });
  });
}
