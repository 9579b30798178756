import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApiClient, type ApiClient } from '../src/api/client.js';
import { ADMIN, ADMIN_CONFIG } from './identity.js';

const root = path.resolve(import.meta.dirname, '..');

/**
 * `infra server` as a process of its own (the built binary, as users run it), for tests of what
 * a process does under faults: whether it stays up, what it answers, what it logged.
 */
export interface ServerProcess {
  url: string;
  ca: string;
  stateDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Whether the process has exited, and how. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  client(accessKey?: string): ApiClient;
  /** A session key of the admin the config file declares. */
  adminKey(): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startServerProcess(options: {
  /** YAML appended to the config file that declares the admin. */
  config?: string;
  /** Reuse a state directory (a restart, or a replica's). */
  stateDir?: string;
  env?: Record<string, string>;
  args?: string[];
}): Promise<ServerProcess> {
  const stateDir = options.stateDir ?? mkdtempSync(path.join(tmpdir(), 'infra-proc-'));
  const configFile = path.join(
    mkdtempSync(path.join(tmpdir(), 'infra-proc-config-')),
    'config.yaml',
  );
  writeFileSync(configFile, `${ADMIN_CONFIG}${options.config ?? ''}`);
  const child = spawn(
    process.execPath,
    [
      path.join(root, 'bin/infra.cjs'),
      'server',
      '--config-file',
      configFile,
      '--state-dir',
      stateDir,
      '--addr-https',
      '127.0.0.1:0',
      '--addr-metrics',
      '',
      ...(options.args ?? []),
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: stateDir, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listener after 20 s:\n${output}`)), 20_000);
    const check = () => {
      const m = /listening on (https:\/\/[^;\s]+);/.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[1]!);
      } else if (exit) {
        clearTimeout(timer);
        reject(new Error(`infra server exited at start:\n${output}`));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', check);
  });
  const ca = readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8');
  const client = (accessKey?: string) =>
    createApiClient({ baseUrl: url, ca, accessKey, timeoutMs: 10_000 });
  return {
    url,
    ca,
    stateDir,
    child,
    output: () => output,
    exited: () => exit,
    client,
    adminKey: async () => (await client().login({ passwordCredentials: ADMIN })).accessKey,
    async kill(signal = 'SIGTERM') {
      if (exit) return;
      child.kill(signal);
      await exited;
    },
  };
}
