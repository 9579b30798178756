import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Clock } from '../../shared/clock.js';
import { ConfigError } from '../../shared/config-loader.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secrets.js';
import type { AcmeCertificates, AcmeSettings } from './acme.js';
import {
  fingerprintSha256,
  splitPemCertificates,
  type KeyPairPem,
} from '../../shared/tls/certificates.js';
import { DEFAULT_HOSTS, loadOrCreateSelfSigned } from '../../shared/tls/self-signed.js';

/** How the server serves TLS (validated by server/config.ts). */
export interface TlsConfig {
  hosts: string[];
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** A configured certificate chain and key, which replace the generated ones. */
  custom?: { certificate: string; privateKey: Secret };
  acme?: AcmeSettings;
}

type CertificateSource = 'generated' | 'configured' | 'acme';

/** The certificate the HTTPS listener serves right now. */
interface ServingCertificate {
  /** PEM chain, leaf first. */
  chain: string;
  privateKey: string;
  /** SHA-256 fingerprint of the leaf, `AB:CD:…`. */
  fingerprint: string;
  source: CertificateSource;
}

// Modern AEAD suites only, for the TLS 1.2 clients we still accept.
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Decides which certificate the server serves (configured, ACME, or its own generated one),
 * keeps it current, and tells listeners when it changes.
 */
export class ServerTls {
  #current: ServingCertificate;
  readonly #config: TlsConfig;
  readonly #log: Logger;
  readonly #listeners: Array<(cert: ServingCertificate) => void> = [];
  #acme: AcmeCertificates | undefined;
  #leaf: { of: ServingCertificate; cert: X509Certificate } | undefined;

  private constructor(config: TlsConfig, current: ServingCertificate, log: Logger) {
    this.#config = config;
    this.#current = current;
    this.#log = log;
  }

  /** The ACME client, when certificates come from ACME; it answers http-01 challenges. */
  get acme(): AcmeCertificates | undefined {
    return this.#acme;
  }

  static async prepare(
    config: TlsConfig,
    stateDir: string,
    deps: { log: Logger; clock: Clock },
  ): Promise<ServerTls> {
    if (config.custom) {
      const current = validateConfigured(
        config.custom.certificate,
        config.custom.privateKey.reveal(),
      );
      return new ServerTls(config, current, deps.log);
    }
    const generated = await loadOrCreateSelfSigned(
      stateDir,
      config.hosts,
      deps.clock.now(),
      deps.log,
    );
    const fallback = serving(
      {
        certificate: generated.leaf.certificate + generated.ca.certificate,
        privateKey: generated.leaf.privateKey,
      },
      'generated',
    );
    if (!config.acme) return new ServerTls(config, fallback, deps.log);

    const names = config.hosts.filter((h) => !DEFAULT_HOSTS.includes(h) && /[A-Za-z]/.test(h));
    const tls = new ServerTls(config, fallback, deps.log);
    // The ACME client (acme-client, axios, node-forge: ~180 ms at start) only when configured.
    const { AcmeCertificates } = await import('./acme.js');
    tls.#acme = new AcmeCertificates(config.acme, names, stateDir, {
      ...deps,
      onCertificate: (pair) => tls.#replace(serving(pair, 'acme')),
    });
    const stored = await tls.#acme.loadStored();
    if (stored) tls.#current = serving(stored, 'acme');
    return tls;
  }

  get current(): ServingCertificate {
    return this.#current;
  }

  /**
   * Whether `name` (a lower-case DNS name or IP address) is one of the server's: always true for
   * localhost and the configured `tls.hosts`, and for any name the certificate served covers.
   */
  servesName(name: string): boolean {
    if (DEFAULT_HOSTS.includes(name) || this.#config.hosts.some((h) => h.toLowerCase() === name))
      return true;
    if (this.#leaf?.of !== this.#current) {
      const pem = splitPemCertificates(this.#current.chain)[0]!;
      this.#leaf = { of: this.#current, cert: new X509Certificate(pem) };
    }
    const leaf = this.#leaf.cert;
    return (isIP(name) ? leaf.checkIP(name) : leaf.checkHost(name)) !== undefined;
  }

  /** Options for `https.createServer` / `setSecureContext`. */
  secureContextOptions(): SecureContextOptions {
    return {
      cert: this.#current.chain,
      key: this.#current.privateKey,
      minVersion: this.#config.minVersion,
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
    };
  }

  onChange(listener: (cert: ServingCertificate) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    this.#acme?.start();
  }

  stop(): void {
    this.#acme?.stop();
  }

  #replace(next: ServingCertificate): void {
    this.#current = next;
    this.#log.info(
      { fingerprint: next.fingerprint, source: next.source },
      `now serving a new TLS certificate, SHA-256 fingerprint ${next.fingerprint}`,
    );
    for (const listener of this.#listeners) listener(next);
  }
}

function serving(pair: KeyPairPem, source: CertificateSource): ServingCertificate {
  return {
    chain: pair.certificate,
    privateKey: pair.privateKey,
    fingerprint: fingerprintSha256(pair.certificate),
    source,
  };
}

function validateConfigured(chain: string, privateKey: string): ServingCertificate {
  const certs = splitPemCertificates(chain);
  if (certs.length === 0) {
    throw new ConfigError('tls.certificate holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  try {
    createPrivateKey(privateKey);
  } catch (err) {
    throw new ConfigError('tls.privateKey is not a PEM private key', { cause: err });
  }
  const leaf = new X509Certificate(certs[0]!);
  if (!leaf.checkPrivateKey(createPrivateKey(privateKey))) {
    throw new ConfigError(
      'tls.privateKey does not belong to the first certificate in tls.certificate; check that the key and certificate files are a pair',
    );
  }
  try {
    createSecureContext({ cert: chain, key: privateKey });
  } catch (err) {
    throw new ConfigError(`tls.certificate cannot be served: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return serving({ certificate: chain, privateKey }, 'configured');
}
