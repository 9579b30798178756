import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { listAll } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { writeFileAtomic } from '../../shared/files.js';
import { CliError, explain, requireSession, type CliIO } from '../context.js';
import { infraDir } from '../state.js';

/** Certificates with less than this left are renewed before use. */
const RENEW_BEFORE_MS = 2 * 60_000;

interface HostRecord {
  server: string;
  login: string;
  address: string;
  expires: string;
}

function sshDir(env: NodeJS.ProcessEnv): string {
  return path.join(infraDir(env), 'ssh');
}

function files(env: NodeJS.ProcessEnv, host: string) {
  const dir = sshDir(env);
  return {
    dir,
    key: path.join(dir, 'id_ed25519'),
    knownHosts: path.join(dir, 'known_hosts'),
    certificate: path.join(dir, `${host}-cert.pub`),
    record: path.join(dir, `${host}.json`),
  };
}

/** `host:port` or `[v6]:port` → its parts. */
function splitAddress(address: string): { host: string; port: string } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new CliError(`The host's address ${address} is not host:port; ask an Infra admin`);
  return { host: m[1]!, port: m[2]! };
}

/** The key pair `infra ssh` uses, made with ssh-keygen on first use (private key 0600). */
async function ensureKey(key: string): Promise<string> {
  if (!existsSync(key)) {
    await new Promise<void>((resolve, reject) =>
      execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'infra', '-f', key], (err) =>
        err
          ? reject(
              new CliError(
                `Could not make an SSH key with ssh-keygen (${err.message}); install the OpenSSH client`,
              ),
            )
          : resolve(),
      ),
    );
  }
  return readFileSync(`${key}.pub`, 'utf8').trim();
}

/**
 * A valid certificate for `host` in ~/.infra/ssh (asked for when missing or about to expire),
 * with known_hosts trusting the server's host CAs for that host name only.
 */
export async function ensureCertificate(io: CliIO, host: string): Promise<HostRecord> {
  const { server, client } = requireSession(io);
  const f = files(io.env, host);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  let record: HostRecord | undefined;
  try {
    record = JSON.parse(readFileSync(f.record, 'utf8')) as HostRecord;
  } catch {
    record = undefined;
  }
  if (
    record &&
    record.server === server.url &&
    Date.parse(record.expires) - Date.now() > RENEW_BEFORE_MS &&
    existsSync(f.certificate)
  )
    return record;
  const publicKey = await ensureKey(f.key);
  let issued;
  try {
    issued = await client.createSshCertificate({ destination: host, publicKey });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'no_grant')
      throw new CliError(`You have no access to ${host}; ask an Infra admin for a grant`);
    if (err instanceof ApiError && err.status === 404)
      throw new CliError(`No host named ${host}; see \`infra destinations list\``);
    throw explain(err);
  }
  await writeFileAtomic(f.certificate, `${issued.certificate}\n`, 0o644);
  const known = existsSync(f.knownHosts) ? readFileSync(f.knownHosts, 'utf8').split('\n') : [];
  const others = known.filter((l) => l !== '' && !l.startsWith(`@cert-authority ${host} `));
  const ours = issued.host.authorities.map((ca) => `@cert-authority ${host} ${ca}`);
  await writeFileAtomic(f.knownHosts, [...others, ...ours, ''].join('\n'), 0o644);
  record = {
    server: server.url,
    login: issued.login,
    address: issued.host.address,
    expires: issued.expires,
  };
  await writeFileAtomic(f.record, JSON.stringify(record), 0o600);
  return record;
}

/** The ssh options that use Infra's key, certificate and known_hosts for `host`. */
function sshOptions(env: NodeJS.ProcessEnv, host: string, record: HostRecord): string[] {
  const f = files(env, host);
  const { host: hostname, port } = splitAddress(record.address);
  return [
    '-i',
    f.key,
    '-o',
    `CertificateFile=${f.certificate}`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${f.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `HostKeyAlias=${host}`,
    '-p',
    port,
    '-l',
    record.login,
    hostname,
  ];
}

/** `infra ssh HOST [-- command]`: the system ssh with a fresh certificate. */
export async function ssh(
  io: CliIO,
  host: string,
  command: string[],
  opts: { refreshOnly?: boolean },
): Promise<void> {
  const record = await ensureCertificate(io, host);
  if (opts.refreshOnly) return;
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('ssh', [...sshOptions(io.env, host, record), ...command], {
      stdio: 'inherit',
      env: io.env,
    });
    child.on('error', (err) =>
      reject(new CliError(`Could not run ssh (${err.message}); install the OpenSSH client`)),
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 255 : 1)));
  });
  if (code !== 0) throw new CliError('', code);
}

/** `infra ssh-config`: a ~/.ssh/config snippet so plain `ssh HOST` works for each host granted. */
export async function sshConfig(io: CliIO): Promise<void> {
  const { client } = requireSession(io);
  let hosts;
  try {
    hosts = (await listAll(client.listDestinations, {})).filter((d) => d.kind === 'ssh');
  } catch (err) {
    throw explain(err);
  }
  const blocks: string[] = [
    '# Infra SSH hosts, from `infra ssh-config`. Each connection renews the certificate if needed.',
  ];
  for (const d of hosts) {
    let record: HostRecord;
    try {
      record = await ensureCertificate(io, d.name);
    } catch (err) {
      if (err instanceof CliError && /no access/.test(err.message)) continue;
      throw err;
    }
    const f = files(io.env, d.name);
    const { host, port } = splitAddress(record.address);
    blocks.push(
      [
        `Match originalhost ${d.name} exec "infra ssh --refresh-only ${d.name}"`,
        `Host ${d.name}`,
        `  HostName ${host}`,
        `  Port ${port}`,
        `  User ${record.login}`,
        `  IdentityFile ${f.key}`,
        `  CertificateFile ${f.certificate}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${f.knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        `  HostKeyAlias ${d.name}`,
      ].join('\n'),
    );
  }
  if (blocks.length === 1) blocks.push('# No SSH hosts granted to you.');
  io.stdout.write(`${blocks.join('\n\n')}\n`);
}
