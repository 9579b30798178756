import { hostname } from 'node:os';
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
  parseListenAddress,
  type ListenAddress,
} from '../shared/config-loader.js';
import { logFormats, logLevels, type LogFormat, type LogLevel } from '../shared/logger.js';
import type { Secret, SecretResolver } from '../shared/secrets.js';
import { SecretStorageDeclaration, buildSecretResolver } from '../shared/secret-storages.js';
import { fingerprintProblem, parseFingerprint } from '../shared/trust.js';
import { proxyFor } from '../shared/https-proxy.js';

/** The connector's settings, as read from YAML, `INFRA_CONNECTOR_*` env and flags. */
export const ConnectorSettings = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must be 1-63 letters, digits, - or _ (no dots)')
      .describe('Destination name of this cluster, as grants name it (prod, staging)'),
    kind: z
      .enum(['kubernetes', 'ssh'])
      .default('kubernetes')
      .describe(
        'kubernetes: RBAC and the proxy for a cluster; ssh: the host agent of a Linux host',
      ),
    ssh: z
      .object({
        address: z
          .string()
          .default('')
          .describe('host:port where clients reach sshd; default <hostname>:22'),
        hostKey: z
          .string()
          .default('/etc/ssh/ssh_host_ed25519_key.pub')
          .describe('The host public key to certify (its private key must be a HostKey of sshd)'),
        sshdConfig: z.string().default('/etc/ssh/sshd_config').describe("sshd's main config file"),
        dropIn: z
          .string()
          .default('/etc/ssh/sshd_config.d/infra.conf')
          .describe(
            'The drop-in written for sshd (sshd_config must Include it before other settings)',
          ),
        dir: z
          .string()
          .default('/etc/ssh/infra')
          .describe('CA keys, principals files, revocation list and host certificate'),
        pidFile: z
          .string()
          .default('/run/sshd.pid')
          .describe('Where sshd writes its pid (to reload it)'),
        sshd: z.string().default('/usr/sbin/sshd'),
        adminGroup: z
          .string()
          .default('sudo')
          .describe('Group that users granted admin join (sudo on Debian, wheel elsewhere)'),
        shell: z.string().default('/bin/bash').describe('Login shell of the accounts made'),
      })
      .strict()
      .prefault({}),
    tunnel: z
      .boolean()
      .default(false)
      .describe(
        'Reach the cluster through the Infra server: the connector dials out and needs no inbound route',
      ),
    endpoint: z
      .string()
      .default('')
      .describe(
        'https://host:port where kubectl reaches this connector; default https://<hostname>:<https port>',
      ),
    stateDir: z
      .string()
      .min(1)
      .default('~/.infra/connector')
      .describe('Directory for the connector certificate'),
    logLevel: z.enum(logLevels).default('info'),
    logFormat: z
      .enum(logFormats)
      .optional()
      .describe('json or text; default text on a terminal, JSON otherwise'),
    kubeconfig: z
      .string()
      .default('')
      .describe('kubeconfig file; empty: in-cluster service account'),
    addr: z
      .object({
        https: addressSetting
          .optional()
          .describe(
            'HTTPS listener kubectl talks to (direct mode); default :9443, and none in tunnel mode',
          ),
        metrics: addressSetting.prefault(':9091').describe('Prometheus /metrics; empty is off'),
      })
      .strict()
      .prefault({}),
    // Idle keep-alive as Node's default (kubectl opens a connection per command).
    limits: connectionLimitsSetting({ idleTimeout: '5s' }),
    tls: z
      .object({
        hosts: z
          .array(z.string())
          .default([])
          .describe('Extra names for the connector certificate'),
      })
      .strict()
      .prefault({}),
    secrets: z
      .array(SecretStorageDeclaration)
      .default([])
      .describe('Secret storages (vault, awssm, awsssm, kubernetes, ...) references can name'),
    failClosedAfter: durationSetting
      .prefault('0')
      .refine((ms) => ms === 0 || ms >= 1000, 'must be 0 (off) or at least 1s')
      .describe(
        'Refuse every request once the Infra server has been unreachable this long; 0 keeps the last known access',
      ),
    secretRefreshInterval: durationSetting
      .prefault('10m')
      .describe('Re-read the access key from its storage this often (also on SIGHUP); 0 is off'),
    audit: z
      .object({
        recordStdin: z
          .boolean()
          .default(false)
          .describe(
            'Also record what people type in exec and attach sessions (passwords typed at a prompt included)',
          ),
        bufferMegabytes: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(256)
          .describe(
            'Disk kept for request events and recordings while the server is away; the oldest are dropped beyond it',
          ),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        url: z
          .string()
          .min(1, 'the Infra server URL is required')
          .describe('https://host:port of the Infra server'),
        accessKey: z
          .string()
          .regex(
            /^[a-z][a-z0-9-]*:.+$/s,
            'expected a secret reference such as env:NAME or file:/path',
          )
          .describe('Access key of the connector user, a secret reference'),
        trustedCertificate: z
          .string()
          .default('')
          .describe("The server's CA (or certificate), as PEM or a path"),
        trustedFingerprint: z
          .string()
          .default('')
          .superRefine((s, ctx) => {
            if (s !== '' && !parseFingerprint(s))
              ctx.addIssue({ code: 'custom', message: fingerprintProblem(s) });
          })
          .describe("SHA-256 fingerprint of the server's certificate or CA, to trust it"),
        skipTlsVerify: z
          .boolean()
          .default(false)
          .describe('Do not verify the server certificate (never in production)'),
      })
      .strict(),
  })
  .strict()
  .superRefine((s, ctx) => {
    try {
      if (new URL(s.server.url).protocol !== 'https:') throw new Error('not https');
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'url'],
        message: 'must be an https:// URL of the Infra server',
      });
    }
    if (s.kind === 'ssh' && s.tunnel) {
      ctx.addIssue({
        code: 'custom',
        path: ['tunnel'],
        message: 'an SSH host is reached directly: leave tunnel out',
      });
    }
    if (s.tunnel && s.endpoint !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message:
          'in tunnel mode kubectl reaches the cluster through the Infra server: leave endpoint out',
      });
    }
    if (s.endpoint !== '' && !/^https:\/\/[^/]+$/.test(s.endpoint)) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: 'must be https://host:port (no path)',
      });
    }
  });

