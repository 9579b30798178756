import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startTestServer } from '../../test/server.js';

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
      await until(
        () => server.logs.text.includes('"settings":["users[0].password"]'),
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
      await until(() => /secrets re-read; new values in use/.test(out), 'the re-read after SIGHUP');
      assert.match(out, /"settings":\["users\[0\]\.password"\]/);
      assert.equal(out.includes('sighup-value'), false);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});
