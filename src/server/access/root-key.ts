import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { AppError } from '../../shared/errors.js';
import type { AwsOptions } from '../../shared/aws.js';
import { writeFileAtomic } from '../../shared/files.js';
import type { Secret } from '../../shared/secrets.js';
import type { VaultOptions } from '../../shared/vault.js';
import { NativeRootKey, type RootKey } from '../crypto/keyring.js';
import { AwsKmsRootKey, VaultRootKey } from '../crypto/root-keys.js';

/** A root key provider, with its secrets resolved. */
export type RootKeyConfig =
  | { kind: 'native'; file: string }
  | { kind: 'native'; key: Secret; reference: string }
  | { kind: 'vault'; vault: VaultOptions; transitMount: string; key: string }
  | { kind: 'awskms'; aws: AwsOptions; keyId: string };

/**
 * The configured root key. A native key file is created (32 random bytes, mode 0600) only when
 * nothing is wrapped with a key yet (`mayCreate`: a new database, or a move to a new root key
 * while the previous one is configured); a missing file for a database that needs it stops the
 * server instead of orphaning what it encrypts.
 */
export async function loadRootKey(config: RootKeyConfig, mayCreate: boolean): Promise<RootKey> {
  switch (config.kind) {
    case 'vault':
      return new VaultRootKey({
        ...config.vault,
        transitMount: config.transitMount,
        key: config.key,
      });
    case 'awskms':
      return new AwsKmsRootKey({ ...config.aws, keyId: config.keyId });
    case 'native':
      if ('key' in config) {
        const bytes = Buffer.from(config.key.reveal().trim(), 'base64');
        if (bytes.length !== 32) {
          throw new AppError(
            'unavailable',
            `the root key ${config.reference} must be 32 bytes in base64 (openssl rand -base64 32); it decodes to ${bytes.length}`,
          );
        }
        return new NativeRootKey(bytes, `native key ${config.reference}`);
      }
      return loadNativeRootKey(config.file, mayCreate);
  }
}

async function loadNativeRootKey(file: string, mayCreate: boolean): Promise<NativeRootKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AppError(
        'unavailable',
        `cannot read the root key ${file}: ${(err as NodeJS.ErrnoException).code}`,
        { cause: err },
      );
    }
    if (!mayCreate) {
      throw new AppError(
        'unavailable',
        `the root key ${file} is missing but the database holds data encrypted with it; restore the file (or point the server at the state directory it was in)`,
      );
    }
    bytes = randomBytes(32);
    await writeFileAtomic(file, bytes, 0o600);
  }
  if (bytes.length !== 32) {
    throw new AppError(
      'unavailable',
      `the root key ${file} must be exactly 32 bytes (it has ${bytes.length})`,
    );
  }
  return new NativeRootKey(bytes, `native key file ${file}`);
}
