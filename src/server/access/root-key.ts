import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/files.js';
import { NativeRootKey } from '../crypto/keyring.js';

/**
 * The native root key: 32 bytes in `<stateDir>/root.key` (mode 0600). It is created only for a
 * database that has no data keys yet; a missing file for a database that has them stops the
 * server instead of orphaning what they encrypt.
 */
export async function loadNativeRootKey(
  stateDir: string,
  databaseHasKeys: boolean,
): Promise<NativeRootKey> {
  const file = path.join(stateDir, 'root.key');
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AppError(
        'unavailable',
        `cannot read the root key ${file}: ${(err as NodeJS.ErrnoException).code}`,
        {
          cause: err,
        },
      );
    }
    if (databaseHasKeys) {
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
  return new NativeRootKey(bytes);
}
