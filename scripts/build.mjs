// Builds what `infra` runs from: the bundled CLI, server and connector (dist/), and the dashboard.
// `--no-dashboard` skips the dashboard (the test runner only needs the CLI).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });

await build({
  entryPoints: {
    infra: path.join(root, 'src/main.ts'),
    tokens: path.join(root, 'src/tokens-main.ts'),
  },
  outdir: path.join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  // Lazily imported parts (server, connector, each CLI command) become chunks loaded on demand.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies load from node_modules; native ones (better-sqlite3) cannot be bundled anyway.
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

if (!process.argv.includes('--no-dashboard')) {
  execFileSync('npm', ['run', 'build', '--workspace', '@infra-ts/dashboard', '--silent'], {
    cwd: root,
    stdio: 'inherit',
  });
}
