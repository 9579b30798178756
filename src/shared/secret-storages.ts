import { z } from 'zod';
import { awsClientConfig, describeAwsError, type AwsOptions } from './aws.js';
import { kubernetesStore } from './kube-secrets.js';
import {
  SecretResolver,
  envStore,
  fileStore,
  plaintextStore,
  parseSecretReference,
  type Secret,
  type SecretStore,
} from './secrets.js';
import { VaultClient, VaultError } from './vault.js';

/** `env:NAME`, `file:/path`, `vault:infra/db#password`, … */
export const secretReference = z
  .string()
  .regex(/^[a-z][a-z0-9-]*:.+$/s, 'expected a secret reference such as env:NAME or file:/path');

/** An https:// URL; http:// only on loopback (a dev server), since secrets travel over it. */
export const secureUrl = z.url().refine(
  (u) => {
    // z.url() reports an unparsable one; this check still runs, so it must not throw.
    if (!URL.canParse(u)) return true;
    const url = new URL(u);
    if (url.protocol === 'https:') return true;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return (
      url.protocol === 'http:' &&
      (host === 'localhost' || host === '::1' || host.startsWith('127.'))
    );
  },
  { message: 'must be an https:// URL (http:// only on loopback)' },
);

const base64 = z.boolean().default(false).describe('The stored value is base64; decode it');

/** What every AWS client takes: where, and as whom (references, or the SDK's default chain). */
export const awsSettings = {
  region: z.string().default('').describe('AWS region; default: the SDK default chain'),
  endpoint: secureUrl.or(z.literal('')).default('').describe('Another endpoint URL'),
  accessKeyId: secretReference.optional(),
  secretAccessKey: secretReference.optional(),
  sessionToken: secretReference.optional(),
};

export const bothAwsKeysOrNeither = [
  (c: { accessKeyId?: string; secretAccessKey?: string }) =>
    (c.accessKeyId === undefined) === (c.secretAccessKey === undefined),
  { message: 'give both accessKeyId and secretAccessKey, or neither (the default chain)' },
] as const;

const awsConfig = z
  .object(awsSettings)
  .strict()
  .refine(...bothAwsKeysOrNeither);

/** The `config` of each storage kind. */
const storageConfigs = {
  env: z.object({ base64 }).strict(),
  file: z
    .object({ base64, path: z.string().default('').describe('Directory for relative names') })
    .strict(),
  plaintext: z.object({ base64 }).strict(),
  kubernetes: z
    .object({
      namespace: z.string().default(''),
      kubeconfig: z.string().default('').describe('kubeconfig file; empty: in-cluster'),
    })
    .strict(),
  vault: z
    .object({
      address: secureUrl.describe('https://vault.example.com:8200'),
      token: secretReference.describe('Vault token, a secret reference'),
      namespace: z.string().default('').describe('Vault Enterprise namespace'),
      secretMount: z.string().default('secret').describe('Mount of the KV v2 engine'),
      caCertificate: z.string().default('').describe('CA of the Vault certificate, PEM'),
    })
    .strict(),
  awssm: awsConfig,
  awsssm: awsConfig,
} as const;

type StorageKind = keyof typeof storageConfigs;
const storageKinds = Object.keys(storageConfigs) as StorageKind[];

/**
 * A storage declared under `secrets:`. `config` is checked against the kind's schema in the
 * refinement, so errors point at `secrets[0].config.address`.
 */
export const SecretStorageDeclaration = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'lower-case letters, digits and -, starting with a letter')
      .optional()
      .describe('How references name it; default: the kind'),
    kind: z.enum(storageKinds as [StorageKind, ...StorageKind[]]),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((d, ctx) => {
    addConfigIssues(ctx, storageConfigs[d.kind], d.config, `a ${d.kind} storage`);
  });

/**
 * Checks a free-form `config` against its kind's schema and reports problems under `config.`.
 * An unknown key is named with the ones the kind knows (the loader cannot see into a record).
 */
export function addConfigIssues(
  ctx: z.core.$RefinementCtx,
  schema: z.ZodType,
  config: Record<string, unknown>,
  what: string,
): void {
  const result = schema.safeParse(config);
  if (result.success) return;
  const known = Object.keys((schema as unknown as { shape?: object }).shape ?? {});
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        ctx.addIssue({
          code: 'custom',
          path: ['config', ...issue.path, key],
          message: `not a setting of ${what}; known: ${known.join(', ')}`,
        });
      }
      continue;
    }
    ctx.addIssue({ ...issue, path: ['config', ...issue.path] } as z.core.$ZodRawIssue);
  }
}
export type SecretStorageDeclaration = z.infer<typeof SecretStorageDeclaration>;

