import { randomBytes } from 'node:crypto';
import { openWith, sealWith, sealedKeyId } from './seal.js';

/**
 * The root of the key hierarchy: wraps and unwraps data keys. Implementations: the native key
 * (32 bytes from a file or a secret), Vault transit and AWS KMS (`root-keys.ts`).
 */
export interface RootKey {
  /** Recorded with each wrapped data key (`native`, `vault`, `awskms`). */
  readonly provider: string;
  /** For messages: which key this is, never its value (`native key file /x/root.key`). */
  readonly description: string;
  wrap(dataKey: Buffer, context: string): Promise<string>;
  unwrap(wrapped: string, context: string): Promise<Buffer>;
  /** Makes and wraps a new data key in one call, where the provider can (KMS GenerateDataKey). */
  generate?(context: string): Promise<{ dataKey: Buffer; wrapped: string }>;
}

/** A root key held in memory (read from a file or a secret). */
export class NativeRootKey implements RootKey {
  readonly provider = 'native';
  readonly description: string;
  readonly #key: Buffer;
  constructor(key: Buffer, description = 'native key') {
    if (key.length !== 32) throw new TypeError('a native root key is 32 bytes');
    this.#key = key;
    this.description = description;
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

/** The data keys, as loaded: the one new values are sealed with, and all that open old ones. */
export interface DataKeys {
  active: { id: string; key: Buffer };
  keys: Map<string, Buffer>;
}

/**
 * The data keys, unwrapped, that seal sensitive columns. New values are sealed with the active
 * key; any key still in the ring opens values sealed with it. `context` names the row and column
 * (`signing_keys.private_jwk:<kid>`) so a ciphertext cannot be moved to another. After a rotation
 * by another process (`infra server rotate-keys`, another replica) the ring is reloaded: on a
 * timer, and by openLatest when it meets a key it does not know.
 */
export class Keyring {
  #active: { id: string; key: Buffer };
  #keys: Map<string, Buffer>;
  readonly #reload: (() => Promise<DataKeys>) | undefined;

  constructor(
    active: { id: string; key: Buffer },
    keys: Map<string, Buffer>,
    reload?: () => Promise<DataKeys>,
  ) {
    this.#active = active;
    this.#keys = new Map(keys).set(active.id, active.key);
    this.#reload = reload;
  }

  get activeKeyId(): string {
    return this.#active.id;
  }

  /** Replaces the keys (after a rotation); values sealed before stay openable. */
  update({ active, keys }: DataKeys): void {
    this.#keys = new Map([...this.#keys, ...keys]).set(active.id, active.key);
    this.#active = active;
  }

  /** Re-reads the data keys from where they are stored. */
  async reload(): Promise<void> {
    if (this.#reload) this.update(await this.#reload());
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

  /** Like open, but first reloads the ring when the value names a key it does not have yet. */
  async openLatest(sealed: string, context: string): Promise<string> {
    const id = sealedKeyId(sealed);
    if (id !== undefined && !this.#keys.has(id)) await this.reload();
    return this.open(sealed, context);
  }
}
