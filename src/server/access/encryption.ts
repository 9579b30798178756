import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../data/db.js';
import {
  dataKeysByProvider,
  loadKeyring,
  rootKeyMismatch,
  rotateDataKey,
  type RootKeys,
} from '../data/encryption-keys.js';
import {
  countStaleValues,
  reencryptColumn,
  sealedColumns,
  type SealedColumn,
} from '../data/sealed-columns.js';
import { loadRootKey, type RootKeyConfig } from './root-key.js';

/** Which root key a configuration names, without reading a native key file. */
async function describeRootKey(config: RootKeyConfig): Promise<string> {
  if (config.kind === 'native' && 'file' in config) return `native key file ${config.file}`;
  return (await loadRootKey(config, false)).description;
}

/** How often the data keys are re-read, to pick up a rotation made elsewhere. */
const RELOAD_MS = 60_000;
/** How long a new data key is staged before use: every server has loaded it by then. */
export const STAGE_MS = RELOAD_MS + 30_000;
/**
 * Re-encryption passes after the active key changes. Replicas reload within RELOAD_MS, so values
 * sealed under the old key by one that had not yet reloaded appear only in the first minutes.
 */
const PASSES_AFTER_CHANGE = 3;

/**
 * Opens the configured root key (and the previous one while moving away from it), then the
 * data keys. Any failure is one sentence saying which key could not open what.
 */
export async function openKeyring(
  db: Db,
  config: { keyProvider: RootKeyConfig; previousKeyProvider?: RootKeyConfig },
  clock: Clock,
): Promise<{ roots: RootKeys; keyring: Keyring }> {
  const wrapped = await dataKeysByProvider(db);
  const hasKeys = wrapped.size > 0;
  // Before any root key is loaded: a native key file missing because the database was made
  // with another kind of root key is a configuration mistake, not a file to restore.
  const configured = [config.keyProvider, config.previousKeyProvider].filter(
    (c) => c !== undefined,
  );
  const [first] = wrapped;
  if (first && !configured.some((c) => wrapped.has(c.kind)))
    throw rootKeyMismatch(first[1], first[0], await Promise.all(configured.map(describeRootKey)));
  const roots: RootKeys = {
    current: await loadRootKey(config.keyProvider, !hasKeys || !!config.previousKeyProvider),
    previous: config.previousKeyProvider
      ? await loadRootKey(config.previousKeyProvider, false)
      : undefined,
  };
  return { roots, keyring: await loadKeyring(db, roots, clock) };
}

/**
 * Keeps sealed columns under the active data key. A rotation stages a new data key, which every
 * server loads within a minute and starts sealing with at its activation time; then everything
 * is re-encrypted with it while servers keep serving (a value is readable under its old key
 * until it has been moved). After the active key changes each server also re-encrypts, for a
 * few minutes, what is still under an old key.
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
  #seenActive: string | undefined;
  // One pass at start finishes a rotation that was interrupted.
  #passesLeft = 1;

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

  /**
   * Makes a new data key that becomes the active one after `activateAfterMs` (STAGE_MS unless
   * every server is known to reload sooner, e.g. when none runs). Re-encrypt after that time.
   */
  async stage(activateAfterMs = STAGE_MS): Promise<{ keyId: string; activeFrom: number }> {
    const activeFrom = this.#clock.now() + activateAfterMs;
    const keyId = await rotateDataKey(this.#db, this.#roots, this.#keyring, activeFrom);
    this.#log.info(
      { keyId, activeFrom: new Date(activeFrom).toISOString() },
      'new data key staged',
    );
    return { keyId, activeFrom };
  }

  /** Re-encrypts, with the active data key, every sealed value under another key. */
  async reencrypt(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const col of this.#columns) {
      counts[`${col.table}.${col.column}`] = await reencryptColumn(this.#db, this.#keyring, col);
    }
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
    const active = this.#keyring.activeKeyId;
    if (this.#seenActive !== undefined && this.#seenActive !== active) {
      this.#passesLeft = PASSES_AFTER_CHANGE;
    }
    this.#seenActive = active;
    if (this.#passesLeft === 0) return;
    this.#passesLeft--;
    await this.reencrypt();
  }
}
