// Builds what `infra` runs from: the bundled CLI/server (dist/infra.mjs) and the dashboard.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');

await build({
  entryPoints: [path.join(root, 'src/main.ts')],
  outfile: path.join(root, 'dist/infra.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies load from node_modules; native ones (better-sqlite3) cannot be bundled anyway.
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

execFileSync('npm', ['run', 'build', '--workspace', '@infra-ts/dashboard', '--silent'], {
  cwd: root,
  stdio: 'inherit',
});
