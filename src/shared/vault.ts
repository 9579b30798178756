import http from 'node:http';
import https from 'node:https';
import type { Secret } from './secrets.js';

export interface VaultOptions {
  /** https://vault.example.com:8200 (http:// only for a dev server on loopback). */
  address: string;
  token: Secret;
  /** Vault Enterprise namespace, sent as X-Vault-Namespace. */
  namespace?: string;
  /** PEM of the CA that signs Vault's certificate, when it is not a public one. */
  caCertificate?: string;
}

/** A Vault answer that was not 2xx: the status and Vault's `errors` (never a secret value). */
export class VaultError extends Error {
  readonly status: number;
  constructor(status: number, errors: string[]) {
    super(
      `Vault answered ${status}` +
        (errors.length > 0 ? `: ${errors.join('; ')}` : status === 404 ? ': not found' : ''),
    );
    this.name = 'VaultError';
    this.status = status;
  }
}

const TIMEOUT_MS = 10_000;

/**
 * The few Vault HTTP API calls we make (KV v2 reads, transit encrypt and decrypt), over
 * node:http(s) so a private CA can be trusted without touching the process's global agent.
 */
export class VaultClient {
  readonly #options: VaultOptions;
  readonly #base: URL;

  constructor(options: VaultOptions) {
    this.#options = options;
    this.#base = new URL(options.address.replace(/\/+$/, '') + '/');
  }

  get address(): string {
    return this.#base.origin;
  }

  /** KV v2: the fields of the latest version of `<mount>/data/<path>`. */
  async kvGet(mount: string, secretPath: string): Promise<Record<string, unknown>> {
    const body = (await this.#call('GET', `${trim(mount)}/data/${trim(secretPath)}`)) as {
      data?: { data?: Record<string, unknown> | null };
    };
    const fields = body.data?.data;
    // A deleted (soft) latest version answers 404 with data null.
    if (!fields) throw new VaultError(404, []);
    return fields;
  }

  /** Transit: encrypts with key `name` (Vault creates an aes256-gcm96 key on first use). */
  async transitEncrypt(
    mount: string,
    name: string,
    plaintext: Buffer,
    associatedData: string,
  ): Promise<string> {
    const body = (await this.#call('POST', `${trim(mount)}/encrypt/${trim(name)}`, {
      plaintext: plaintext.toString('base64'),
      associated_data: Buffer.from(associatedData, 'utf8').toString('base64'),
    })) as { data?: { ciphertext?: string } };
    const ciphertext = body.data?.ciphertext;
    if (typeof ciphertext !== 'string') throw new Error('Vault returned no ciphertext');
    return ciphertext;
  }

  async transitDecrypt(
    mount: string,
    name: string,
    ciphertext: string,
    associatedData: string,
  ): Promise<Buffer> {
    const body = (await this.#call('POST', `${trim(mount)}/decrypt/${trim(name)}`, {
      ciphertext,
      associated_data: Buffer.from(associatedData, 'utf8').toString('base64'),
    })) as { data?: { plaintext?: string } };
    const plaintext = body.data?.plaintext;
    if (typeof plaintext !== 'string') throw new Error('Vault returned no plaintext');
    return Buffer.from(plaintext, 'base64');
  }

  #call(method: string, apiPath: string, payload?: unknown): Promise<unknown> {
    const url = new URL(`v1/${apiPath}`, this.#base);
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    const headers: Record<string, string> = { 'X-Vault-Token': this.#options.token.reveal() };
    if (this.#options.namespace) headers['X-Vault-Namespace'] = this.#options.namespace;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { method, headers, timeout: TIMEOUT_MS, ca: this.#options.caCertificate || undefined },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              // Proxies in front of Vault answer HTML; the status says enough.
            }
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              const errors = (parsed as { errors?: unknown } | undefined)?.errors;
              reject(
                new VaultError(
                  status,
                  Array.isArray(errors) ? errors.filter((e) => typeof e === 'string') : [],
                ),
              );
            } else if (parsed === undefined) {
              reject(new Error(`Vault answered ${status} with a body that is not JSON`));
            } else resolve(parsed);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from Vault in ${TIMEOUT_MS} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code
            ? new Error(`cannot reach Vault at ${url.origin}: ${err.code}`, { cause: err })
            : err,
        ),
      );
      req.end(body);
    });
  }
}

function trim(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}
