import { readFileSync } from 'node:fs';
import { stateFile } from './state-file.js';
import type { CliState, KnownCluster } from './state.js';

/**
 * Checks, for the kubectl credential plugin, where kubectl will send the token. This module is
 * on the hot path of every kubectl command, so it imports nothing but node built-ins.
 */

interface ExecCluster {
  server?: unknown;
  'certificate-authority-data'?: unknown;
  'insecure-skip-tls-verify'?: unknown;
  'tls-server-name'?: unknown;
}

function knownCluster(
  infraDir: string,
  server: string | undefined,
  destination: string,
): KnownCluster | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile(infraDir), 'utf8')) as CliState;
    const saved = state.servers.find((s) => (server ? s.url === server : s.current));
    return saved?.destinations?.[destination];
  } catch {
    return undefined;
  }
}

/**
 * Why kubectl must not get a token for `destination`, or undefined when it may. kubectl says
 * which server it will send the token to in `KUBERNETES_EXEC_INFO` (the user entries Infra writes
 * set `provideClusterInfo`); that server, its CA and its TLS settings must be the connector the
 * Infra server gave for the destination, so a context that pairs Infra's credentials with
 * another cluster entry (or `kubectl --server`) gets nothing. Without `KUBERNETES_EXEC_INFO` the
 * plugin was run by hand, or by a client that says nothing, and the token goes to stdout.
 */
export function refuseExecCluster(
  env: NodeJS.ProcessEnv,
  infraDir: string,
  server: string | undefined,
  destination: string,
): string | undefined {
  const info = env.KUBERNETES_EXEC_INFO;
  if (info === undefined) return undefined;
  const refused = `Refused to give kubectl a token for ${destination}`;
  let cluster: ExecCluster | undefined;
  try {
    cluster = (JSON.parse(info) as { spec?: { cluster?: ExecCluster } }).spec?.cluster;
  } catch {
    cluster = undefined;
  }
  if (!cluster) {
    return `${refused}: kubectl did not say which server it would send it to (the kubeconfig user entry must set provideClusterInfo: true); run \`infra list\` to rewrite Infra's kubeconfig entries`;
  }
  const known = knownCluster(infraDir, server, destination);
  const ca =
    typeof cluster['certificate-authority-data'] === 'string'
      ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
      : undefined;
  const difference =
    !known || cluster.server !== known.url
      ? ''
      : cluster['insecure-skip-tls-verify'] === true
        ? ', without verifying its certificate'
        : ca !== known.ca
          ? ', trusting another certificate authority'
          : cluster['tls-server-name']
            ? ', with another TLS server name'
            : undefined;
  if (difference === undefined) return undefined;
  return `${refused}: it would send it to a server Infra does not know for ${destination} (${String(cluster.server)}${difference}). Use the context Infra wrote (\`infra use ${destination}\`); \`infra list\` restores Infra's kubeconfig entries`;
}