/** How the connector trusts the server's certificate. */
export type ServerTrust =
  | { kind: 'system' }
  | { kind: 'certificate'; pem: string }
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'skip' };

/** The host agent's settings (`kind: ssh`). */
export interface SshHostSettings {
  address: string;
  hostKey: string;
  sshdConfig: string;
  dropIn: string;
  dir: string;
  pidFile: string;
  sshd: string;
  adminGroup: string;
  shell: string;
}

export interface ConnectorConfig {
  name: string;
  kind: 'kubernetes' | 'ssh';
  ssh: SshHostSettings;
  /** kubectl reaches the cluster through the server (the connector dials out), not at `endpoint`. */
  tunnel: boolean;
  /** Where kubectl reaches the connector in direct mode (sent to the server at registration). */
  endpoint: string;
  stateDir: string;
  logLevel: LogLevel;
  /** Unset: text on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  kubeconfig?: string;
  /** The HTTPS listener kubectl talks to: always in direct mode, if asked in tunnel mode. */
  addr: { https?: ListenAddress; metrics?: ListenAddress };
  limits: ConnectionLimits;
  tlsHosts: string[];
  /** Refuse every request once the server has been unreachable this long; 0 is never. */
  failClosedAfterMs: number;
  /** `proxy`: the HTTP proxy to reach the server through (HTTPS_PROXY, unless NO_PROXY). */
  server: { url: string; accessKey: Secret; trust: ServerTrust; proxy?: URL };
  /** Re-reads `server.accessKey` (rotated upstream): on SIGHUP and every `secretRefreshMs`. */
  secrets: SecretResolver;
  secretRefreshMs: number;
  /** Kubernetes request audit and exec recording. */
  audit: { recordStdin: boolean; bufferBytes: number };
}

export const connectorEnvPrefix = 'INFRA_CONNECTOR';
const configFileEnv = `${connectorEnvPrefix}_CONFIG_FILE`;

/**
 * Loads the connector configuration: defaults → YAML (`--config-file` or
 * `INFRA_CONNECTOR_CONFIG_FILE`) → `INFRA_CONNECTOR_<PATH>` → flags (`--server-url`).
 */
export async function loadConnectorConfig(
  sources: Omit<ConfigSources, 'file'> & { file?: string },
): Promise<ConnectorConfig> {
  const file = sources.file ?? (sources.env[configFileEnv] || undefined);
  const s = loadConfigLayers(ConnectorSettings, connectorEnvPrefix, { ...sources, file }, [
    configFileEnv,
  ]);
  const base = file ? path.dirname(path.resolve(file)) : process.cwd();
  const kubeconfig = s.kubeconfig ? path.resolve(base, expandPath(s.kubeconfig)) : undefined;
  let accessKey: Secret;
  let secrets: SecretResolver;
  try {
    // `kubernetes:` reads Secrets with the connector's own kube access (kubeconfig or in-cluster).
    secrets = await buildSecretResolver(s.secrets, { env: sources.env, kubeconfig });
    accessKey = await secrets.resolve('server.accessKey', s.server.accessKey);
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  const trustSettings = [
    s.server.trustedCertificate,
    s.server.trustedFingerprint,
    s.server.skipTlsVerify,
  ].filter(Boolean);
  if (trustSettings.length > 1) {
    throw new ConfigError(
      'choose one of server.trustedCertificate, server.trustedFingerprint or server.skipTlsVerify',
    );
  }
  const trust: ServerTrust = s.server.skipTlsVerify
    ? { kind: 'skip' }
    : s.server.trustedFingerprint
      ? { kind: 'fingerprint', fingerprint: parseFingerprint(s.server.trustedFingerprint)! }
      : s.server.trustedCertificate
        ? {
            kind: 'certificate',
            pem: await readPemOrPath(
              'server.trustedCertificate',
              s.server.trustedCertificate,
              base,
            ),
          }
        : { kind: 'system' };
  let proxy: URL | undefined;
  try {
    proxy = proxyFor(new URL(s.server.url), sources.env);
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  const ssh = s.kind === 'ssh';
  const https = s.addr.https ?? (s.tunnel || ssh ? undefined : parseListenAddress(':9443')!);
  return Object.freeze({
    name: s.name,
    kind: s.kind,
    ssh: { ...s.ssh, address: s.ssh.address || `${hostname()}:22` },
    tunnel: s.tunnel,
    endpoint: s.tunnel || ssh ? '' : s.endpoint || `https://${hostname()}:${https!.port}`,
    stateDir: expandPath(s.stateDir),
    logLevel: s.logLevel,
    logFormat: s.logFormat,
    kubeconfig,
    addr: { https, metrics: s.addr.metrics },
    limits: s.limits,
    tlsHosts: s.tls.hosts,
    failClosedAfterMs: s.failClosedAfter,
    server: { url: s.server.url.replace(/\/+$/, ''), accessKey, trust, proxy },
    secrets,
    secretRefreshMs: s.secretRefreshInterval,
    audit: { recordStdin: s.audit.recordStdin, bufferBytes: s.audit.bufferMegabytes * 1024 * 1024 },
  });
}
