import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');

/** Module → folders (under src/) it must never import from. See house-style R3. */
const forbidden: Array<[string, string[]]> = [
  ['src/api/', ['src/server/', 'src/cli/', 'src/connector/']],
  ['src/shared/', ['src/server/', 'src/cli/', 'src/connector/', 'src/api/']],
  ['src/server/http/', ['src/server/data/']],
  ['src/server/access/', ['src/server/http/']],
  ['src/server/data/', ['src/server/access/', 'src/server/http/', 'src/api/']],
  ['src/cli/', ['src/server/', 'src/connector/']],
  ['src/connector/', ['src/server/', 'src/cli/']],
  ['dashboard/src/', ['src/server/', 'src/cli/', 'src/connector/']],
  ['src/', ['test/']],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|tsx)$/.test(f) && !f.endsWith('.test.ts') && !f.includes('node_modules'))
    .map((f) => path.join(dir, f));
}

function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  return specs
    .filter((s) => s.startsWith('.'))
    .map((s) => path.relative(root, path.resolve(root, path.dirname(file), s)));
}

describe('module boundaries', () => {
  it('no module imports a layer it must not', () => {
    const violations: string[] = [];
    for (const file of [...sourceFiles('src'), ...sourceFiles('dashboard/src')]) {
      for (const target of importsOf(file)) {
        for (const [from, banned] of forbidden) {
          if (!file.startsWith(from)) continue;
          const hit = banned.find((b) => `${target}/`.startsWith(b) || target.startsWith(b));
          if (hit) violations.push(`${file} imports ${target} (${from} must not import ${hit})`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it('finds imports at all (guards against a parser that sees nothing)', () => {
    assert.ok(importsOf('src/server/http/app.ts').includes('src/server/http/routes.js'));
  });
});
