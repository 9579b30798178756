import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';

const REDACTED = '<redacted>';

/**
 * A secret value. It prints as `<redacted>` through `String()`, JSON and `util.inspect`, so it
 * cannot reach a log line or a response by accident; `reveal()` is the one greppable way out.
 * A secret from a storage is live: `reveal()` gives the value as last re-read (see
 * SecretResolver.refresh), so callers that reveal at use time see upstream rotations.
 */
export class Secret {
  readonly #read: () => string;
  constructor(value: string | (() => string)) {
    this.#read = typeof value === 'string' ? () => value : value;
  }
  reveal(): string {
    return this.#read();
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** A place secrets are read from, named by the part of a reference before the colon. */
export interface SecretStore {
  /** Reads the secret `name`. Errors say why in words that never include a secret value. */
  get(name: string): Promise<string>;
}

/** Options every built-in storage kind takes. */
interface Base64Option {
  /** The stored text is base64 (standard or URL-safe alphabet, padded or not); decode it. */
  base64?: boolean;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Decodes base64 strictly: Buffer.from skips characters it does not know, which hides typos. */
function decodeBase64(text: string): string {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw new Error('the value is not valid base64');
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

function decoded(store: SecretStore, options: Base64Option): SecretStore {
  if (!options.base64) return store;
  return { get: async (name) => decodeBase64(await store.get(name)) };
}

export function envStore(env: NodeJS.ProcessEnv, options: Base64Option = {}): SecretStore {
  return decoded(
    {
      async get(name) {
        const value = env[name];
        if (value === undefined) throw new Error(`environment variable ${name} is not set`);
        return value;
      },
    },
    options,
  );
}

/** `file:<path>`; a relative path is taken from `options.path` (a directory) when given. */
export function fileStore(options: Base64Option & { path?: string } = {}): SecretStore {
  return decoded(
    {
      async get(name) {
        const file = options.path ? path.resolve(options.path, name) : name;
        try {
          return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
        } catch (err) {
          throw new Error(`cannot read file ${file}: ${(err as NodeJS.ErrnoException).code}`, {
            cause: err,
          });
        }
      },
    },
    options,
  );
}

export function plaintextStore(options: Base64Option = {}): SecretStore {
  return decoded({ get: async (name) => name }, options);
}

const REFERENCE = /^([a-z][a-z0-9-]*):(.*)$/s;

/** Splits `storage:name`; undefined when the text is not shaped like a reference. */
export function parseSecretReference(text: string): { storage: string; name: string } | undefined {
  const match = REFERENCE.exec(text);
  if (!match || match[2] === '') return undefined;
  return { storage: match[1]!, name: match[2]! };
}

/** How a reference is shown in messages: the value of a `plaintext:` reference is the secret. */
export function describeReference(reference: string): string {
  const parsed = parseSecretReference(reference);
  if (!parsed) return '(not a reference)';
  return parsed.storage === 'plaintext' ? 'plaintext:…' : `${parsed.storage}:${parsed.name}`;
}

async function readReference(
  setting: string,
  reference: string,
  stores: Map<string, SecretStore>,
): Promise<string> {
  const parsed = parseSecretReference(reference);
  if (!parsed) {
    throw new AppError(
      'bad_request',
      `${setting} must be a secret reference such as env:NAME, file:/path or plaintext:value`,
    );
  }
  const store = stores.get(parsed.storage);
  if (!store) {
    throw new AppError(
      'bad_request',
      `${setting} refers to secret storage "${parsed.storage}", which is not configured (known: ${[...stores.keys()].join(', ')})`,
    );
  }
  try {
    return await store.get(parsed.name);
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'unknown error';
    throw new AppError(
      'bad_request',
      `${setting}: cannot resolve secret ${describeReference(reference)} from storage "${parsed.storage}": ${reason}`,
      { cause: err },
    );
  }
}

/**
 * Resolves a reference such as `env:DB_PASSWORD` against the stores. Errors name the setting,
 * the reference's storage and name, never the value.
 */
export async function resolveSecret(
  setting: string,
  reference: string,
  stores: Map<string, SecretStore>,
): Promise<Secret> {
  return new Secret(await readReference(setting, reference, stores));
}

/** One secret that could not be re-read; the previous value stays in use. */
interface RefreshFailure {
  setting: string;
  reference: string;
  message: string;
}

/**
 * Resolves references and remembers them, so `refresh()` can re-read every one (on an interval
 * or SIGHUP) and the Secrets handed out see the new values. A failed re-read keeps the value it
 * had: a Vault outage must not take away a database password that still works.
 */
export class SecretResolver {
  readonly #stores: Map<string, SecretStore>;
  readonly #tracked: Array<{ setting: string; reference: string; value: { current: string } }> = [];

  constructor(stores: Map<string, SecretStore>) {
    this.#stores = stores;
  }

  get storageNames(): string[] {
    return [...this.#stores.keys()];
  }

  /** Adds (or replaces) a storage; used while the declared storages are built in order. */
  addStore(name: string, store: SecretStore): void {
    this.#stores.set(name, store);
  }

  /** Resolves now and keeps the reference for refresh(). */
  async resolve(setting: string, reference: string): Promise<Secret> {
    const value = { current: await readReference(setting, reference, this.#stores) };
    this.#tracked.push({ setting, reference, value });
    return new Secret(() => value.current);
  }

  /** Resolves once, without tracking (secrets read only when used, e.g. at login). */
  async read(setting: string, reference: string): Promise<Secret> {
    return new Secret(await readReference(setting, reference, this.#stores));
  }

  /** Re-reads every resolved secret; returns how many changed and which failed. */
  async refresh(): Promise<{ changed: string[]; failed: RefreshFailure[] }> {
    const changed: string[] = [];
    const failed: RefreshFailure[] = [];
    for (const t of this.#tracked) {
      try {
        const next = await readReference(t.setting, t.reference, this.#stores);
        if (next !== t.value.current) {
          t.value.current = next;
          changed.push(t.setting);
        }
      } catch (err) {
        failed.push({
          setting: t.setting,
          reference: describeReference(t.reference),
          message: (err as Error).message,
        });
      }
    }
    return { changed, failed };
  }
}

/**
 * Re-reads a process's secrets from their storages: `reload()` now (SIGHUP), and every
 * `intervalMs` (0: only when asked). A secret that cannot be re-read keeps its value; the log
 * names the setting, never a value. `after` runs after each re-read (the server reloads its data
 * keys there).
 */
export function keepSecretsFresh(opts: {
  secrets: SecretResolver;
  intervalMs: number;
  log: Logger;
  after?: () => Promise<void>;
  /** Settings applied once, at start: a new value of theirs takes effect at the next start. */
  appliedAtStart?: (setting: string) => boolean;
}): { reload(): Promise<void>; stop(): void } {
  const { secrets, log } = opts;
  const reload = async () => {
    const { changed, failed } = await secrets.refresh();
    if (changed.length > 0) {
      const later = changed.filter((s) => opts.appliedAtStart?.(s) ?? false);
      const now = changed.filter((s) => !later.includes(s));
      const parts = [
        ...(now.length > 0 ? [`in use now: ${now.join(', ')}`] : []),
        ...(later.length > 0 ? [`applied at the next start: ${later.join(', ')}`] : []),
      ];
      log.info({ inUseNow: now, atNextStart: later }, `secrets re-read; ${parts.join('; ')}`);
    }
    for (const f of failed)
      log.error({ setting: f.setting }, `${f.message}; keeping the value it had`);
    await opts.after?.();
  };
  const timer =
    opts.intervalMs > 0
      ? setInterval(() => {
          reload().catch((err: unknown) => log.error({ err }, 'could not re-read secrets'));
        }, opts.intervalMs)
      : undefined;
  timer?.unref();
  return { reload, stop: () => clearInterval(timer) };
}
