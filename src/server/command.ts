import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, configLeaves, flagName, type ConfigLeaf } from '../shared/config-loader.js';
import { AppError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { productVersion } from '../shared/version.js';
import { ServerSettings, loadServerConfig } from './config.js';
import { startServer } from './main.js';

const SHUTDOWN_GRACE_MS = 30_000;

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

function buildCommand(): { command: Command; leaves: Map<string, ConfigLeaf> } {
  const command = new Command('infra server')
    .description('Run the Infra server: API, dashboard, and the feed connectors follow')
    .version(productVersion, '--version')
    .option('-f, --config-file <path>', 'YAML configuration file (also INFRA_SERVER_CONFIG_FILE)')
    .helpOption('-h, --help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const leaves = new Map<string, ConfigLeaf>();
  for (const leaf of configLeaves(ServerSettings)) {
    const name = flagName(leaf.path);
    const value =
      leaf.kind === 'boolean' ? '[bool]' : leaf.kind === 'list' ? '<a,b,...>' : '<value>';
    const option = new Option(`--${name} ${value}`, leaf.description ?? leaf.path.join('.'));
    command.addOption(option);
    leaves.set(option.attributeName(), leaf);
  }
  return { command, leaves };
}

function wantsDebug(argv: string[], env: NodeJS.ProcessEnv): boolean {
  const i = argv.indexOf('--log-level');
  return (
    argv[i + 1] === 'debug' ||
    argv.includes('--log-level=debug') ||
    env.INFRA_SERVER_LOG_LEVEL === 'debug'
  );
}

/**
 * `infra server`: loads the configuration, starts the server, and stops it gracefully on
 * SIGTERM or SIGINT. Start-up problems print one sentence (a stack trace only with
 * `--log-level debug`) and return a non-zero exit code.
 */
export async function runServerCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { command, leaves } = buildCommand();
  try {
    command.parse(argv, { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code ?? 2;
  }
  const opts = command.opts<Record<string, string | boolean | undefined>>();
  const flags: Record<string, string | boolean> = {};
  for (const [attr, value] of Object.entries(opts)) {
    const leaf = leaves.get(attr);
    if (leaf && value !== undefined) flags[leaf.path.join('.')] = value;
  }

  try {
    const config = await loadServerConfig({
      file: opts.configFile as string | undefined,
      env,
      flags,
    });
    const log = createLogger({ level: config.logLevel });
    const server = await startServer(config, { log, dashboardDir: dashboardDir() });
    await waitForSignal(log, () => server.close());
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AppError) {
      process.stderr.write(`infra server: ${err.message}\n`);
      if (wantsDebug(argv, env))
        process.stderr.write(`${(err.cause as Error | undefined)?.stack ?? err.stack}\n`);
      return 1;
    }
    process.stderr.write(`infra server: unexpected error: ${(err as Error).message}\n`);
    if (wantsDebug(argv, env)) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

function waitForSignal(
  log: ReturnType<typeof createLogger>,
  close: () => Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting for requests');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down: finishing in-flight requests');
      const force = setTimeout(() => {
        log.warn('requests still running after 30s; exiting');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      close().then(
        () => {
          log.info('stopped');
          resolve();
        },
        (err: unknown) => {
          log.error({ err }, 'error while shutting down');
          resolve();
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
