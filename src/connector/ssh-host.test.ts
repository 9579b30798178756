import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn as spawnPty } from 'node-pty';
import type { ApiClient } from '../api/client.js';
import { infraBin, workstation } from '../../test/cli.js';
import { startAdminServer, userWithKey, type UserWithKey } from '../../test/identity.js';
import type { LogSink, TestServer } from '../../test/server.js';
import {
  removeAccountsOf,
  sshClient,
  startSshHost,
  startSshd,
  waitFor,
  type TestSshd,
} from '../../test/sshd.js';
import type { RunningSshHostAgent } from './ssh-host.js';

const ADMIN_GROUP = 'infra-test-admins';

/** A key pair of the test's own, a certificate for it from the server, and ssh's options. */
class Client {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'infra-ssh-client-'));
  readonly key = path.join(this.dir, 'id');
  constructor() {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', this.key]);
  }
  get publicKey(): string {
    return readFileSync(`${this.key}.pub`, 'utf8').trim();
  }
  /** Asks the server for a certificate; writes it and a known_hosts trusting the host CA. */
  async certify(client: ApiClient, destination: string) {
    const issued = await client.createSshCertificate({ destination, publicKey: this.publicKey });
    writeFileSync(`${this.key}-cert.pub`, `${issued.certificate}\n`);
    writeFileSync(
      path.join(this.dir, 'known_hosts'),
      issued.host.authorities.map((ca) => `@cert-authority ${destination} ${ca}\n`).join(''),
    );
    return issued;
  }
  args(port: number, alias: string, login: string, command: string[]): string[] {
    return [
      '-i',
      this.key,
      '-o',
      `CertificateFile=${this.key}-cert.pub`,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${path.join(this.dir, 'known_hosts')}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `HostKeyAlias=${alias}`,
      '-p',
      String(port),
      '-l',
      login,
      '127.0.0.1',
      ...command,
    ];
  }
}

