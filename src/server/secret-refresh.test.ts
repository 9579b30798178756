import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { ADMIN, ADMIN_CONFIG } from '../../test/identity.js';
import { startPostgresCluster } from '../../test/postgres.js';
import { startTestServer, type TestServer } from '../../test/server.js';

const root = path.resolve(import.meta.dirname, '../..');

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('re-reading secrets', () => {
  it('re-reads on the interval; a failed re-read keeps the value and logs no value', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-refresh-'));
    const pw = path.join(dir, 'admin-password');
    writeFileSync(pw, 'first-password-value');
    const server = await startTestServer({
      settings: { secretRefreshInterval: '50ms' },
      configFile: `users:\n  - name: admin@example.com\n    password: file:${pw}\n`,
    });
    try {
      const secret = server.config.users[0]!.password!;
      assert.equal(secret.reveal(), 'first-password-value');
      writeFileSync(pw, 'second-password-value');
      await until(() => secret.reveal() === 'second-password-value', 'the new value');
      // The password of a config-file user is applied at start: the log says when it applies.
      await until(
        () => server.logs.text.includes('"atNextStart":["users[0].password"]'),
        'the log line naming the setting',
      );
      rmSync(pw);
      await until(
        () => server.logs.text.includes('keeping the value it had'),
        'the failed re-read to be logged',
      );
      assert.equal(secret.reveal(), 'second-password-value');
      assert.match(
        server.logs.text,
        /users\[0\]\.password: cannot resolve secret file:.+admin-password from storage \\"file\\": cannot read file .+: ENOENT; keeping the value it had/,
      );
      assert.equal(server.logs.text.includes('first-password-value'), false);
      assert.equal(server.logs.text.includes('second-password-value'), false);
    } finally {
      await server.close();
    }
  });

  it('re-reads on SIGHUP (infra server)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-sighup-'));
    const pw = path.join(dir, 'admin-password');
    writeFileSync(pw, 'before-sighup-value');
    const config = path.join(dir, 'infra.yaml');
    writeFileSync(
      config,
      `secretRefreshInterval: '0'\nusers:\n  - name: admin@example.com\n    password: file:${pw}\n`,
    );
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/main.ts',
        'server',
        '-f',
        config,
        '--addr-https',
        '127.0.0.1:0',
        '--addr-metrics',
        '',
        '--state-dir',
        dir,
      ],
      { cwd: root, env: { PATH: process.env.PATH, HOME: dir } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => /listening on https/.test(out), 'the server to listen', 60_000);
      writeFileSync(pw, 'after-sighup-value');
      child.kill('SIGHUP');
      await until(() => /secrets re-read/.test(out), 'the re-read after SIGHUP');
      assert.match(out, /secrets re-read; applied at the next start: users\[0\]\.password"/);
      assert.doesNotMatch(out, /in use now/);
      assert.equal(out.includes('sighup-value'), false);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});

describe('re-reading the PostgreSQL password', () => {
  it('connects with the new password after a re-read, and not before', async () => {
    // A cluster of its own: the shared one trusts every local connection.
    const cluster = await startPostgresCluster();
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-pgpw-'));
    const pw = path.join(dir, 'db-password');
    let server: TestServer | undefined;
    try {
      await admin.query(`create role infra_rotating login password 'pw-one-value'`);
      await admin.query('create database infra_pw owner infra_rotating');
      const hba = (await admin.query<{ hba_file: string }>('show hba_file')).rows[0]!.hba_file;
      writeFileSync(
        hba,
        `host all infra_rotating 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`,
      );
      await admin.query('select pg_reload_conf()');
      const port = new URL(cluster.url).port;
      writeFileSync(pw, 'pw-one-value');
      server = await startTestServer({
        settings: {
          'db.connectionString': `postgres://infra_rotating@127.0.0.1:${port}/infra_pw`,
          'db.password': `file:${pw}`,
          secretRefreshInterval: '0',
        },
        configFile: ADMIN_CONFIG,
      });
      const signIn = () => server!.client().login({ passwordCredentials: ADMIN });
      assert.ok((await signIn()).accessKey);

      await admin.query(`alter role infra_rotating password 'pw-two-value'`);
      writeFileSync(pw, 'pw-two-value');
      const dropConnections = () =>
        admin.query(
          `select pg_terminate_backend(pid) from pg_stat_activity where usename = 'infra_rotating'`,
        );
      await dropConnections();
      // Not re-read yet: a new connection still uses the old password and is refused (a 503 the
      // caller may retry). A pooled connection not yet told of its end may fail first.
      for (let attempt = 0; ; attempt++) {
        const err = await signIn().then(
          () => assert.fail('signed in with the old password'),
          (e: unknown) => e as Error,
        );
        assert.match(err.message, /the database is unavailable/);
        if (/refused the server's credentials/.test(err.message)) break;
        assert.ok(attempt < 20, err.message);
        await new Promise((r) => setTimeout(r, 50));
      }

      await server.running.reload();
      assert.match(server.logs.text, /secrets re-read; in use now: db\.password"/);
      await dropConnections();
      assert.ok((await signIn()).accessKey);
      assert.equal(server.logs.text.includes('pw-two-value'), false);
      assert.equal(server.logs.text.includes('pw-one-value'), false);
    } finally {
      await server?.close();
      await admin.end();
      cluster.stop();
    }
  });
});
