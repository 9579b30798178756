#!/usr/bin/env node
// CommonJS on purpose: kubectl runs `infra tokens` for every command, and node starts a CommonJS
// file without its ES module loader. `tokens` goes to a bundle of its own that loads almost
// nothing when a cached token is still good; everything else loads the main (ESM) bundle.
'use strict';
const { existsSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const tokens = process.argv[2] === 'tokens';
const bundle = path.join(__dirname, '..', 'dist', tokens ? 'tokens.cjs' : 'infra.mjs');
if (!existsSync(bundle)) {
  console.error('infra: not built yet; run `npm run build` in the infra directory first');
  process.exit(1);
}
if (tokens) require(bundle);
else import(pathToFileURL(bundle).href);
