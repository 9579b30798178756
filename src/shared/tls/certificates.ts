import { X509Certificate, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// @peculiar/x509 (with tsyringe and the asn1 packages, ~140 ms) loads only to issue a
// certificate: a start with certificates already in the state directory never needs it.
let loaded: Promise<typeof X509> | undefined;
function x509Lib(): Promise<typeof X509> {
  loaded ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return loaded;
}

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  certificate: string;
  privateKey: string;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const body = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(pem)?.[1];
  if (!body) throw new Error('no PEM block found');
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
}

function serialNumber(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

/** Creates a certificate authority (ECDSA P-256, valid ten years). */
export async function createCertificateAuthority(
  now: number,
  name = 'Infra Server CA',
): Promise<KeyPairPem> {
  const x509 = await x509Lib();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${name}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 3650 * DAY),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate: `${cert.toString('pem')}\n`,
    privateKey: await privateKeyPem(keys.privateKey),
  };
}

/** Issues a server certificate from `ca` for the given DNS names and IP addresses. */
export async function issueServerCertificate(
  ca: KeyPairPem,
  hosts: readonly string[],
  now: number,
  validityDays: number,
): Promise<KeyPairPem> {
  const x509 = await x509Lib();
  const caCert = new x509.X509Certificate(ca.certificate);
  const caKey = await importPrivateKey(ca.privateKey);
  const keys = await generateKeys();
  const firstName = hosts.find((h) => isIP(h) === 0) ?? 'localhost';
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${firstName}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + validityDays * DAY),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h) => (isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return {
    certificate: `${cert.toString('pem')}\n`,
    privateKey: await privateKeyPem(keys.privateKey),
  };
}

/** The SHA-256 fingerprint of the first certificate in `pem`: `AB:CD:…` (upper-case hex). */
export function fingerprintSha256(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Splits a PEM bundle into its certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Facts the server needs about a certificate it holds. */
export function describeCertificate(pem: string): {
  notAfter: number;
  dnsNames: string[];
  ips: string[];
} {
  const cert = new X509Certificate(pem);
  const names = (cert.subjectAltName ?? '').split(', ').filter(Boolean);
  return {
    notAfter: Date.parse(cert.validTo),
    dnsNames: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ips: names.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice(11)),
  };
}
