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
  /** A key made by a rotation that becomes the active one at `from` (ms since the epoch). */
  staged?: { id: string; key: Buffer; from: number };
}

/**
 * The data keys, unwrapped, that seal sensitive columns. New values are sealed with the active
 * key; any key still in the ring opens values sealed with it. `context` names the row and column
 * (`signing_keys.private_jwk:<kid>`) so a ciphertext cannot be moved to another.
 *
 * A rotation stages the new key with an activation time a little over one reload interval away:
 * every server loads it (on its timer, or SIGHUP) before anything is sealed with it, so `open`
 * never meets a key it does not know. `openLatest` also reloads when it does, for a server that
 * missed a reload.
 */
export class Keyring {
  #active: { id: string; key: Buffer };
  #staged: DataKeys['staged'];
  #keys: Map<string, Buffer>;
  readonly #reload: (() => Promise<DataKeys>) | undefined;
  readonly #now: () => number;

  constructor(
    keys: DataKeys,
    options: { reload?: () => Promise<DataKeys>; now?: () => number } = {},
  ) {
    this.#active = keys.active;
    this.#staged = keys.staged;
    this.#keys = new Map(keys.keys).set(keys.active.id, keys.active.key);
    this.#reload = options.reload;
    this.#now = options.now ?? Date.now;
  }

  /** The key new values are sealed with now (a staged key takes over at its time). */
  #current(): { id: string; key: Buffer } {
    const staged = this.#staged;
    if (staged && this.#now() >= staged.from) {
      this.#active = { id: staged.id, key: staged.key };
      this.#staged = undefined;
    }
    return this.#active;
  }

  get activeKeyId(): string {
    return this.#current().id;
  }

  /** The staged key and when it takes over, if a rotation is under way. */
  get staged(): { id: string; from: number } | undefined {
    this.#current();
    return this.#staged && { id: this.#staged.id, from: this.#staged.from };
  }

  /** Replaces the keys (after a rotation); values sealed before stay openable. */
  update({ active, keys, staged }: DataKeys): void {
    this.#keys = new Map([...this.#keys, ...keys]).set(active.id, active.key);
    this.#active = active;
    this.#staged = staged;
  }

  /** Re-reads the data keys from where they are stored. */
  async reload(): Promise<void> {
    if (this.#reload) this.update(await this.#reload());
  }

  seal(plaintext: string, context: string): string {
    const { id, key } = this.#current();
    return sealWith(key, id, Buffer.from(plaintext, 'utf8'), context);
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
