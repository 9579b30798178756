import { awsClientConfig, describeAwsError, type AwsOptions } from '../../shared/aws.js';
import { VaultClient, type VaultOptions } from '../../shared/vault.js';
import type { RootKey } from './keyring.js';

/**
 * Vault transit as the root key: data keys are encrypted by Vault and never leave it in the
 * clear; `context` goes as associated data (Vault 1.13+), so a wrapped key opens only for its row.
 */
export class VaultRootKey implements RootKey {
  readonly provider = 'vault';
  readonly #vault: VaultClient;
  readonly #mount: string;
  readonly #key: string;

  constructor(options: VaultOptions & { transitMount: string; key: string }) {
    this.#vault = new VaultClient(options);
    this.#mount = options.transitMount;
    this.#key = options.key;
  }

  get description(): string {
    return `Vault transit key ${this.#mount}/${this.#key} at ${this.#vault.address}`;
  }

  wrap(dataKey: Buffer, context: string): Promise<string> {
    return this.#vault.transitEncrypt(this.#mount, this.#key, dataKey, context);
  }

  unwrap(wrapped: string, context: string): Promise<Buffer> {
    return this.#vault.transitDecrypt(this.#mount, this.#key, wrapped, context);
  }
}

/**
 * AWS KMS as the root key: GenerateDataKey makes data keys, Decrypt opens them, Encrypt re-wraps
 * an existing one when the root key changes. `context` is the KMS encryption context.
 */
export class AwsKmsRootKey implements RootKey {
  readonly provider = 'awskms';
  readonly #options: AwsOptions;
  readonly #keyId: string;
  #client: Promise<KmsCalls> | undefined;

  constructor(options: AwsOptions & { keyId: string }) {
    this.#options = options;
    this.#keyId = options.keyId;
  }

  get description(): string {
    return `AWS KMS key ${this.#keyId}`;
  }

  async generate(context: string): Promise<{ dataKey: Buffer; wrapped: string }> {
    return this.#call(async (kms) => kms.generate(this.#keyId, context));
  }

  async wrap(dataKey: Buffer, context: string): Promise<string> {
    return this.#call(async (kms) => kms.encrypt(this.#keyId, dataKey, context));
  }

  async unwrap(wrapped: string, context: string): Promise<Buffer> {
    return this.#call(async (kms) => kms.decrypt(this.#keyId, wrapped, context));
  }

  async #call<T>(fn: (kms: KmsCalls) => Promise<T>): Promise<T> {
    this.#client ??= kmsCalls(this.#options);
    try {
      return await fn(await this.#client);
    } catch (err) {
      throw new Error(`KMS: ${describeAwsError(err)}`, { cause: err });
    }
  }
}

interface KmsCalls {
  generate(keyId: string, context: string): Promise<{ dataKey: Buffer; wrapped: string }>;
  encrypt(keyId: string, plaintext: Buffer, context: string): Promise<string>;
  decrypt(keyId: string, wrapped: string, context: string): Promise<Buffer>;
}

// The SDK is loaded only by servers that use KMS.
async function kmsCalls(options: AwsOptions): Promise<KmsCalls> {
  const sdk = await import('@aws-sdk/client-kms');
  const kms = new sdk.KMSClient(awsClientConfig(options));
  const encryptionContext = (context: string) => ({ infra: context });
  const blob = (b: Uint8Array | undefined) => {
    if (!b) throw new Error('KMS returned no ciphertext');
    return Buffer.from(b).toString('base64');
  };
  return {
    async generate(keyId, context) {
      const out = await kms.send(
        new sdk.GenerateDataKeyCommand({
          KeyId: keyId,
          KeySpec: 'AES_256',
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!out.Plaintext) throw new Error('KMS returned no data key');
      return { dataKey: Buffer.from(out.Plaintext), wrapped: blob(out.CiphertextBlob) };
    },
    async encrypt(keyId, plaintext, context) {
      const out = await kms.send(
        new sdk.EncryptCommand({
          KeyId: keyId,
          Plaintext: plaintext,
          EncryptionContext: encryptionContext(context),
        }),
      );
      return blob(out.CiphertextBlob);
    },
    async decrypt(keyId, wrapped, context) {
      const out = await kms.send(
        new sdk.DecryptCommand({
          KeyId: keyId,
          CiphertextBlob: Buffer.from(wrapped, 'base64'),
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!out.Plaintext) throw new Error('KMS returned no plaintext');
      return Buffer.from(out.Plaintext);
    },
  };
}
