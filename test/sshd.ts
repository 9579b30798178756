import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { ApiClient } from '../src/api/client.js';
import { loadConnectorConfig } from '../src/connector/config.js';
import { startSshHostAgent, type RunningSshHostAgent } from '../src/connector/ssh-host.js';
import { createLogger } from '../src/shared/logger.js';
import { freePort } from './pebble.js';
import { LogSink, type TestServer } from './server.js';

/**
 * Where sshd's test directories go: not under /tmp, whose world-writable mode makes sshd
 * (StrictModes) refuse principals files below it.
 */
const ROOT = '/run/infra-sshd-tests';

/** A real OpenSSH server (Debian's), run as root on a loopback port with its own config. */
export interface TestSshd {
  port: number;
  dir: string;
  /** Its main config (Includes `dropInDir/*.conf` first, as Debian's does). */
  config: string;
  dropInDir: string;
  pidFile: string;
  /** Host public key line. */
  hostKey: string;
  hostKeyFile: string;
  /** The pid of the sshd listening (a reload keeps it). */
  pid(): number;
  logs(): string;
  close(): Promise<void>;
}

export async function startSshd(): Promise<TestSshd> {
  mkdirSync(ROOT, { recursive: true, mode: 0o755 });
  // sshd's privilege separation directory (the Debian service makes it at start).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(path.join(ROOT, 'sshd-'));
  execFileSync('chmod', ['755', dir]);
  const dropInDir = path.join(dir, 'sshd_config.d');
  mkdirSync(dropInDir, { mode: 0o755 });
  const hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKeyFile]);
  const port = await freePort();
  const pidFile = path.join(dir, 'sshd.pid');
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Include ${dropInDir}/*.conf`,
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
      `PidFile ${pidFile}`,
      'AuthorizedKeysFile none',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM yes',
      'StrictModes yes',
      'LogLevel VERBOSE',
      'MaxStartups 100',
      '',
    ].join('\n'),
  );
  let logs = '';
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sshd did not start:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    dir,
    config,
    dropInDir,
    pidFile,
    hostKey: readFileSync(`${hostKeyFile}.pub`, 'utf8').trim(),
    hostKeyFile,
    pid: () => child.pid!,
    logs: () => logs,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The system ssh client, with no user config, batch mode (never prompts), and these options. */
export function sshClient(args: string[], timeoutMs = 15_000): Promise<SshResult> {
  return new Promise((resolve) => {
    execFile(
      'ssh',
      ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Removes the accounts an agent made for `destination` (a test that failed half-way). */
export function removeAccountsOf(destination: string): void {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [login, , , , gecos] = line.split(':');
    if (login && gecos?.endsWith(`,managed by infra for ${destination}`)) {
      try {
        execFileSync('pkill', ['--signal', 'KILL', '--uid', login]);
      } catch {
        // No process.
      }
      try {
        execFileSync('userdel', ['--remove', login], { stdio: 'ignore' });
      } catch {
        // Gone already.
      }
    }
  }
}

/** Polls `fn` until it returns something other than undefined or false (15 s at most). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A real sshd and the host agent (`infra connector --kind ssh`) for it, registered with the
 * server as `name`. Resolves once sshd runs with the agent's drop-in and host certificate.
 */
export async function startSshHost(
  server: TestServer,
  admin: ApiClient,
  name: string,
  settings: Record<string, string> = {},
): Promise<{
  sshd: TestSshd;
  agent: RunningSshHostAgent;
  agentLogs: LogSink;
  /** Until the agent has applied the server's latest change for the host. */
  caughtUp(): Promise<void>;
}> {
  const sshd = await startSshd();
  const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
  const key = (
    await admin.createAccessKey({ userID: connectorUser.id, name: `${name}-agent`, expiry: '24h' })
  ).accessKey;
  const config = await loadConnectorConfig({
    env: {},
    flags: {
      name,
      kind: 'ssh',
      stateDir: path.join(sshd.dir, 'state'),
      'addr.metrics': '',
      'server.url': server.url,
      'server.accessKey': `plaintext:${key}`,
      'server.trustedFingerprint': server.running.fingerprint,
      'ssh.address': `127.0.0.1:${sshd.port}`,
      'ssh.hostKey': `${sshd.hostKeyFile}.pub`,
      'ssh.sshdConfig': sshd.config,
      'ssh.dropIn': path.join(sshd.dropInDir, 'infra.conf'),
      'ssh.dir': path.join(sshd.dir, 'infra'),
      'ssh.pidFile': sshd.pidFile,
      ...settings,
    },
  });
  const agentLogs = new LogSink();
  const agent = await startSshHostAgent(config, {
    log: createLogger({ level: 'debug', json: true, destination: agentLogs }),
  });
  const caughtUp = async () => {
    const feed = await admin.getAccessFeed({ destination: name });
    await waitFor('the agent to apply the latest change', () => {
      const applied = agent.applied();
      return applied !== undefined && applied.updateIndex >= feed.updateIndex;
    });
  };
  await caughtUp();
  await waitFor('sshd to run with the host certificate', () =>
    /HostCertificate/.test(readFileSync(path.join(sshd.dropInDir, 'infra.conf'), 'utf8')),
  );
  return { sshd, agent, agentLogs, caughtUp };
}