describe('SSH host agent with a real sshd', () => {
  const suffix = Math.random().toString(36).slice(2, 7);
  const name = `host-${suffix}`;
  let server: TestServer;
  let admin: ApiClient;
  let sshd: TestSshd;
  let agent: RunningSshHostAgent;
  let agentLogs: LogSink;
  let caughtUp: () => Promise<void>;
  let alice: UserWithKey;
  let bob: UserWithKey;

  before(async () => {
    execFileSync('groupadd', ['-f', ADMIN_GROUP]);
    ({ server, admin } = await startAdminServer('sqlite'));
    ({ sshd, agent, agentLogs, caughtUp } = await startSshHost(server, admin, name, {
      'ssh.adminGroup': ADMIN_GROUP,
    }));
    alice = await userWithKey(server, admin, `alice-${suffix}@example.com`);
    bob = await userWithKey(server, admin, `bob-${suffix}@example.com`);
    await admin.createGrant({ user: alice.id, privilege: 'connect', resource: name });
    const ops = await admin.createGroup({ name: `ops-${suffix}` });
    await admin.updateGroupUsers({ id: ops.id, usersToAdd: [bob.id] });
    await admin.createGrant({ group: ops.id, privilege: 'admin', resource: name });
    await caughtUp();
  });

  after(async () => {
    await agent?.close();
    await sshd?.close();
    await server?.close();
    removeAccountsOf(name);
  });

  it('registers the host as an SSH destination, listed with its kind', async () => {
    const [d] = (await admin.listDestinations({ name })).items;
    assert.equal(d?.kind, 'ssh');
    assert.equal(d?.ssh.address, `127.0.0.1:${sshd.port}`);
    assert.equal(d?.ssh.hostKey, sshd.hostKey.split(' ').slice(0, 2).join(' '));
    const ws = workstation();
    const host = new URL(server.url).host;
    const adminKey = (await admin.createAccessKey({ userID: 'self', expiry: '1h' })).accessKey;
    await ws.run(
      'login',
      host,
      '--tls-trusted-fingerprint',
      server.running.fingerprint,
      '--key',
      adminKey,
    );
    const list = await ws.run('destinations', 'list');
    assert.match(list.stdout, new RegExp(`${name}\\s+ssh\\s+ssh://127\\.0\\.0\\.1:${sshd.port}`));
  });

  it('lets a granted user in with a certificate, checking the host certificate', async () => {
    const c = new Client();
    const issued = await c.certify(alice.client, name);
    assert.equal(issued.login, `alice-${suffix}`);
    assert.equal(issued.principal, `alice-${suffix}@${name}`);
    const res = await sshClient(c.args(sshd.port, name, issued.login, ['id']));
    assert.equal(res.code, 0, res.stderr + sshd.logs());
    assert.match(res.stdout, new RegExp(`uid=\\d+\\(alice-${suffix}\\)`));
    assert.doesNotMatch(res.stdout, new RegExp(ADMIN_GROUP));
    // Group grant of admin: the account is in the admin group.
    const b = new Client();
    const bobs = await b.certify(bob.client, name);
    assert.equal(bobs.role, 'admin');
    const id = await sshClient(b.args(sshd.port, name, bobs.login, ['id']));
    assert.equal(id.code, 0, id.stderr);
    assert.match(id.stdout, new RegExp(ADMIN_GROUP));
  });

  it('refuses a certificate for another login, or signed by another CA', async () => {
    const c = new Client();
    const issued = await c.certify(alice.client, name);
    const asBob = await sshClient(c.args(sshd.port, name, `bob-${suffix}`, ['id']));
    assert.equal(asBob.code, 255);
    assert.match(asBob.stderr, /Permission denied/);
    // The same key and principal, signed by a CA the host does not trust.
    const rogue = path.join(c.dir, 'rogue_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', rogue]);
    execFileSync('ssh-keygen', [
      '-q',
      '-s',
      rogue,
      '-I',
      'rogue',
      '-n',
      issued.principal,
      '-V',
      '-1m:+1h',
      `${c.key}.pub`,
    ]);
    const forged = await sshClient(c.args(sshd.port, name, issued.login, ['id']));
    assert.equal(forged.code, 255);
    assert.match(forged.stderr, /Permission denied/);
  });

  it('refuses a host that does not present a certificate from the host CA', async () => {
    const c = new Client();
    const issued = await c.certify(alice.client, name);
    const other = await startSshd();
    try {
      const res = await sshClient(c.args(other.port, name, issued.login, ['id']));
      assert.equal(res.code, 255);
      assert.match(res.stderr, /Host key verification failed/);
    } finally {
      await other.close();
    }
  });

  it('issues certificates that end with the grant and the session, and sshd refuses them once expired', async () => {
    const carol = await userWithKey(server, admin, `carol-${suffix}@example.com`);
    // A grant that ends in 10 minutes caps the certificate (at most an hour otherwise).
    const grantEnds = Date.now() + 10 * 60_000;
    await admin.createGrant({
      user: carol.id,
      privilege: 'connect',
      resource: name,
      expiresAt: new Date(grantEnds).toISOString(),
    });
    await caughtUp();
    const c = new Client();
    assert.ok(Date.parse((await c.certify(carol.client, name)).expires) <= grantEnds);
    // A session that ends in 3 s caps it too. The grant stays, so the principal stays on the
    // host: what refuses the certificate is its own end (a grant that ended would take the
    // principal away first, and sshd checks that before the validity).
    const { accessKey } = await admin.createAccessKey({ userID: carol.id, expiry: '3s' });
    const issued = await c.certify(server.client({ accessKey }), name);
    assert.ok(Date.parse(issued.expires) <= Date.now() + 3000);
    await new Promise((r) => setTimeout(r, Date.parse(issued.expires) - Date.now() + 1100));
    const late = await sshClient(c.args(sshd.port, name, issued.login, ['true']));
    assert.equal(late.code, 255);
    await waitFor('sshd to log the expired certificate', () =>
      /[Cc]ertificate invalid: expired/.test(sshd.logs()) ? true : undefined,
    );
  });

  it('refuses the certificate of a session that ended (revoked serial)', async () => {
    const dave = await userWithKey(server, admin, `dave-${suffix}@example.com`);
    await admin.createGrant({ user: dave.id, privilege: 'connect', resource: name });
    await caughtUp();
    const c = new Client();
    const issued = await c.certify(dave.client, name);
    assert.equal((await sshClient(c.args(sshd.port, name, issued.login, ['true']))).code, 0);
    await dave.client.logout();
    await waitFor('the serial to be revoked on the host', () =>
      agent.applied()?.state.revokedSerials.includes(issued.serial) ? true : undefined,
    );
    const res = await sshClient(c.args(sshd.port, name, issued.login, ['true']));
    assert.equal(res.code, 255);
    assert.match(sshd.logs(), /revoked/i);
  });

  it('ends open sessions and refuses new logins when the grant is removed', async () => {
    const erin = await userWithKey(server, admin, `erin-${suffix}@example.com`);
    const grant = await admin.createGrant({ user: erin.id, privilege: 'connect', resource: name });
    await caughtUp();
    const c = new Client();
    const issued = await c.certify(erin.client, name);
    const open = spawn('ssh', [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      ...c.args(sshd.port, name, issued.login, ['echo', 'started;', 'sleep', '60']),
    ]);
    let out = '';
    open.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => open.on('exit', (code) => r(code)));
    await waitFor('the session to start', () => (out.includes('started') ? true : undefined));
    await admin.deleteGrant({ id: grant.id });
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('still open'), 15_000)),
    ]);
    assert.notEqual(code, 'still open');
    const res = await sshClient(c.args(sshd.port, name, issued.login, ['true']));
    assert.equal(res.code, 255);
    await caughtUp();
    assert.throws(() => execFileSync('getent', ['passwd', issued.login]));
  });

  it('runs a command with `infra ssh host -- id`, and a terminal session', async () => {
    const ws = workstation();
    const host = new URL(server.url).host;
    const key = (await admin.createAccessKey({ userID: alice.id, expiry: '1h' })).accessKey;
    const login = await ws.run(
      'login',
      host,
      '--tls-trusted-fingerprint',
      server.running.fingerprint,
      '--key',
      key,
    );
    assert.equal(login.code, 0, login.stderr);
    const res = await ws.exec(['ssh', name, '--', 'id', '-un']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `alice-${suffix}\n`);
    assert.ok(existsSync(path.join(ws.home, '.infra', 'ssh', 'id_ed25519')));
    assert.match(
      readFileSync(path.join(ws.home, '.infra', 'ssh', 'known_hosts'), 'utf8'),
      new RegExp(`^@cert-authority ${name} ssh-ed25519 `, 'm'),
    );
    const failed = await ws.exec(['ssh', name, '--', 'exit', '3']);
    assert.equal(failed.code, 3);

    const pty = spawnPty(process.execPath, [infraBin, 'ssh', name], {
      env: ws.env as Record<string, string>,
      cols: 80,
      rows: 24,
    });
    let screen = '';
    pty.onData((d) => (screen += d));
    const ptyExit = new Promise<number>((r) => pty.onExit(({ exitCode }) => r(exitCode)));
    try {
      await waitFor('a prompt', () => (/[$#] $/m.test(screen) ? true : undefined));
      pty.write('tty; echo "sum=$((40+2))"\r');
      await waitFor('the command output', () => (/sum=42/.test(screen) ? true : undefined));
      assert.match(screen, /\/dev\/pts\/\d+/);
      pty.write('exit\r');
      assert.equal(await ptyExit, 0);
    } finally {
      pty.kill();
    }

    const config = await ws.run('ssh-config');
    assert.equal(config.code, 0, config.stderr);
    assert.match(
      config.stdout,
      new RegExp(
        `Host ${name}\\n  HostName 127\\.0\\.0\\.1\\n  Port ${sshd.port}\\n  User alice-${suffix}`,
      ),
    );
  });

  it('never reloads sshd with a configuration it refuses', async () => {
    const dropIn = path.join(sshd.dropInDir, 'infra.conf');
    const before = readFileSync(dropIn, 'utf8');
    const broken = path.join(sshd.dropInDir, '00-broken.conf');
    writeFileSync(broken, 'NoSuchOption yes\n');
    try {
      // A new host CA: the agent wants a new host certificate, so a new configuration.
      await admin.rotateSshAuthority({ purpose: 'host' });
      const frank = await admin.createUser({ name: `frank-${suffix}@example.com` });
      await admin.createGrant({ user: frank.id, privilege: 'connect', resource: name });
      await waitFor('the agent to refuse the configuration', () =>
        /sshd refuses its configuration/.test(agentLogs.text) ? true : undefined,
      );
      assert.equal(readFileSync(dropIn, 'utf8'), before);
      assert.doesNotMatch(sshd.logs(), /Received SIGHUP.*\n[\s\S]*NoSuchOption/);
      // The running sshd kept its last good configuration: logins still work.
      const c = new Client();
      const issued = await c.certify(alice.client, name);
      const res = await sshClient(c.args(sshd.port, name, issued.login, ['true']));
      assert.equal(res.code, 0, res.stderr);
    } finally {
      rmSync(broken);
    }
  });
});
