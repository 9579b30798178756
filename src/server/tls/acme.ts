import { Agent } from 'node:https';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import acme from 'acme-client';
import { writeFileAtomic } from '../../shared/files.js';
import type { Logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/clock.js';
import { describeCertificate, type KeyPairPem } from '../../shared/tls/certificates.js';

const HOUR = 3_600_000;
const CHECK_INTERVAL = 12 * HOUR;
const RETRY_MIN = 60_000;
const RETRY_MAX = 6 * HOUR;
const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** Certificates from an ACME directory (validated by server/config.ts). */
export interface AcmeSettings {
  directoryUrl: string;
  email: string;
  caCertificate?: string;
  renewBeforeMs: number;
}

/**
 * Obtains and renews the server certificate from an ACME CA (Let's Encrypt by default) using the
 * http-01 challenge, answered by the plain-HTTP listener through `challengeResponse`. The
 * account key and the certificate are kept under `<stateDir>/acme` so a restart does not
 * request a new certificate.
 */
export class AcmeCertificates {
  readonly #settings: AcmeSettings;
  readonly #names: string[];
  readonly #dir: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #onCertificate: (pair: KeyPairPem) => void;
  readonly #challenges = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #retryDelay = RETRY_MIN;
  #stopped = false;
  #current: KeyPairPem | undefined;

  constructor(
    settings: AcmeSettings,
    names: string[],
    stateDir: string,
    deps: { log: Logger; clock: Clock; onCertificate: (pair: KeyPairPem) => void },
  ) {
    this.#settings = settings;
    this.#names = names;
    this.#dir = path.join(stateDir, 'acme');
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#onCertificate = deps.onCertificate;
  }

  /** The key authorization for an http-01 challenge path, if one is pending. */
  challengeResponse(urlPath: string): string | undefined {
    if (!urlPath.startsWith(CHALLENGE_PREFIX)) return undefined;
    return this.#challenges.get(urlPath.slice(CHALLENGE_PREFIX.length));
  }

  /** The certificate obtained earlier, if it is still good for the configured names. */
  async loadStored(): Promise<KeyPairPem | undefined> {
    try {
      const [certificate, privateKey] = await Promise.all([
        readFile(path.join(this.#dir, 'certificate.pem'), 'utf8'),
        readFile(path.join(this.#dir, 'certificate.key'), 'utf8'),
      ]);
      const info = describeCertificate(certificate);
      const covers = this.#names.every((n) => info.dnsNames.includes(n));
      if (!covers || info.notAfter <= this.#clock.now()) return undefined;
      this.#current = { certificate, privateKey };
      return this.#current;
    } catch {
      return undefined;
    }
  }

  /** Starts the renewal loop: obtains a certificate now if needed, then checks twice a day. */
  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), delay);
    this.#timer.unref();
  }

  #needsCertificate(): boolean {
    if (!this.#current) return true;
    const info = describeCertificate(this.#current.certificate);
    return info.notAfter - this.#clock.now() < this.#settings.renewBeforeMs;
  }

  async #check(): Promise<void> {
    if (!this.#needsCertificate()) {
      this.#schedule(CHECK_INTERVAL);
      return;
    }
    try {
      const pair = await this.#obtain();
      this.#current = pair;
      this.#retryDelay = RETRY_MIN;
      this.#onCertificate(pair);
      this.#schedule(CHECK_INTERVAL);
    } catch (err) {
      this.#log.error(
        { err: errorSummary(err), names: this.#names, retryInMs: this.#retryDelay },
        'could not obtain a certificate through ACME; the server keeps its current certificate',
      );
      this.#schedule(this.#retryDelay);
      this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX);
    }
  }

  async #accountKey(): Promise<Buffer> {
    const file = path.join(this.#dir, 'account.key');
    try {
      return await readFile(file);
    } catch {
      const key = await acme.crypto.createPrivateEcdsaKey();
      await writeFileAtomic(file, key, 0o600);
      return key;
    }
  }

  async #obtain(): Promise<KeyPairPem> {
    if (this.#settings.caCertificate) {
      // acme-client sends every request through one shared axios instance.
      acme.axios.defaults.httpsAgent = new Agent({ ca: this.#settings.caCertificate });
    }
    const client = new acme.Client({
      directoryUrl: this.#settings.directoryUrl,
      accountKey: await this.#accountKey(),
    });
    const [key, csr] = await acme.crypto.createCsr(
      { commonName: this.#names[0], altNames: this.#names },
      await acme.crypto.createPrivateEcdsaKey(),
    );
    this.#log.info(
      { names: this.#names, directory: this.#settings.directoryUrl },
      'requesting a certificate through ACME',
    );
    const certificate = await client.auto({
      csr,
      email: this.#settings.email || undefined,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA checks the challenge itself; checking from inside often fails behind NAT.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        this.#challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        this.#challenges.delete(challenge.token);
      },
    });
    const pair = { certificate, privateKey: key.toString() };
    await writeFileAtomic(path.join(this.#dir, 'certificate.key'), pair.privateKey, 0o600);
    await writeFileAtomic(path.join(this.#dir, 'certificate.pem'), pair.certificate, 0o644);
    return pair;
  }
}

function errorSummary(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
