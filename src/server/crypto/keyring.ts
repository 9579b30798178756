import { randomBytes } from 'node:crypto';
import { openWith, sealWith, sealedKeyId } from './seal.js';

/**
 * The root of the key hierarchy: wraps and unwraps data keys. The native root key is 32 bytes in
 * a file; the secrets issue adds Vault transit and AWS KMS behind this interface.
 */
export interface RootKey {
  /** Recorded with each wrapped data key (`native`, `vault`, `awskms`). */
  readonly provider: string;
  wrap(dataKey: Buffer, context: string): Promise<string>;
  unwrap(wrapped: string, context: string): Promise<Buffer>;
}

/** A root key held in memory (read from a file or a secret). */
export class NativeRootKey implements RootKey {
  readonly provider = 'native';
  readonly #key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new TypeError('a native root key is 32 bytes');
    this.#key = key;
  }
  async wrap(dataKey: Buffer, context: string): Promise<string> {
    return sealWith(this.#key, 'root', dataKey, context);
  }
  async unwrap(wrapped: string, context: string): Promise<Buffer> {
    return openWith(this.#key, wrapped, context);
  }
}

export function newDataKey(): Buffer {
  return randomBytes(32);
}

/**
 * The data keys, unwrapped, that seal sensitive columns. New values are sealed with the active
 * key; any key still in the ring opens values sealed with it. `context` names the row and column
 * (`signing_keys.private_jwk:<kid>`) so a ciphertext cannot be moved to another.
 */
export class Keyring {
  readonly #active: { id: string; key: Buffer };
  readonly #keys: Map<string, Buffer>;

  constructor(active: { id: string; key: Buffer }, keys: Map<string, Buffer>) {
    this.#active = active;
    this.#keys = new Map(keys).set(active.id, active.key);
  }

  get activeKeyId(): string {
    return this.#active.id;
  }

  seal(plaintext: string, context: string): string {
    return sealWith(this.#active.key, this.#active.id, Buffer.from(plaintext, 'utf8'), context);
  }

  open(sealed: string, context: string): string {
    const id = sealedKeyId(sealed);
    const key = id === undefined ? undefined : this.#keys.get(id);
    if (!key)
      throw new Error(`no data key ${id ?? '(none)'} to open a value sealed for ${context}`);
    return openWith(key, sealed, context).toString('utf8');
  }
}
