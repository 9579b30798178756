import type { Writable } from 'node:stream';

// Apart from context.ts, which loads the API client and its schemas: `infra --version` and
// `infra --help` need only these.

/** Where a command reads and writes: injectable, so tests run commands in-process. */
export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Whether prompts may be shown (a terminal, and no --non-interactive). */
  interactive: boolean;
}

/** A failure to report as one sentence (with the fix) and an exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