/** The references inside a storage's config: the storages it needs built first. */
function referencesOf(d: SecretStorageDeclaration): Array<[field: string, reference: string]> {
  const out: Array<[string, string]> = [];
  for (const field of ['token', 'accessKeyId', 'secretAccessKey', 'sessionToken']) {
    const value = d.config[field];
    if (typeof value === 'string') out.push([field, value]);
  }
  return out;
}

interface StorageContext {
  env: NodeJS.ProcessEnv;
  /** Default kubeconfig for `kubernetes` storages (the connector's own kube access). */
  kubeconfig?: string;
}

/**
 * Builds the secret storages: the built-ins (`env`, `file`, `plaintext`, `kubernetes`), then the
 * declared ones in dependency order, so a Vault token can come from `env:` or from another
 * declared storage. A declaration named like a built-in replaces it (`name: env` with base64).
 * A cycle, a duplicate name or a reference to an unknown storage is an Error naming them.
 */
export async function buildSecretResolver(
  declarations: readonly SecretStorageDeclaration[],
  context: StorageContext,
): Promise<SecretResolver> {
  const resolver = new SecretResolver(
    new Map<string, SecretStore>([
      ['env', envStore(context.env)],
      ['file', fileStore()],
      ['plaintext', plaintextStore()],
      ['kubernetes', kubernetesStore({ kubeconfig: context.kubeconfig })],
    ]),
  );
  const declared = new Map<string, { index: number; d: SecretStorageDeclaration }>();
  for (const [index, d] of declarations.entries()) {
    const name = d.name ?? d.kind;
    if (declared.has(name)) {
      throw new Error(
        `secrets[${index}]: another storage is already named "${name}"; give each a unique name`,
      );
    }
    declared.set(name, { index, d });
  }

  const built = new Set<string>();
  const visiting: string[] = [];
  const build = async (name: string): Promise<void> => {
    if (built.has(name)) return;
    const entry = declared.get(name)!;
    if (visiting.includes(name)) {
      const cycle = [...visiting.slice(visiting.indexOf(name)), name];
      throw new Error(`secret storages refer to each other in a cycle: ${cycle.join(' → ')}`);
    }
    visiting.push(name);
    for (const [field, reference] of referencesOf(entry.d)) {
      const storage = parseSecretReference(reference)?.storage;
      // A storage may name a built-in it replaces (`name: env` reading `env:`): that is the built-in.
      if (storage && storage !== name && declared.has(storage)) await build(storage);
      else if (storage === name && !isBuiltin(name)) {
        throw new Error(
          `secret storages refer to each other in a cycle: ${name} → ${name} (secrets[${entry.index}].config.${field})`,
        );
      }
    }
    visiting.pop();
    resolver.addStore(
      name,
      await createStore(entry.d, `secrets[${entry.index}]`, resolver, context),
    );
    built.add(name);
  };
  for (const name of declared.keys()) await build(name);
  return resolver;
}

function isBuiltin(name: string): boolean {
  return ['env', 'file', 'plaintext', 'kubernetes'].includes(name);
}

async function createStore(
  d: SecretStorageDeclaration,
  setting: string,
  resolver: SecretResolver,
  context: StorageContext,
): Promise<SecretStore> {
  const ref = (field: string, reference: string | undefined): Promise<Secret | undefined> =>
    reference === undefined
      ? Promise.resolve(undefined)
      : resolver.resolve(`${setting}.config.${field}`, reference);
  switch (d.kind) {
    case 'env':
      return envStore(context.env, storageConfigs.env.parse(d.config));
    case 'file':
      return fileStore(storageConfigs.file.parse(d.config));
    case 'plaintext':
      return plaintextStore(storageConfigs.plaintext.parse(d.config));
    case 'kubernetes': {
      const c = storageConfigs.kubernetes.parse(d.config);
      return kubernetesStore({
        namespace: c.namespace,
        kubeconfig: c.kubeconfig || context.kubeconfig,
      });
    }
    case 'vault': {
      const c = storageConfigs.vault.parse(d.config);
      return vaultStore(
        new VaultClient({
          address: c.address,
          token: (await ref('token', c.token))!,
          namespace: c.namespace || undefined,
          caCertificate: c.caCertificate || undefined,
        }),
        c.secretMount,
      );
    }
    case 'awssm':
    case 'awsssm': {
      const c = storageConfigs[d.kind].parse(d.config);
      const options: AwsOptions = {
        region: c.region,
        endpoint: c.endpoint,
        accessKeyId: await ref('accessKeyId', c.accessKeyId),
        secretAccessKey: await ref('secretAccessKey', c.secretAccessKey),
        sessionToken: await ref('sessionToken', c.sessionToken),
      };
      return d.kind === 'awssm' ? secretsManagerStore(options) : parameterStore(options);
    }
  }
}

