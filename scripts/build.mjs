// Builds what `infra` runs from: the bundled CLI, server and connector (dist/), and the dashboard.
// `--no-dashboard` skips the dashboard (the test runner only needs the CLI).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies load from node_modules; native ones (better-sqlite3) cannot be bundled anyway.
  packages: 'external',
  logLevel: 'warning',
};

// The kubectl credential plugin: one small self-contained CommonJS file (node starts those
// without its ES module loader); on a cache miss it loads dist/mint.mjs, built below.
await build({
  ...common,
  format: 'cjs',
  // The CommonJS path never reads import.meta (it uses __filename).
  logOverride: { 'empty-import-meta': 'silent' },
  entryPoints: [path.join(root, 'src/tokens-main.ts')],
  outfile: path.join(root, 'dist/tokens.cjs'),
});

await build({
  ...common,
  entryPoints: {
    infra: path.join(root, 'src/main.ts'),
    mint: path.join(root, 'src/cli/commands/tokens.ts'),
  },
  outdir: path.join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  // Lazily imported parts (server, connector, each CLI command) become chunks loaded on demand.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
});

if (!process.argv.includes('--no-dashboard')) {
  execFileSync('npm', ['run', 'build', '--workspace', '@infra-ts/dashboard', '--silent'], {
    cwd: root,
    stdio: 'inherit',
  });
}
