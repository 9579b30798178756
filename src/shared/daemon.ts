import { Command, Option } from 'commander';
import type { z } from 'zod';
import { ConfigError, configLeaves, flagName, type ConfigSources } from './config-loader.js';
import { AppError } from './errors.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './logger.js';
import { productVersion } from './version.js';

const SHUTDOWN_GRACE_MS = 30_000;

/** What a daemon's configuration says about its logs. */
type LogSettings = { logLevel: LogLevel; logFormat?: LogFormat };

interface DaemonSpec<C extends LogSettings> {
  /** `infra server`, `infra connector`. */
  name: string;
  description: string;
  /** The settings schema; each setting becomes a flag. */
  settings: z.ZodType;
  /** The environment variable that names the config file. */
  configFileEnv: string;
  /** The environment variable that sets the log level (to show stack traces on failure). */
  logLevelEnv: string;
  load(sources: Omit<ConfigSources, 'file'> & { file?: string }): Promise<C>;
  start(config: C, log: Logger): Promise<Running>;
}

/** A started daemon: how to stop it, and to re-read its secrets if it has any. */
interface Running {
  close(): Promise<void>;
  reload?(): Promise<void>;
}

/**
 * Runs a long-lived process (`infra server`, `infra connector`): parses flags generated from the
 * settings schema, loads the configuration, starts, and stops gracefully on SIGTERM or SIGINT.
 * Start-up problems print one sentence (a stack trace only at log level debug) and return a
 * non-zero exit code.
 */
export async function runDaemon<C extends LogSettings>(
  spec: DaemonSpec<C>,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const command = new Command(spec.name)
    .description(spec.description)
    .version(productVersion, '--version')
    .option('-f, --config-file <path>', `YAML configuration file (also ${spec.configFileEnv})`)
    .helpOption('-h, --help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const leaves = new Map<string, string>();
  for (const leaf of configLeaves(spec.settings)) {
    const value =
      leaf.kind === 'boolean' ? '[bool]' : leaf.kind === 'list' ? '<a,b,...>' : '<value>';
    const option = new Option(
      `--${flagName(leaf.path)} ${value}`,
      leaf.description ?? leaf.path.join('.'),
    );
    command.addOption(option);
    leaves.set(option.attributeName(), leaf.path.join('.'));
  }
  try {
    command.parse(argv, { from: 'user' });
  } catch (err) {
    // Commander ends --help and --version with 0; anything else it refuses is a usage error.
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const opts = command.opts<Record<string, string | boolean | undefined>>();
  const flags: Record<string, string | boolean> = {};
  for (const [attr, value] of Object.entries(opts)) {
    const path = leaves.get(attr);
    if (path && value !== undefined) flags[path] = value;
  }

  const debug =
    argv[argv.indexOf('--log-level') + 1] === 'debug' ||
    argv.includes('--log-level=debug') ||
    env[spec.logLevelEnv] === 'debug';
  try {
    const config = await spec.load({ file: opts.configFile as string | undefined, env, flags });
    const log = createLogger({
      level: config.logLevel,
      json: config.logFormat === undefined ? undefined : config.logFormat === 'json',
    });
    const signals = stopOnSignal(log);
    let running: Running;
    try {
      running = await spec.start(config, log);
    } catch (err) {
      signals.dispose();
      throw err;
    }
    // SIGHUP re-reads secrets (rotated upstream) without a restart.
    const reload = () => {
      if (!running.reload) {
        log.info({ signal: 'SIGHUP' }, 'nothing to re-read: secrets are read at start');
        return;
      }
      log.info({ signal: 'SIGHUP' }, 're-reading secrets');
      running.reload().catch((err: unknown) => log.error({ err }, 'could not re-read secrets'));
    };
    process.on('SIGHUP', reload);
    try {
      await signals.started(() => running.close());
    } finally {
      process.off('SIGHUP', reload);
      signals.dispose();
    }
    return 0;
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof AppError;
    const message = known ? (err as Error).message : `unexpected error: ${(err as Error).message}`;
    process.stderr.write(`${spec.name}: ${message}\n`);
    if (debug)
      process.stderr.write(
        `${((err as Error).cause as Error | undefined)?.stack ?? (err as Error).stack}\n`,
      );
    return 1;
  }
}

/**
 * Stops gracefully on SIGTERM or SIGINT; a second signal exits at once. One listener serves from
 * before the start to the end: a stop asked for while starting (an orchestrator's SIGTERM) is
 * carried out once the start is done. It is never swapped for another, because removing a
 * signal's last listener drops a signal that has arrived but not been handled yet.
 */
function stopOnSignal(log: Logger): {
  /** Waits for a signal (or acts on one that came during the start), then closes. */
  started(close: () => Promise<void>): Promise<void>;
  dispose(): void;
} {
  let early: NodeJS.Signals | undefined;
  let stop: ((signal: NodeJS.Signals) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) return stop(signal);
    if (early) {
      log.warn({ signal }, 'second signal while starting: exiting');
      process.exit(1);
    }
    early = signal;
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  return {
    started: (close) =>
      new Promise((resolve) => {
        let stopping = false;
        stop = (signal) => {
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
        if (early) stop(early);
      }),
    dispose() {
      process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
    },
  };
}
