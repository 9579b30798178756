import { execFile } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { SshHostSettings } from './config.js';

/** Runs a program; rejects with its stderr when it fails. */
export function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err)
        reject(
          new Error(`${path.basename(file)} ${args.join(' ')}: ${stderr.trim() || err.message}`),
        );
      else resolve(stdout);
    });
  });
}

/** Replaces a file in one step (a reader sees the old or the new content, never a part). */
export function writeAtomically(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The files the host agent keeps, under `dir`. */
export function hostPaths(s: SshHostSettings) {
  return {
    userCa: path.join(s.dir, 'user_ca.pub'),
    principals: path.join(s.dir, 'principals'),
    revoked: path.join(s.dir, 'revoked.krl'),
    hostCertificate: path.join(s.dir, 'host-cert.pub'),
  };
}

/** The sshd drop-in: trust the user CA, accept principals from our files, refuse revoked keys. */
export function dropInContent(s: SshHostSettings, withHostCertificate: boolean): string {
  const p = hostPaths(s);
  return [
    '# Written by `infra connector --kind ssh`; it is rewritten when access changes.',
    `TrustedUserCAKeys ${p.userCa}`,
    `AuthorizedPrincipalsFile ${p.principals}/%u`,
    `RevokedKeys ${p.revoked}`,
    ...(withHostCertificate ? [`HostCertificate ${p.hostCertificate}`] : []),
    '',
  ].join('\n');
}

/**
 * sshd's side of the host: the files it reads at each login (CA keys, principals, revocation
 * list: no reload needed) and the drop-in and host certificate (read at start: reloaded).
 */
export class Sshd {
  readonly #s: SshHostSettings;
  readonly #log: Logger;
  readonly #paths: ReturnType<typeof hostPaths>;

  constructor(settings: SshHostSettings, log: Logger) {
    this.#s = settings;
    this.#log = log;
    this.#paths = hostPaths(settings);
    // Not writable by others, or sshd (StrictModes) refuses the principals files.
    mkdirSync(this.#paths.principals, { recursive: true, mode: 0o755 });
    chmodSync(settings.dir, 0o755);
    chmodSync(this.#paths.principals, 0o755);
  }

  writeUserCas(keys: string[]): boolean {
    const content = keys.map((k) => `${k}\n`).join('');
    if (readOr(this.#paths.userCa, '') === content) return false;
    writeAtomically(this.#paths.userCa, content);
    return true;
  }

  /** Writes the KRL (`ssh-keygen -k`): these serials revoked under each user CA. */
  async writeRevoked(serials: string[], cas: string[]): Promise<void> {
    const tmp = `${this.#paths.revoked}.tmp-${process.pid}`;
    const spec = `${tmp}.spec`;
    writeFileSync(spec, serials.map((s) => `serial: ${s}\n`).join(''));
    try {
      rmSync(tmp, { force: true });
      if (serials.length === 0 || cas.length === 0) {
        await run('ssh-keygen', ['-k', '-f', tmp, spec]);
      } else {
        for (const [i, ca] of cas.entries()) {
          const caFile = `${tmp}.ca${i}.pub`;
          writeFileSync(caFile, `${ca}\n`);
          await run('ssh-keygen', ['-k', ...(i > 0 ? ['-u'] : []), '-f', tmp, '-s', caFile, spec]);
          rmSync(caFile);
        }
      }
      chmodSync(tmp, 0o644);
      renameSync(tmp, this.#paths.revoked);
    } finally {
      rmSync(spec, { force: true });
      rmSync(tmp, { force: true });
    }
  }

  /** Removes the principals files of every login but these. */
  removePrincipalsExcept(keep: Map<string, string>): void {
    for (const file of readdirSync(this.#paths.principals)) {
      if (!keep.has(file)) rmSync(path.join(this.#paths.principals, file), { force: true });
    }
  }

  /** Makes the principals files exactly these (login → principal). */
  writePrincipals(wanted: Map<string, string>): void {
    this.removePrincipalsExcept(wanted);
    for (const [login, principal] of wanted) {
      const file = path.join(this.#paths.principals, login);
      if (readOr(file, '') !== `${principal}\n`) writeAtomically(file, `${principal}\n`);
    }
  }

  get hostCertificate(): string {
    return readOr(this.#paths.hostCertificate, '').trim();
  }

  /**
   * Installs the drop-in (and a new host certificate), checks the whole configuration with
   * `sshd -t` and reloads sshd. A configuration sshd refuses is rolled back and never reloaded:
   * the running sshd keeps the last good one. Returns whether sshd was reloaded.
   */
  async apply(hostCertificate: string | undefined): Promise<boolean> {
    const content = dropInContent(this.#s, (hostCertificate ?? this.hostCertificate) !== '');
    const before = { dropIn: readOr(this.#s.dropIn, ''), cert: this.hostCertificate };
    const certChanged = hostCertificate !== undefined && hostCertificate !== before.cert;
    if (before.dropIn === content && !certChanged) return false;
    mkdirSync(path.dirname(this.#s.dropIn), { recursive: true });
    if (certChanged) writeAtomically(this.#paths.hostCertificate, `${hostCertificate}\n`);
    writeAtomically(this.#s.dropIn, content);
    try {
      await run(this.#s.sshd, ['-t', '-f', this.#s.sshdConfig]);
    } catch (err) {
      if (before.dropIn === '') rmSync(this.#s.dropIn, { force: true });
      else writeAtomically(this.#s.dropIn, before.dropIn);
      if (certChanged && before.cert !== '')
        writeAtomically(this.#paths.hostCertificate, `${before.cert}\n`);
      this.#log.error(
        { err: (err as Error).message, dropIn: this.#s.dropIn },
        'sshd refuses its configuration with our drop-in: put back the last one and did not reload sshd; fix the configuration',
      );
      throw err;
    }
    const pid = Number(readOr(this.#s.pidFile, '').trim());
    if (!Number.isInteger(pid) || pid <= 0) {
      this.#log.warn({ pidFile: this.#s.pidFile }, 'no sshd pid file: reload sshd yourself');
      return false;
    }
    process.kill(pid, 'SIGHUP');
    this.#log.info({ dropIn: this.#s.dropIn, pid }, 'sshd configuration checked and reloaded');
    return true;
  }
}