/** Splits `name#field`; the field is optional. */
function splitField(name: string): { name: string; field?: string } {
  const hash = name.lastIndexOf('#');
  return hash > 0 ? { name: name.slice(0, hash), field: name.slice(hash + 1) } : { name };
}

/**
 * `vault:<path>#<field>`, a KV v2 secret at the storage's mount. Without `#field` the secret
 * must have exactly one field (the original Infra wrote one named `data`).
 */
function vaultStore(vault: VaultClient, mount: string): SecretStore {
  return {
    async get(reference) {
      const { name, field } = splitField(reference);
      let fields: Record<string, unknown>;
      try {
        fields = await vault.kvGet(mount, name);
      } catch (err) {
        if (err instanceof VaultError && err.status === 404) {
          throw new Error(`no secret ${name} in the KV v2 mount ${mount} at ${vault.address}`, {
            cause: err,
          });
        }
        throw new Error(
          `cannot read ${mount}/${name} from ${vault.address}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      const keys = Object.keys(fields);
      const key = field ?? (keys.length === 1 ? keys[0]! : undefined);
      if (key === undefined) {
        throw new Error(
          `secret ${name} has fields ${keys.join(', ')}; name one as ${name}#<field>`,
        );
      }
      const value = fields[key];
      if (value === undefined) throw new Error(`secret ${name} has no field ${key}`);
      return typeof value === 'string' ? value : JSON.stringify(value);
    },
  };
}

/** `awssm:<secret id or ARN>[#json-key]`: a Secrets Manager secret's current value. */
function secretsManagerStore(options: AwsOptions): SecretStore {
  let client: Promise<(id: string) => Promise<{ text?: string; binary?: Uint8Array }>> | undefined;
  const connect = async () => {
    const sm = await import('@aws-sdk/client-secrets-manager');
    const c = new sm.SecretsManagerClient(awsClientConfig(options));
    return async (id: string) => {
      const out = await c.send(new sm.GetSecretValueCommand({ SecretId: id }));
      return { text: out.SecretString, binary: out.SecretBinary };
    };
  };
  return {
    async get(reference) {
      const { name, field } = splitField(reference);
      client ??= connect();
      let out;
      try {
        out = await (await client)(name);
      } catch (err) {
        throw new Error(`Secrets Manager: ${describeAwsError(err)}`, { cause: err });
      }
      const text = out.text ?? (out.binary ? Buffer.from(out.binary).toString('utf8') : '');
      if (field === undefined) return text;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`secret ${name} is not a JSON object, so it has no key ${field}`);
      }
      const value = (parsed as Record<string, unknown> | null)?.[field];
      if (value === undefined) throw new Error(`secret ${name} has no key ${field}`);
      return typeof value === 'string' ? value : JSON.stringify(value);
    },
  };
}

/** `awsssm:<parameter name>`: an SSM parameter, SecureString decrypted. */
function parameterStore(options: AwsOptions): SecretStore {
  let client: Promise<(name: string) => Promise<string | undefined>> | undefined;
  const connect = async () => {
    const ssm = await import('@aws-sdk/client-ssm');
    const c = new ssm.SSMClient(awsClientConfig(options));
    return async (name: string) =>
      (await c.send(new ssm.GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter
        ?.Value;
  };
  return {
    async get(name) {
      client ??= connect();
      try {
        const value = await (await client)(name);
        if (value === undefined) throw new Error(`parameter ${name} has no value`);
        return value;
      } catch (err) {
        throw new Error(`SSM Parameter Store: ${describeAwsError(err)}`, { cause: err });
      }
    },
  };
}
