import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  addressSetting,
  connectionLimitsSetting,
  durationSetting,
  expandPath,
  loadConfigLayers,
  readPemOrPath,
  type ConfigSources,
  type ConnectionLimits,
  type ListenAddress,
} from '../shared/config-loader.js';
import { Email } from '../api/common.js';
import { DestinationName, Privilege, Resource } from '../api/grants.js';
import { GroupName } from '../api/groups.js';
import { RequestPolicyFields } from '../api/access-requests.js';
import type { DeclaredRequestPolicy } from './access/request-policies.js';
import type { WebhookConfig } from './access/webhook.js';
import { parseDuration } from '../shared/duration.js';
import { ProviderKind, ProviderName, ProviderUrl } from '../api/providers.js';
import type { DeclaredConnector, DeclaredGrant, DeclaredUser } from './access/bootstrap.js';
import type { ProviderInput } from './access/providers.js';
import type { RootKeyConfig } from './access/root-key.js';
import type { DatabaseConfig } from './data/db.js';
import type { TlsConfig } from './tls/server-tls.js';
import { logFormats, logLevels, type LogFormat, type LogLevel } from '../shared/logger.js';
import type { AccessSettings } from './access/context.js';
import type { KubeAuditExport } from './access/kube-audit-store.js';
import { parseSecretReference, type Secret, type SecretResolver } from '../shared/secrets.js';
import { CONFIG_FILE_ONLY_KINDS } from './access/secret-references.js';
import {
  SecretStorageDeclaration,
  addConfigIssues,
  buildSecretResolver,
  awsSettings,
  bothAwsKeysOrNeither,
  secretReference,
  secureUrl,
} from '../shared/secret-storages.js';

/** The `config` of each root key provider (see docs/configuration/secrets.md). */
const keyProviderConfigs = {
  native: z
    .object({
      file: z.string().default('').describe('32-byte key file; default <stateDir>/root.key'),
      key: secretReference
        .optional()
        .describe('Or: a secret reference to the key, 32 bytes in base64'),
    })
    .strict()
    .refine((c) => !(c.file && c.key), { message: 'give either file or key, not both' }),
  vault: z
    .object({
      address: secureUrl,
      token: secretReference,
      namespace: z.string().default(''),
      transitMount: z.string().default('transit'),
      key: z.string().min(1).default('infra-root').describe('Name of the transit key'),
      caCertificate: z.string().default(''),
    })
    .strict(),
  awskms: z
    .object({
      keyId: z.string().min(1).describe('KMS key id, ARN or alias/name'),
      ...awsSettings,
    })
    .strict()
    .refine(...bothAwsKeysOrNeither),
} as const;

const KeyProvider = z
  .object({
    kind: z.enum(['native', 'vault', 'awskms']).default('native'),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((p, ctx) => {
    addConfigIssues(ctx, keyProviderConfigs[p.kind], p.config, `the ${p.kind} key provider`);
  });

const hostName = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9.]+|[0-9a-fA-F:]+)$/,
    'expected a DNS name or an IP address',
  );

const ConfigUser = z
  .object({
    name: Email,
    password: secretReference.optional().describe('A secret reference; the user signs in with it'),
    accessKey: secretReference.optional().describe('A secret reference to a key <id>.<secret>'),
    infraRole: z.enum(['admin', 'view']).optional().describe('Role on infra to grant'),
  })
  .strict();

const ConfigConnector = z
  .object({
    destination: DestinationName.describe('The destination (cluster) the key is bound to'),
    accessKey: secretReference.describe('A secret reference to a key <id>.<secret>'),
  })
  .strict();

const ConfigGrant = z
  .object({
    user: Email.optional(),
    group: GroupName.optional(),
    role: Privilege.default('connect'),
    resource: Resource,
  })
  .strict()
  .refine((g) => (g.user === undefined) !== (g.group === undefined), {
    message: 'give exactly one of user or group',
  });

/** https, or http to a loopback address (a local relay). */
function webhookUrl(text: string): boolean {
  try {
    const u = new URL(text);
    if (u.username || u.password) return false;
    return u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u.hostname));
  } catch {
    return false;
  }
}

