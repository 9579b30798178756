// Counts the modules a process loads: `node --import ./test/count-modules.mjs ...` with
// INFRA_MODULES_OUT=<file>. At exit, writes one JSON line there: the CommonJS files in the
// require cache, the ES modules the loader loaded, and the npm packages they come from.
import { appendFileSync, writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.INFRA_MODULES_OUT;
if (out) {
  const esmList = `${out}.esm`;
  writeFileSync(esmList, '');
  register(new URL('./count-modules-hooks.mjs', import.meta.url), { data: { esmList } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    const cjs = Object.keys(cache);
    const { readFileSync } = createRequire(import.meta.url)('node:fs');
    const esm = [...new Set(readFileSync(esmList, 'utf8').split('\n').filter(Boolean))].filter(
      (u) => u.startsWith('file:') && !cjs.includes(new URL(u).pathname),
    );
    const packages = new Set();
    for (const f of [...cjs, ...esm]) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f);
      if (m) packages.add(m[1]);
    }
    appendFileSync(
      out,
      `${JSON.stringify({ cjs: cjs.length, esm: esm.length, packages: [...packages].sort() })}\n`,
    );
  });
}
