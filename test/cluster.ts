import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ApiClient } from '../src/api/client.js';
import { loadConnectorConfig } from '../src/connector/config.js';
import { startConnector, type RunningConnector } from '../src/connector/main.js';
import type { Engine } from '../src/server/data/db.js';
import { createLogger } from '../src/shared/logger.js';
import { workstation, type Workstation } from './cli.js';
import type { Clock } from '../src/shared/clock.js';
import type { TestClock } from './clock.js';
import { startFakeKube, type FakeKube, type KubeObject } from './fake-kube/server.js';
import { startAdminServer } from './identity.js';
import { freePort } from './pebble.js';
import { LogSink, type TestServer } from './server.js';

const root = path.resolve(import.meta.dirname, '..');
export const CONNECTOR_SA = 'system:serviceaccount:infra-connector:infra-connector';

/** The connector's RBAC as deploy/connector ships it: the tests prove it is enough. */
function seedConnectorRbac(kube: FakeKube): void {
  for (const file of ['clusterrole.yaml', 'clusterrolebinding.yaml', 'roles.yaml']) {
    const text = readFileSync(path.join(root, 'deploy', 'connector', file), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const object = doc.toJS() as KubeObject & { kind: string };
      kube.seed(
        `${object.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}.rbac.authorization.k8s.io`,
        object,
      );
    }
  }
}

/** A fake kube-apiserver (a small cluster with the connector's RBAC) and its connector. */
export interface ConnectedKube {
  kube: FakeKube;
  connector: RunningConnector;
  connectorLogs: LogSink;
  /** The connector's CA (PEM), for clients that call it directly. */
  connectorCa: string;
  /** Waits until the connector holds an access state at least this new (the server's index). */
  connectorCaughtUp(): Promise<void>;
  /** Where the connector's key is, with `connectorKeyInFile`. */
  connectorKeyFile: string;
  close(): Promise<void>;
}

/** Everything a kubectl user needs: the server, a cluster (fake apiserver) and its connector. */
export interface Cluster extends ConnectedKube {
  server: TestServer;
  admin: ApiClient;
}

export async function startCluster(
  engine: Engine,
  options: {
    clock?: TestClock;
    /** Run the connector on the test clock too, so tokens minted after `advance` verify. */
    connectorOnTestClock?: boolean;
    /** Give the connector its key as `file:` (the file is `connectorKeyFile`) to test rotation. */
    connectorKeyInFile?: boolean;
    /** More connector settings, by dotted path (`limits.idleTimeout`). */
    connectorSettings?: Record<string, string>;
    /** Server settings, by dotted path (`providerSyncInterval`). */
    serverSettings?: Record<string, string>;
  } = {},
): Promise<Cluster> {
  const { server, admin } = await startAdminServer(engine, {
    clock: options.clock,
    settings: options.serverSettings,
  });
  const connected = await startConnectedKube({
    admin,
    serverUrl: server.url,
    serverTrust: { 'server.trustedFingerprint': server.running.fingerprint },
    clock: options.connectorOnTestClock ? options.clock : undefined,
    connectorKeyInFile: options.connectorKeyInFile,
    connectorSettings: options.connectorSettings,
  });
  return {
    ...connected,
    server,
    admin,
    async close() {
      await connected.close();
      await server.close();
    },
  };
}

/**
 * Starts a fake kube-apiserver with a namespace `web` and a pod in it and in `default`, and a
 * connector for it that follows the server at `serverUrl` as destination `name`. Resolves once
 * the cluster is registered and the connector holds the first access state.
 */