const ConfigRequestPolicy = z
  .object({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/), ...RequestPolicyFields })
  .strict();

const ConfigProvider = z
  .object({
    name: ProviderName,
    kind: ProviderKind,
    url: ProviderUrl.describe('The issuer'),
    clientID: z.string().min(1).max(512),
    clientSecret: secretReference.describe('A secret reference, read at each login'),
    scopes: z.array(z.string().min(1).max(100)).max(50).optional(),
    groupsClaim: z.string().min(1).max(200).optional().describe('Default groups'),
    apiURL: ProviderUrl.optional().describe('Azure: Microsoft Graph; Google: Directory API'),
    domainAdminEmail: Email.optional().describe('Google: the admin to act as'),
    serviceAccountKey: secretReference
      .optional()
      .describe('Google: a secret reference to the service account key JSON'),
  })
  .strict();

/** An IP address, or a CIDR range such as 10.0.0.0/8. */
const ProxyAddress = z.string().refine((s) => {
  const [ip, bits, ...rest] = s.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}, 'must be an IP address or a CIDR range such as 10.0.0.0/8');

/** The public origin: `https://host[:port]`, nothing after it. */
const PublicUrl = z
  .string()
  .refine((text) => {
    try {
      const u = new URL(text);
      return (
        u.protocol === 'https:' &&
        hostName.safeParse(u.hostname.replace(/^\[|\]$/g, '')).success &&
        !u.username &&
        !u.password &&
        u.pathname === '/' &&
        !u.search &&
        !u.hash &&
        !/[?#]/.test(text)
      );
    } catch {
      return false;
    }
  }, 'must be the https:// address people and programs use for this server, such as https://infra.example.com, with no path')
  .transform((text) => new URL(text).origin);

/** The server's settings, as read from YAML (camelCase keys), env and flags. */
export const ServerSettings = z
  .object({
    stateDir: z
      .string()
      .min(1)
      .default('~/.infra')
      .describe('Directory for the database, certificates and keys'),
    logLevel: z.enum(logLevels).default('info').describe('debug, info, warn or error'),
    logFormat: z
      .enum(logFormats)
      .optional()
      .describe('json or text; default text on a terminal, JSON otherwise'),
    addr: z
      .object({
        https: addressSetting.prefault(':4443').describe('HTTPS listener (API and dashboard)'),
        http: addressSetting
          .prefault('')
          .describe('Optional plain-HTTP listener that only redirects to HTTPS; empty is off'),
        metrics: addressSetting.prefault(':9090').describe('Prometheus /metrics; empty is off'),
      })
      .strict()
      .prefault({}),
    tls: z
      .object({
        hosts: z
          .array(hostName)
          .default([])
          .describe('Extra DNS names or IPs for the certificate (localhost is always included)'),
        certificate: z
          .string()
          .default('')
          .describe('Certificate chain to serve, as PEM or a file path'),
        privateKey: secretReference
          .optional()
          .describe('Private key of tls.certificate, a secret reference'),
        minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
        acme: z
          .object({
            enabled: z.boolean().default(false).describe('Obtain certificates for tls.hosts'),
            directoryUrl: z
              .url()
              .default('https://acme-v02.api.letsencrypt.org/directory')
              .describe('ACME directory'),
            email: z.string().default('').describe('Contact address for the ACME account'),
            caCertificate: z
              .string()
              .default('')
              .describe(
                'CA that signs the ACME directory, as PEM or a path (private ACME servers)',
              ),
            renewBefore: durationSetting
              .prefault('720h')
              .describe('Renew when the certificate expires within this'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    sessions: z
      .object({
        duration: durationSetting.prefault('720h').describe('How long a login lasts'),
        inactivityTimeout: durationSetting
          .prefault('72h')
          .describe('A session unused for this long ends early'),
      })
      .strict()
      .prefault({}),
    passwords: z
      .object({
        minLength: z
          .number()
          .int()
          .min(1)
          .max(128)
          .default(8)
          .describe('Shortest password accepted'),
      })
      .strict()
      .prefault({}),
    tokens: z
      .object({
        keyRotation: durationSetting
          .prefault('720h')
          .describe('Sign destination tokens with a new key this often'),
      })
      .strict()
      .prefault({}),
    users: z
      .array(ConfigUser)
      .default([])
      .describe('Users declared here, reconciled at every start'),
    grants: z
      .array(ConfigGrant)
      .default([])
      .describe('Grants declared here, reconciled at every start'),
    accessRequestWebhook: z
      .object({
        url: z
          .string()
          .refine(webhookUrl, 'must be an https:// URL (http:// only on this machine)')
          .describe('Where access request events are POSTed'),
        secret: secretReference.describe('Signs each delivery (Infra-Signature: HMAC-SHA256)'),
      })
      .strict()
      .optional()
      .describe('Tell a chat or pager about access requests'),
    requestPolicies: z
      .array(ConfigRequestPolicy)
      .default([])
      .describe('Access request policies declared here, reconciled at every start'),
    connectors: z
      .array(ConfigConnector)
      .default([])
      .describe('Connector keys declared here, each bound to one destination'),
    trustedProxies: z
      .array(ProxyAddress)
      .default([])
      .describe('Reverse proxies whose X-Forwarded-For and X-Forwarded-Host are believed'),
    url: PublicUrl.optional().describe(
      'The https:// address clients use; the links the server makes use it',
    ),
    limits: connectionLimitsSetting({ idleTimeout: '72s' }),
    providers: z
      .array(ConfigProvider)
      .default([])
      .describe('Identity providers declared here, reconciled at every start'),
    providerSyncInterval: durationSetting
      .prefault('5m')
      .describe("Re-check every provider user's groups and standing this often"),
    secrets: z
      .array(SecretStorageDeclaration)
      .default([])
      .describe('Secret storages (vault, awssm, awsssm, kubernetes, ...) references can name'),
    apiSecretReferences: z
      .array(
        z
          .string()
          .regex(
            /^[a-z][a-z0-9-]*:.+$/s,
            'must be a pattern such as vault:infra/providers/* (a declared storage, then a name where * matches anything)',
          ),
      )
      .default([])
      .describe(
        'Secret references admins may give through the API (a provider clientSecretRef): patterns over storages declared under secrets; default none',
      ),
    secretRefreshInterval: durationSetting
      .prefault('10m')
      .describe('Re-read secrets this often (also on SIGHUP); 0 turns the timer off'),
    kubeAudit: z
      .object({
        retention: durationSetting
          .prefault('2160h')
          .describe('Keep Kubernetes request events and exec recordings this long'),
        export: z
          .string()
          .default('')
          .describe(
            'Also write each Kubernetes request event as a JSON line: stdout, or a file path; empty is off',
          ),
      })
      .strict()
      .prefault({}),
    keyProvider: KeyProvider.prefault({}).describe('The root key that wraps the data keys'),
    previousKeyProvider: KeyProvider.optional().describe(
      'While changing the root key: the one the data keys are wrapped with now',
    ),
    db: z
      .object({
        file: z.string().default('').describe('SQLite file; default <stateDir>/infra.db'),
        connectionString: z
          .string()
          .default('')
          .describe('PostgreSQL URL (postgres://user@host/db); put the password in db.password'),
        host: z.string().default('').describe('PostgreSQL host; setting it selects PostgreSQL'),
        port: z.number().int().min(1).max(65535).default(5432),
        name: z.string().default('infra'),
        username: z.string().default('infra'),
        password: secretReference.optional().describe('PostgreSQL password, a secret reference'),
        sslMode: z
          .enum(['disable', 'require', 'verify-full'])
          .optional()
          .describe('Default: disable on loopback, require elsewhere'),
        caCertificate: z.string().default('').describe('CA for verify-full, as PEM or a path'),
        maxConnections: z.number().int().min(1).max(1000).default(20),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.addr.https) {
      ctx.addIssue({
        code: 'custom',
        path: ['addr', 'https'],
        message: 'the HTTPS listener cannot be turned off; give an address such as :4443',
      });
    }
    if (s.tls.certificate && !s.tls.privateKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'privateKey'],
        message: 'tls.certificate is set, so tls.privateKey must be set too',
      });
    }
    if (s.tls.privateKey && !s.tls.certificate) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'certificate'],
        message: 'tls.privateKey is set, so tls.certificate must be set too',
      });
    }
    if (s.tls.acme.enabled) {
      if (s.tls.certificate) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls', 'acme', 'enabled'],
          message: 'choose either tls.acme or tls.certificate, not both',
        });
      }
      if (!s.tls.hosts.some((h) => /[A-Za-z]/.test(h) && h !== 'localhost')) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls', 'hosts'],
          message: 'tls.acme needs the public DNS name of the server in tls.hosts',
        });
      }
      if (!s.addr.http) {
        ctx.addIssue({
          code: 'custom',
          path: ['addr', 'http'],
          message:
            'tls.acme answers the http-01 challenge on the HTTP listener; set addr.http (usually :80)',
        });
      }
    }
    if (s.kubeAudit.retention < 3_600_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['kubeAudit', 'retention'],
        message: 'keep Kubernetes audit events for at least 1h (the default is 2160h, 90 days)',
      });
    }
    if (s.db.connectionString && s.db.host) {
      ctx.addIssue({
        code: 'custom',
        path: ['db', 'host'],
        message: 'set either db.connectionString or db.host, not both',
      });
    }
  });

