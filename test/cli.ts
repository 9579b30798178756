import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../src/cli/main.js';

export const repoRoot = path.resolve(import.meta.dirname, '..');
export const infraBin = path.join(repoRoot, 'bin', 'infra.cjs');

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A person's machine for CLI tests: its own HOME (so ~/.infra) and kubeconfig. */
export interface Workstation {
  home: string;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
  /** Runs `infra ...` in this process, never prompting. */
  run(...argv: string[]): Promise<CliResult>;
  /** Runs the built `infra` binary in a child process (as kubectl would). */
  exec(argv: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
}

export function workstation(): Workstation {
  const home = mkdtempSync(path.join(tmpdir(), 'infra-home-'));
  const kubeconfig = path.join(home, '.kube', 'config');
  const env = { HOME: home, KUBECONFIG: kubeconfig, PATH: process.env.PATH };
  return {
    home,
    kubeconfig,
    env,
    async run(...argv) {
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await runCli(argv, { stdout, stderr, env, interactive: false });
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    exec(argv, extraEnv = {}) {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [infraBin, ...argv], {
          env: { ...env, ...extraEnv },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      });
    },
  };
}
