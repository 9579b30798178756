import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { AppError } from './errors.js';

const REDACTED = '<redacted>';

/**
 * A secret value. It prints as `<redacted>` through `String()`, JSON and `util.inspect`, so it
 * cannot reach a log line or a response by accident; `reveal()` is the one greppable way out.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
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
  get(name: string): Promise<string>;
}

/**
 * Built-in stores: `env:NAME` (an environment variable), `file:/path` (a file's content, one
 * trailing newline removed) and `plaintext:value` (the value itself; discouraged). The secret
 * storage issue adds Kubernetes, Vault and AWS stores through the same interface.
 */
export function builtinSecretStores(env: NodeJS.ProcessEnv): Map<string, SecretStore> {
  return new Map<string, SecretStore>([
    [
      'env',
      {
        async get(name) {
          const value = env[name];
          if (value === undefined) throw new Error(`environment variable ${name} is not set`);
          return value;
        },
      },
    ],
    [
      'file',
      {
        async get(name) {
          try {
            return (await readFile(name, 'utf8')).replace(/\r?\n$/, '');
          } catch (err) {
            throw new Error(`cannot read file ${name}: ${(err as NodeJS.ErrnoException).code}`, {
              cause: err,
            });
          }
        },
      },
    ],
    ['plaintext', { get: async (name) => name }],
  ]);
}

const REFERENCE = /^([a-z][a-z0-9-]*):(.*)$/s;

/** Splits `storage:name`; undefined when the text is not shaped like a reference. */
export function parseSecretReference(text: string): { storage: string; name: string } | undefined {
  const match = REFERENCE.exec(text);
  if (!match || match[2] === '') return undefined;
  return { storage: match[1]!, name: match[2]! };
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
    return new Secret(await store.get(parsed.name));
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'unknown error';
    const shown =
      parsed.storage === 'plaintext' ? 'plaintext:…' : `${parsed.storage}:${parsed.name}`;
    throw new AppError('bad_request', `${setting}: cannot resolve secret ${shown}: ${reason}`, {
      cause: err,
    });
  }
}
