/**
 * SSH revocation: from a grant's deletion to the host refusing the login. Runs a server (SQLite),
 * a real sshd on a loopback port and the host agent in this process; must run as root (the agent
 * makes accounts, sshd needs root).
 *
 *   npx tsx bench/ssh.ts [revocations=20]
 *
 * For each revocation: grant, wait until a login works, delete the grant, then measure until the
 * principal is gone from the host (what sshd checks at every login), and from which moment every
 * login is refused: an ssh login is started every 100 ms (each takes a few hundred ms here), and
 * the figure is the start of the earliest attempt after which none succeeded.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAdminServer, userWithKey } from '../test/identity.js';
import { removeAccountsOf, startSshHost } from '../test/sshd.js';
import { machine, percentiles } from './lib.js';

const rounds = Number(process.argv[2] ?? 20);
console.log(`machine: ${machine()}`);
const name = 'bench-host';
const { server, admin } = await startAdminServer('sqlite');
const host = await startSshHost(server, admin, name);
const user = await userWithKey(server, admin, 'bench-ssh@example.com');
const dir = mkdtempSync(path.join(tmpdir(), 'infra-bench-ssh-'));
const key = path.join(dir, 'id');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);

function login(loginName: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-i',
        key,
        '-o',
        `CertificateFile=${key}-cert.pub`,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
        '-o',
        `HostKeyAlias=${name}`,
        '-p',
        String(host.sshd.port),
        '-l',
        loginName,
        '127.0.0.1',
        'true',
      ],
      (err) => resolve(!err),
    );
  });
}

const toPrincipalGone: number[] = [];
const toRefused: number[] = [];
try {
  for (let i = 0; i < rounds; i++) {
    const grant = await admin.createGrant({ user: user.id, privilege: 'connect', resource: name });
    const issued = await user.client.createSshCertificate({
      destination: name,
      publicKey: readFileSync(`${key}.pub`, 'utf8'),
    });
    writeFileSync(`${key}-cert.pub`, `${issued.certificate}\n`);
    writeFileSync(
      path.join(dir, 'known_hosts'),
      issued.host.authorities.map((ca) => `@cert-authority ${name} ${ca}\n`).join(''),
    );
    await host.caughtUp();
    while (!(await login(issued.login))) await new Promise((r) => setTimeout(r, 20));
    const principals = path.join(host.sshd.dir, 'infra', 'principals', issued.login);
    const start = performance.now();
    await admin.deleteGrant({ id: grant.id });
    const attempts: Array<Promise<{ at: number; ok: boolean }>> = [];
    const probing = setInterval(() => {
      const at = performance.now() - start;
      attempts.push(login(issued.login).then((ok) => ({ at, ok })));
    }, 100);
    while (existsSync(principals)) await new Promise((r) => setImmediate(r));
    toPrincipalGone.push(performance.now() - start);
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(probing);
    const results = await Promise.all(attempts);
    const lastAccepted = Math.max(0, ...results.filter((r) => r.ok).map((r) => r.at));
    const firstRefusedAfter = results.find((r) => !r.ok && r.at > lastAccepted);
    if (!firstRefusedAfter) throw new Error('no login was refused within 1.5 s');
    toRefused.push(firstRefusedAfter.at);
    await host.caughtUp();
  }
  console.log(`grant deleted -> principal gone from the host: ${percentiles(toPrincipalGone)}`);
  console.log(
    `grant deleted -> every login begun from then refused (100 ms probes): ${percentiles(toRefused)}`,
  );
} finally {
  await host.agent.close();
  await host.sshd.close();
  await server.close();
  removeAccountsOf(name);
}
