import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDaemon } from '../shared/daemon.js';
import { ServerSettings, loadServerConfig } from './config.js';
import { startServer } from './main.js';

/** Finds `dashboard/dist` from wherever this module runs (sources under tsx, or the bundle). */
function dashboardDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'dashboard', 'dist');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** `infra server`: the API, the dashboard, and the feed connectors follow. */
export function runServerCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (argv[0] === 'rotate-keys') {
    return import('./rotate-keys.js').then(({ runRotateKeys }) =>
      runRotateKeys(argv.slice(1), env),
    );
  }
  return runDaemon(
    {
      name: 'infra server',
      description:
        'Run the Infra server: API, dashboard, and the feed connectors follow (`infra server rotate-keys --help`: rotate the data key)',
      settings: ServerSettings,
      configFileEnv: 'INFRA_SERVER_CONFIG_FILE',
      logLevelEnv: 'INFRA_SERVER_LOG_LEVEL',
      load: loadServerConfig,
      start: (config, log) => startServer(config, { log, dashboardDir: dashboardDir() }),
    },
    argv,
    env,
  );
}