/** The validated, resolved configuration the server runs with. Frozen. */
export interface ServerConfig {
  stateDir: string;
  logLevel: LogLevel;
  /** Unset: text on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  /** The configured public origin (`https://infra.example.com`); see `publicOrigin`. */
  url?: string;
  addr: { https: ListenAddress; http?: ListenAddress; metrics?: ListenAddress };
  limits: ConnectionLimits;
  tls: TlsConfig;
  db: DatabaseConfig;
  access: AccessSettings;
  tokens: { keyRotation: number };
  /** Proxies (addresses, CIDR ranges) whose forwarding headers give the client's address. */
  trustedProxies: string[];
  users: DeclaredUser[];
  grants: DeclaredGrant[];
  requestPolicies: DeclaredRequestPolicy[];
  accessRequestWebhook?: WebhookConfig;
  connectors: DeclaredConnector[];
  /** Declared providers; their secrets stay references until a login reads them (S7). */
  providers: ProviderInput[];
  providerSyncInterval: number;
  /** Patterns of the secret references the API accepts (`vault:infra/providers/*`). */
  apiSecretReferences: string[];
  /** The secret storages; `refresh()` re-reads every secret above (SIGHUP, timer). */
  secrets: SecretResolver;
  secretRefreshMs: number;
  keyProvider: RootKeyConfig;
  previousKeyProvider?: RootKeyConfig;
  kubeAudit: { retentionMs: number; export: KubeAuditExport };
}

