import { runDaemon } from '../shared/daemon.js';
import { ConnectorSettings, loadConnectorConfig } from './config.js';
import { startConnector } from './main.js';
import { startSshHostAgent } from './ssh-host.js';

/** `infra connector`: registers a cluster and proxies kubectl traffic to it. */
export function runConnectorCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return runDaemon(
    {
      name: 'infra connector',
      description:
        'Run the Kubernetes connector (RBAC sync and the authenticating proxy for one cluster), or with --kind ssh the host agent of a Linux host',
      settings: ConnectorSettings,
      configFileEnv: 'INFRA_CONNECTOR_CONFIG_FILE',
      logLevelEnv: 'INFRA_CONNECTOR_LOG_LEVEL',
      load: loadConnectorConfig,
      start: (config, log) =>
        config.kind === 'ssh'
          ? startSshHostAgent(config, { log })
          : startConnector(config, { log }),
    },
    argv,
    env,
  );
}
