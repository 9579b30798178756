import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';

// OpenSSH certificates (PROTOCOL.certkeys in the OpenSSH sources), encoded here: no Node library
// signs them with extensions and a modern signature. The CA is always Ed25519.

/** Key types a certificate may be issued for, and the certificate type each becomes. */
const CERT_TYPES: Record<string, string> = {
  'ssh-ed25519': 'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'ssh-rsa': 'ssh-rsa-cert-v01@openssh.com',
};

/** SSH wire encoding: length-prefixed strings, big-endian integers. */
class Writer {
  readonly #parts: Buffer[] = [];
  string(value: Buffer | string): this {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    this.#parts.push(len, b);
    return this;
  }
  uint32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.#parts.push(b);
    return this;
  }
  uint64(n: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    this.#parts.push(b);
    return this;
  }
  raw(b: Buffer): this {
    this.#parts.push(b);
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

function readStrings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) throw new Error('truncated');
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) throw new Error('truncated');
    out.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** A public key as `authorized_keys` lines give it. */
export interface SshPublicKey {
  type: string;
  /** The wire blob (what the base64 encodes). */
  blob: Buffer;
}

/**
 * Parses `type base64 [comment]`. Throws a message fit for the caller when the line is not a
 * public key of a supported type, or a weak one (RSA under 2048 bits).
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data))
    throw new Error('not an OpenSSH public key (type base64 [comment])');
  if (!CERT_TYPES[type])
    throw new Error(`key type ${type} is not supported; use ${Object.keys(CERT_TYPES).join(', ')}`);
  const blob = Buffer.from(data, 'base64');
  let fields: Buffer[];
  try {
    fields = readStrings(blob);
  } catch {
    throw new Error('the public key is truncated');
  }
  if (fields[0]?.toString() !== type) throw new Error('the key blob does not match its type');
  const ok =
    type === 'ssh-ed25519'
      ? fields.length === 2 && fields[1]!.length === 32
      : type === 'ssh-rsa'
        ? fields.length === 3 && bitLength(fields[2]!) >= 2048
        : fields.length === 3 && fields[1]!.toString() === type.slice('ecdsa-sha2-'.length);
  if (!ok) throw new Error(`not a valid ${type} key (RSA keys need at least 2048 bits)`);
  return { type, blob };
}

function bitLength(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  if (i === mpint.length) return 0;
  return (mpint.length - i - 1) * 8 + mpint[i]!.toString(2).length;
}

/** `SHA256:...` as `ssh-keygen -l` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function ed25519Blob(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return new Writer().string('ssh-ed25519').string(Buffer.from(jwk.x!, 'base64url')).done();
}

/** A new Ed25519 certificate authority: its public key line and its private key (PKCS#8 PEM). */
export function generateSshCa(comment: string): { publicKey: string; privateKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: `ssh-ed25519 ${ed25519Blob(privateKey).toString('base64')} ${comment}`,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function loadSshCa(privateKeyPem: string): KeyObject {
  return createPrivateKey(privateKeyPem);
}

export interface CertificateSpec {
  kind: 'user' | 'host';
  publicKey: SshPublicKey;
  serial: bigint;
  keyId: string;
  principals: string[];
  /** Milliseconds since the epoch (encoded in seconds). */
  validAfter: number;
  validBefore: number;
  criticalOptions?: Record<string, string>;
  /** Names of extensions (all OpenSSH's defined ones carry no data). */
  extensions?: string[];
}

function packed(entries: Array<[string, Buffer]>): Buffer {
  const w = new Writer();
  // OpenSSH requires options and extensions in lexical order of their names.
  for (const [name, data] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
    w.string(name).string(data);
  return w.done();
}

/** Signs a certificate with the CA; returns it as a line for a `-cert.pub` file. */
export function signSshCertificate(ca: KeyObject, spec: CertificateSpec): string {
  const certType = CERT_TYPES[spec.publicKey.type]!;
  // The key's fields after its type string are copied as they are (ed25519: pk; ecdsa: curve, Q;
  // rsa: e, n), which is how every certificate type lays them out.
  const [, ...keyFields] = readStrings(spec.publicKey.blob);
  const keyPart = new Writer();
  for (const f of keyFields) keyPart.string(f);
  const principals = new Writer();
  for (const p of spec.principals) principals.string(p);
  const body = new Writer()
    .string(certType)
    .string(randomBytes(32))
    .raw(keyPart.done())
    .uint64(spec.serial)
    .uint32(spec.kind === 'user' ? 1 : 2)
    .string(spec.keyId)
    .string(principals.done())
    .uint64(BigInt(Math.floor(spec.validAfter / 1000)))
    .uint64(BigInt(Math.floor(spec.validBefore / 1000)))
    .string(
      packed(
        Object.entries(spec.criticalOptions ?? {}).map(([k, v]) => [
          k,
          new Writer().string(v).done(),
        ]),
      ),
    )
    .string(packed((spec.extensions ?? []).map((e) => [e, Buffer.alloc(0)])))
    .string(Buffer.alloc(0))
    .string(ed25519Blob(ca))
    .done();
  const signature = new Writer()
    .string('ssh-ed25519')
    .string(sign(null, body, ca))
    .done();
  const cert = new Writer().raw(body).string(signature).done();
  return `${certType} ${cert.toString('base64')} ${spec.keyId}`;
}

/** The serial, validity and signing CA of a certificate line (what the host agent checks). */
export function readSshCertificate(line: string): {
  serial: bigint;
  validBefore: number;
  caKey: string;
} {
  const data = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
  let at = 0;
  const str = () => {
    const len = data.readUInt32BE(at);
    const s = data.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return s;
  };
  const type = str().toString();
  const keyType = Object.entries(CERT_TYPES).find(([, c]) => c === type)?.[0];
  if (!keyType) throw new Error('not an OpenSSH certificate');
  str(); // nonce
  const keyFields = keyType === 'ssh-ed25519' ? 1 : 2;
  for (let i = 0; i < keyFields; i++) str();
  const serial = data.readBigUInt64BE(at);
  at += 8 + 4;
  str(); // key id
  str(); // principals
  at += 8;
  const validBefore = Number(data.readBigUInt64BE(at)) * 1000;
  at += 8;
  str(); // critical options
  str(); // extensions
  str(); // reserved
  const caBlob = str();
  return { serial, validBefore, caKey: `ssh-ed25519 ${caBlob.toString('base64')}` };
}
