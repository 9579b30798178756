import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { freePort } from './pebble.js';

/**
 * moto_server, an AWS emulator speaking the real wire protocols, from the machine image (it is
 * not installable from a registry here). Tests use the real AWS SDK against it. When it is
 * missing the tests fail with this message: a secret-storage test that silently skipped would
 * hide a broken backend.
 */
export interface Moto {
  endpoint: string;
  /** Options for any `@aws-sdk/client-*` constructor. */
  clientConfig: {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

const CANDIDATES = [
  '/root/.pyenv/shims/moto_server',
  '/usr/local/bin/moto_server',
  '/usr/bin/moto_server',
];

export function motoPath(): string {
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((d) => path.join(d, 'moto_server'));
  const found = [...CANDIDATES, ...onPath].find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `moto_server not found (looked in ${CANDIDATES.join(', ')}); the AWS secret storage and KMS tests need it (see shared/reference/test-environment.md §4)`,
    );
  }
  return found;
}

export async function startMoto(): Promise<Moto> {
  const bin = motoPath();
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr.slice(-500)}`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto_server did not listen on ${port} within 30 s: ${stderr.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    clientConfig: {
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
