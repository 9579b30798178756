#!/usr/bin/env node
import { existsSync } from 'node:fs';

// `infra tokens` runs for every kubectl command: it has a bundle of its own that loads almost
// nothing when a cached token is still good.
const bundle = new URL(
  process.argv[2] === 'tokens' ? '../dist/tokens.cjs' : '../dist/infra.mjs',
  import.meta.url,
);
if (!existsSync(bundle)) {
  console.error('infra: not built yet; run `npm run build` in the infra directory first');
  process.exit(1);
}
await import(bundle.href);
