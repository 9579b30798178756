import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { writeFileAtomic } from '../files.js';
import type { Logger } from '../logger.js';
import {
  createCertificateAuthority,
  describeCertificate,
  issueServerCertificate,
  type KeyPairPem,
} from './certificates.js';

const DAY = 86_400_000;
const LEAF_VALIDITY_DAYS = 365;
/** Re-issue the server certificate when it has less than this left. */
const LEAF_RENEW_BEFORE = 30 * DAY;

/** The names every generated certificate covers, so `curl https://localhost` works out of the box. */
export const DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'];

interface GeneratedTls {
  ca: KeyPairPem;
  leaf: KeyPairPem;
}

async function readPair(dir: string, name: string): Promise<KeyPairPem | undefined> {
  const read = (f: string) =>
    readFile(path.join(dir, f), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  const [certificate, privateKey] = await Promise.all([read(`${name}.crt`), read(`${name}.key`)]);
  if (certificate === undefined && privateKey === undefined) return undefined;
  if (certificate === undefined || privateKey === undefined) {
    throw new Error(
      `${path.join(dir, name)}.crt and .key must both exist; restore the missing file, or remove ${dir} to generate a new certificate authority (clients will have to trust it again)`,
    );
  }
  return { certificate, privateKey };
}

function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

function leafIsUsable(leaf: KeyPairPem, ca: KeyPairPem, hosts: string[], now: number): boolean {
  try {
    const cert = new X509Certificate(leaf.certificate);
    if (!cert.checkIssued(new X509Certificate(ca.certificate))) return false;
    const info = describeCertificate(leaf.certificate);
    if (info.notAfter - now < LEAF_RENEW_BEFORE) return false;
    const ips = new Set(info.ips.map(canonicalIp));
    const dns = new Set(info.dnsNames.map((n) => n.toLowerCase()));
    return hosts.every((h) => (isIP(h) ? ips.has(canonicalIp(h)) : dns.has(h.toLowerCase())));
  } catch {
    return false;
  }
}

/**
 * Loads a CA and certificate of our own from `<stateDir>/tls`, creating them on first start.
 * The certificate is kept across restarts (same fingerprint) and only re-issued, from the same
 * CA, when it nears expiry or the configured host names change, so clients that trusted the CA
 * keep working.
 */
export async function loadOrCreateSelfSigned(
  stateDir: string,
  extraHosts: readonly string[],
  now: number,
  log: Logger,
  caName?: string,
): Promise<GeneratedTls> {
  const dir = path.join(stateDir, 'tls');
  const hosts = [...new Set([...DEFAULT_HOSTS, ...extraHosts])];
  let ca = await readPair(dir, 'ca');
  if (!ca) {
    ca = await createCertificateAuthority(now, caName);
    await writeFileAtomic(path.join(dir, 'ca.key'), ca.privateKey, 0o600);
    await writeFileAtomic(path.join(dir, 'ca.crt'), ca.certificate, 0o644);
    log.info({ dir }, 'created a certificate authority');
  }
  let leaf = await readPair(dir, 'server');
  if (!leaf || !leafIsUsable(leaf, ca, hosts, now)) {
    leaf = await issueServerCertificate(ca, hosts, now, LEAF_VALIDITY_DAYS);
    await writeFileAtomic(path.join(dir, 'server.key'), leaf.privateKey, 0o600);
    await writeFileAtomic(path.join(dir, 'server.crt'), leaf.certificate, 0o644);
    log.info({ hosts }, 'issued a server certificate');
  }
  return { ca, leaf };
}
