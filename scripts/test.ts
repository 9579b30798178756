/**
 * Runs the whole test suite with node's test runner: every `*.test.ts` under src/ and test/,
 * sharing one throwaway PostgreSQL cluster. Arguments narrow the run to matching file paths:
 * `npm run test:only -- src/server/config`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { startPostgresCluster } from '../test/postgres.js';

const root = path.resolve(import.meta.dirname, '..');
const filters = process.argv.slice(2);
const files = ['src', 'test']
  .flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) =>
      path.join(dir, f),
    ),
  )
  .filter((f) => f.endsWith('.test.ts') && !f.includes('node_modules'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

// Tests run the real `infra` binary (kubectl runs it as a credential plugin): build it first.
execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs'), '--no-dashboard'], {
  stdio: 'inherit',
});
// The dashboard's browser tests load the built app from the server (about a second to build).
if (files.some((f) => f.startsWith(path.join('test', 'dashboard')))) {
  execFileSync('npm', ['run', 'build', '--workspace', '@infra-ts/dashboard', '--silent'], {
    cwd: root,
    stdio: 'inherit',
  });
}

const cluster = await startPostgresCluster();
let code: number;
try {
  code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        // Test files mostly wait on servers and databases, so run more than one per core.
        `--test-concurrency=${Math.max(2, availableParallelism() * 2)}`,
        // The usual report, then one plain `N passed, N failed` line for CI.
        `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
        '--test-reporter-destination=stdout',
        `--test-reporter=${path.join(root, 'scripts/test-summary.mjs')}`,
        '--test-reporter-destination=stdout',
        ...files,
      ],
      {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, INFRA_TEST_POSTGRES_URL: cluster.url },
      },
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
} finally {
  cluster.stop();
}
process.exit(code);