export async function startConnectedKube(options: {
  admin: ApiClient;
  serverUrl: string;
  /** How the connector trusts the server: `server.trustedFingerprint` or `.trustedCertificate`. */
  serverTrust: Record<string, string>;
  name?: string;
  clock?: Clock;
  connectorKeyInFile?: boolean;
  connectorSettings?: Record<string, string>;
  /** The connector's environment (HTTPS_PROXY). */
  connectorEnv?: Record<string, string>;
}): Promise<ConnectedKube> {
  const { admin } = options;
  const name = options.name ?? 'prod';
  const kube = await startFakeKube({
    tokens: { 'connector-sa-token': { user: CONNECTOR_SA, groups: ['system:serviceaccounts'] } },
  });
  seedConnectorRbac(kube);
  kube.addNamespace('web');
  kube.addPod('default', 'app-1');
  kube.addPod('web', 'web-1');

  const dir = mkdtempSync(path.join(tmpdir(), 'infra-connector-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeconfig('connector-sa-token'));
  const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
  const key = (
    await admin.createAccessKey({
      userID: connectorUser.id,
      name: `${name}-connector`,
      expiry: '8760h',
    })
  ).accessKey;
  const keyFile = path.join(dir, 'access-key');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const port = await freePort();
  const config = await loadConnectorConfig({
    env: options.connectorEnv ?? {},
    flags: {
      name,
      endpoint: `https://127.0.0.1:${port}`,
      stateDir: dir,
      kubeconfig,
      'addr.https': `127.0.0.1:${port}`,
      'addr.metrics': '127.0.0.1:0',
      'server.url': options.serverUrl,
      'server.accessKey': options.connectorKeyInFile ? `file:${keyFile}` : `plaintext:${key}`,
      ...options.serverTrust,
      ...options.connectorSettings,
    },
  });
  const connectorLogs = new LogSink();
  const connector = await startConnector(config, {
    log: createLogger({ level: 'debug', json: true, destination: connectorLogs }),
    clock: options.clock,
  });

  const connectorCaughtUp = async () => {
    const feed = await admin.getAccessFeed({ destination: name });
    for (let i = 0; i < 400; i++) {
      const state = connector.state();
      if (state && state.updateIndex >= feed.updateIndex) {
        await connector.rbacSettled();
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(
      `the connector did not catch up with update ${feed.updateIndex}:\n${connectorLogs.text}`,
    );
  };
  // Registered, and holding the first access state.
  for (let i = 0; i < 400 && (await admin.listDestinations({ name })).items.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  await connectorCaughtUp();
  return {
    kube,
    connector,
    connectorLogs,
    connectorCa: readFileSync(path.join(dir, 'tls', 'ca.crt'), 'utf8'),
    connectorKeyFile: keyFile,
    connectorCaughtUp,
    async close() {
      await connector.close();
      await kube.close();
    },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real kubectl, with a discovery cache of its own, as the workstation's user. */
export function kubectl(
  ws: Workstation,
  args: string[],
  options: {
    timeoutMs?: number;
    kubeconfig?: string;
    /** What kubectl reads on stdin (none: stdin is closed at once). */
    input?: string;
    env?: Record<string, string>;
  } = {},
): Promise<KubectlResult> {
  const cacheDir = path.join(ws.home, '.kube', 'cache');
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      [...args, '--cache-dir', cacheDir, '--request-timeout', '15s'],
      {
        env: { ...ws.env, ...options.env, KUBECONFIG: options.kubeconfig ?? ws.kubeconfig },
        timeout: options.timeoutMs ?? 30_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input);
  });
}

/** A kubectl command that keeps running (watch, exec): its output so far, and its end. */
export function kubectlStream(
  ws: Workstation,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; output(): string; exited: Promise<number> } {
  const child = spawn('kubectl', [...args, '--cache-dir', path.join(ws.home, '.kube', 'cache')], {
    env: { ...ws.env, ...env, KUBECONFIG: ws.kubeconfig },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return {
    child,
    output: () => output,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1))),
  };
}

/** A user who logged in with the CLI, so kubectl runs `infra tokens` for credentials. */
export async function userWorkstation(cluster: Cluster, accessKey: string): Promise<Workstation> {
  const ws = workstation();
  const res = await ws.run(
    'login',
    new URL(cluster.server.url).host,
    '--tls-trusted-fingerprint',
    cluster.server.running.fingerprint,
    '--key',
    accessKey,
  );
  if (res.code !== 0) throw new Error(`login failed: ${res.stderr}`);
  return ws;
}