const serverEnvPrefix = 'INFRA_SERVER';
// Read by `infra server` itself rather than being a setting.
const configFileEnv = `${serverEnvPrefix}_CONFIG_FILE`;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host.startsWith('/');
}

/**
 * Loads the server configuration.
 *
 * Precedence, lowest first: defaults → YAML file (`--config-file` or `INFRA_SERVER_CONFIG_FILE`)
 * → `INFRA_SERVER_<PATH>` environment variables (`INFRA_SERVER_ADDR_HTTPS`) → flags
 * (`--addr-https`). Secret settings are references (`env:`, `file:`, `plaintext:`) resolved
 * here; any problem throws a ConfigError whose message names the setting and the fix.
 */
export async function loadServerConfig(
  sources: Omit<ConfigSources, 'file'> & { file?: string },
): Promise<ServerConfig> {
  const file = sources.file ?? (sources.env[configFileEnv] || undefined);
  const s = loadConfigLayers(ServerSettings, serverEnvPrefix, { ...sources, file }, [
    configFileEnv,
  ]);
  let secrets: SecretResolver;
  try {
    secrets = await buildSecretResolver(s.secrets, { env: sources.env });
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  const secret = async (setting: string, ref: string) => {
    try {
      return await secrets.resolve(setting, ref);
    } catch (err) {
      throw new ConfigError((err as Error).message, { cause: err });
    }
  };
  checkApiSecretReferences(s.apiSecretReferences, s.secrets);
  const base = file ? path.dirname(path.resolve(file)) : process.cwd();
  const stateDir = expandPath(s.stateDir);
  const keyProvider = (setting: string, p: z.infer<typeof KeyProvider>) =>
    rootKeyConfig(setting, p, stateDir, base, secret);

  const tls: TlsConfig = { hosts: s.tls.hosts, minVersion: s.tls.minVersion };
  if (s.tls.certificate && s.tls.privateKey) {
    tls.custom = {
      certificate: await readPemOrPath('tls.certificate', s.tls.certificate, base),
      privateKey: await secret('tls.privateKey', s.tls.privateKey),
    };
  }
  if (s.tls.acme.enabled) {
    tls.acme = {
      directoryUrl: s.tls.acme.directoryUrl,
      email: s.tls.acme.email,
      renewBeforeMs: s.tls.acme.renewBefore,
      caCertificate: s.tls.acme.caCertificate
        ? await readPemOrPath('tls.acme.caCertificate', s.tls.acme.caCertificate, base)
        : undefined,
    };
  }

  let db: DatabaseConfig;
  if (s.db.connectionString || s.db.host) {
    const host = s.db.host || hostOfUrl(s.db.connectionString);
    const sslMode = s.db.sslMode ?? (isLoopback(host) ? 'disable' : 'require');
    db = {
      kind: 'postgres',
      connectionString: s.db.connectionString || undefined,
      host: s.db.host || undefined,
      port: s.db.port,
      name: s.db.name,
      username: s.db.username,
      password: s.db.password ? await secret('db.password', s.db.password) : undefined,
      ssl:
        sslMode === 'disable'
          ? false
          : {
              rejectUnauthorized: sslMode === 'verify-full',
              ca: s.db.caCertificate
                ? await readPemOrPath('db.caCertificate', s.db.caCertificate, base)
                : undefined,
            },
      maxConnections: s.db.maxConnections,
    };
  } else {
    db = {
      kind: 'sqlite',
      file: s.db.file ? expandPath(s.db.file) : path.join(stateDir, 'infra.db'),
    };
  }

  const users: DeclaredUser[] = [];
  for (const [i, u] of s.users.entries()) {
    users.push({
      name: u.name,
      infraRole: u.infraRole,
      password: u.password ? await secret(`users[${i}].password`, u.password) : undefined,
      accessKey: u.accessKey ? await secret(`users[${i}].accessKey`, u.accessKey) : undefined,
    });
  }

  const connectors: DeclaredConnector[] = [];
  for (const [i, c] of s.connectors.entries()) {
    connectors.push({
      destination: c.destination,
      accessKey: await secret(`connectors[${i}].accessKey`, c.accessKey),
    });
  }

  return Object.freeze({
    stateDir,
    logLevel: s.logLevel,
    logFormat: s.logFormat,
    url: s.url,
    addr: s.addr as ServerConfig['addr'],
    limits: s.limits,
    tls,
    db,
    access: {
      sessionDuration: s.sessions.duration,
      sessionInactivityTimeout: s.sessions.inactivityTimeout,
      passwordMinLength: s.passwords.minLength,
    },
    tokens: { keyRotation: s.tokens.keyRotation },
    trustedProxies: s.trustedProxies,
    users,
    grants: s.grants,
    requestPolicies: s.requestPolicies.map((p) => ({
      ...p,
      // Validated as durations by the schema.
      maxDuration: parseDuration(p.maxDuration)!,
      pendingExpiry: parseDuration(p.pendingExpiry)!,
    })),
    accessRequestWebhook: s.accessRequestWebhook && {
      url: s.accessRequestWebhook.url,
      secret: await secret('accessRequestWebhook.secret', s.accessRequestWebhook.secret),
    },
    connectors,
    providers: s.providers.map(({ clientSecret, serviceAccountKey, ...p }) => ({
      ...p,
      clientSecretRef: clientSecret,
      serviceAccountKeyRef: serviceAccountKey,
    })),
    providerSyncInterval: s.providerSyncInterval,
    apiSecretReferences: s.apiSecretReferences,
    secrets,
    secretRefreshMs: s.secretRefreshInterval,
    kubeAudit: {
      retentionMs: s.kubeAudit.retention,
      export: kubeAuditExport(s.kubeAudit.export, base),
    },
    keyProvider: await keyProvider('keyProvider', s.keyProvider),
    previousKeyProvider: s.previousKeyProvider
      ? await keyProvider('previousKeyProvider', s.previousKeyProvider)
      : undefined,
  });
}

function kubeAuditExport(setting: string, base: string): KubeAuditExport {
  if (setting === '') return { kind: 'none' };
  if (setting === 'stdout') return { kind: 'stdout' };
  return { kind: 'file', path: path.resolve(base, expandPath(setting)) };
}

/**
 * `apiSecretReferences` may only name storages declared under `secrets:`, and never one that
 * reads the server's own environment or files.
 */
function checkApiSecretReferences(
  patterns: readonly string[],
  storages: readonly SecretStorageDeclaration[],
): void {
  for (const [i, pattern] of patterns.entries()) {
    const storage = parseSecretReference(pattern)!.storage;
    const declared = storages.find((d) => (d.name ?? d.kind) === storage);
    if (!declared) {
      throw new ConfigError(
        `apiSecretReferences[${i}]: ${storage} is not a storage declared under secrets; the API may only reference declared storages`,
      );
    }
    if (CONFIG_FILE_ONLY_KINDS.includes(declared.kind)) {
      throw new ConfigError(
        `apiSecretReferences[${i}]: ${storage} is a ${declared.kind} storage, which reads the server's own environment or files; such references belong in the config file only`,
      );
    }
  }
}

async function rootKeyConfig(
  setting: string,
  provider: z.infer<typeof KeyProvider>,
  stateDir: string,
  base: string,
  secret: (setting: string, ref: string) => Promise<Secret>,
): Promise<RootKeyConfig> {
  const ref = async (field: string, reference: string | undefined) =>
    reference === undefined ? undefined : secret(`${setting}.config.${field}`, reference);
  switch (provider.kind) {
    case 'native': {
      const c = keyProviderConfigs.native.parse(provider.config);
      if (c.key) return { kind: 'native', key: (await ref('key', c.key))!, reference: c.key };
      return {
        kind: 'native',
        file: c.file ? path.resolve(base, expandPath(c.file)) : path.join(stateDir, 'root.key'),
      };
    }
    case 'vault': {
      const c = keyProviderConfigs.vault.parse(provider.config);
      return {
        kind: 'vault',
        vault: {
          address: c.address,
          token: (await ref('token', c.token))!,
          namespace: c.namespace || undefined,
          caCertificate: c.caCertificate
            ? await readPemOrPath(`${setting}.config.caCertificate`, c.caCertificate, base)
            : undefined,
        },
        transitMount: c.transitMount,
        key: c.key,
      };
    }
    case 'awskms': {
      const c = keyProviderConfigs.awskms.parse(provider.config);
      return {
        kind: 'awskms',
        keyId: c.keyId,
        aws: {
          region: c.region,
          endpoint: c.endpoint,
          accessKeyId: await ref('accessKeyId', c.accessKeyId),
          secretAccessKey: await ref('secretAccessKey', c.secretAccessKey),
          sessionToken: await ref('sessionToken', c.sessionToken),
        },
      };
    }
  }
}

/**
 * The origin links are built from: `url` when set, else `tls.hosts[0]`, else the host the HTTPS
 * listener is bound to (unless it is every interface), else localhost; with the listener's port.
 */
export function publicOrigin(config: ServerConfig, httpsPort: number): string {
  if (config.url) return config.url;
  const bound = config.addr.https.host;
  const host =
    config.tls.hosts[0] ?? (bound && bound !== '0.0.0.0' && bound !== '::' ? bound : 'localhost');
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  return `https://${host.includes(':') ? `[${host}]` : host}${port}`;
}

function hostOfUrl(url: string): string {
  try {
    return new URL(url).hostname || 'localhost';
  } catch {
    throw new ConfigError(
      'db.connectionString is not a URL; use the form postgres://user@host:5432/database',
    );
  }
}

export type {
  DatabaseConfig,
  DeclaredConnector,
  DeclaredGrant,
  DeclaredUser,
  RootKeyConfig,
  TlsConfig,
};
