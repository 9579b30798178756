// Builds what `infra` runs from: the bundled CLI, server and connector (dist/), and the dashboard.
// `--no-dashboard` skips the dashboard (the test runner only needs the CLI).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
rmSync(path.join(root, 'dist'), { recursive: true, force: true });

// Pure JavaScript packages of many small files go into the bundle: node resolves, reads and
// compiles each file of a package on its own, which cost `infra server` ~200 ms at start (kysely
// alone: 130 ms from node_modules, 16 ms bundled). Nothing outside the bundle imports them.
const bundled = new Set([
  'kysely',
  'zod',
  'jose',
  'yaml',
  'commander',
  'fastify',
  '@fastify/static',
  'prom-client',
]);
const { dependencies } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = Object.keys(dependencies)
  .filter((name) => !bundled.has(name))
  .flatMap((name) => [name, `${name}/*`]);

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Other dependencies load from node_modules; native ones (better-sqlite3) cannot be bundled.
  external,
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
  // Bundled CommonJS packages (yaml, commander) require node's own modules: give them `require`.
  banner: {
    js: "import { createRequire as __infraRequire } from 'node:module'; const require = __infraRequire(import.meta.url);",
  },
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
