import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { ServerConfig } from '../config.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../data/db.js';
import {
  countEncryptionKeys,
  loadKeyring,
  rotateDataKey,
  type RootKeys,
} from '../data/encryption-keys.js';
import {
  countStaleValues,
  reencryptColumn,
  sealedColumns,
  type SealedColumn,
} from '../data/sealed-columns.js';
import { loadRootKey } from './root-key.js';

/** How often the data keys are re-read, to pick up a rotation made elsewhere. */
const RELOAD_MS = 60_000;

/**
 * Opens the configured root key (and the previous one while moving away from it), then the
 * data keys. Any failure is one sentence saying which key could not open what.
 */
export async function openKeyring(
  db: Db,
  config: Pick<ServerConfig, 'keyProvider' | 'previousKeyProvider'>,
  now: number,
): Promise<{ roots: RootKeys; keyring: Keyring }> {
  const hasKeys = (await countEncryptionKeys(db)) > 0;
  const roots: RootKeys = {
    current: await loadRootKey(config.keyProvider, !hasKeys || !!config.previousKeyProvider),
    previous: config.previousKeyProvider
      ? await loadRootKey(config.previousKeyProvider, false)
      : undefined,
  };
  return { roots, keyring: await loadKeyring(db, roots, now) };
}

/**
 * Keeps sealed columns under the active data key. `rotate()` makes a new data key and
 * re-encrypts everything with it while the server keeps serving: a value is readable under its
 * old key until it has been moved. Every replica reloads the keys each minute and re-encrypts
 * what is still under an old key (rows written by a replica that had not yet seen the new key).
 */
export class DataEncryption {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #roots: RootKeys;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #columns: readonly SealedColumn[];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #reencryptedFor: string | undefined;

  constructor(deps: {
    db: Db;
    keyring: Keyring;
    roots: RootKeys;
    clock: Clock;
    log: Logger;
    columns?: readonly SealedColumn[];
  }) {
    this.#db = deps.db;
    this.#keyring = deps.keyring;
    this.#roots = deps.roots;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#columns = deps.columns ?? sealedColumns;
  }

  get keyring(): Keyring {
    return this.#keyring;
  }

  /** Starts the reload loop; the first pass re-encrypts whatever an earlier rotation left. */
  start(): void {
    const tick = () => {
      this.#running = this.#tick().catch((err: unknown) =>
        this.#log.error({ err }, 'could not reload the data keys or re-encrypt with them'),
      );
    };
    tick();
    this.#timer = setInterval(tick, RELOAD_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  /** Makes a new data key active and re-encrypts every sealed value with it. */
  async rotate(): Promise<{ keyId: string; reencrypted: Record<string, number> }> {
    const keyId = await rotateDataKey(this.#db, this.#roots, this.#keyring, this.#clock.now());
    this.#log.info({ keyId }, 'new data key; re-encrypting sealed values with it');
    return { keyId, reencrypted: await this.reencrypt() };
  }

  /** Re-encrypts, with the active data key, every sealed value under another key. */
  async reencrypt(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const col of this.#columns) {
      counts[`${col.table}.${col.column}`] = await reencryptColumn(this.#db, this.#keyring, col);
    }
    this.#reencryptedFor = this.#keyring.activeKeyId;
    const moved = Object.values(counts).reduce((a, b) => a + b, 0);
    if (moved > 0) this.#log.info({ counts }, `re-encrypted ${moved} sealed values`);
    return counts;
  }

  /** Sealed values not yet under the active key, per column. */
  stale(): Promise<Record<string, number>> {
    return countStaleValues(this.#db, this.#keyring, this.#columns);
  }

  async #tick(): Promise<void> {
    await this.#keyring.reload();
    if (this.#reencryptedFor === this.#keyring.activeKeyId) {
      // One cheap count instead of a full pass: catches late writes under the previous key.
      const stale = Object.values(await this.stale()).some((n) => n > 0);
      if (!stale) return;
    }
    await this.reencrypt();
  }
}
