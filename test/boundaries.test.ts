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

/** The source file an import names (`./x.js` is `./x.ts` or `./x.tsx`), if it is one. */
function resolveSource(target: string, files: ReadonlySet<string>): string | undefined {
  const base = target.replace(/\.js$/, '');
  return [`${base}.ts`, `${base}.tsx`, `${base}/index.ts`, target].find((f) => files.has(f));
}

/** Groups of files that import each other, directly or through others (type imports count). */
function importCycles(files: string[]): string[][] {
  const known = new Set(files);
  const edges = new Map(
    files.map((f) => [
      f,
      importsOf(f)
        .map((t) => resolveSource(t, known))
        .filter((t) => t !== undefined),
    ]),
  );
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return cycles;
}

/** Lines of `file` matching `pattern`, as `file:line: text`. */
function matchingLines(file: string, pattern: RegExp): string[] {
  return readFileSync(path.join(root, file), 'utf8')
    .split('\n')
    .flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
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

  it('no file depends on itself through others (each layer owns its types, config included)', () => {
    assert.deepEqual(importCycles([...sourceFiles('src'), ...sourceFiles('dashboard/src')]), []);
  });

  it('queries are built only in the data layer', () => {
    // Query builders and raw SQL; a transaction started in access/ is fine, its SQL is not.
    const query =
      /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto)\(|\bsql`|\bsql\.(raw|ref|table|join)\(/;
    const outside = sourceFiles('src/server').filter((f) => !f.startsWith('src/server/data/'));
    assert.deepEqual(
      outside.flatMap((f) => matchingLines(f, query)),
      [],
    );
  });

  it('http handlers translate; domain work (database, audit, keys, providers) is in access/', () => {
    // app.ts and route.ts build the request context and run operations; handlers only convert.
    const handlers = sourceFiles('src/server/http').filter((f) => !/\/(app|route)\.ts$/.test(f));
    const domain = /\bctx\.(db|audit|tokens|changes|providers|presence)\b/;
    assert.deepEqual(
      handlers.flatMap((f) => matchingLines(f, domain)),
      [],
    );
  });

  it('finds cycles, queries and domain work at all (guards against checks that see nothing)', () => {
    const files = new Set(sourceFiles('src'));
    // The import graph has edges: app.ts's imports resolve to files.
    assert.ok(
      importsOf('src/server/http/app.ts').filter((t) => resolveSource(t, files)).length > 3,
    );
    assert.ok(matchingLines('src/server/data/users.ts', /\.selectFrom\(/).length > 0);
    assert.ok(matchingLines('src/server/access/destinations.ts', /\bctx\.tokens\b/).length > 0);
  });

  it('finds imports at all (guards against a parser that sees nothing)', () => {
    assert.ok(importsOf('src/server/http/app.ts').includes('src/server/http/routes.js'));
  });
});
