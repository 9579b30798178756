#!/usr/bin/env node
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/infra.mjs', import.meta.url);
if (!existsSync(bundle)) {
  console.error('infra: not built yet; run `npm run build` in the infra directory first');
  process.exit(1);
}
await import(bundle.href);
