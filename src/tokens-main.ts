/**
 * Entry of the kubectl credential plugin's own bundle (`infra tokens`), built as CommonJS:
 * node starts a CommonJS file without initializing its ES module loader, which is most of the
 * start-up time on the cached path. See cli/tokens-entry.ts.
 */
import { runTokens } from './cli/tokens-entry.js';

void runTokens(
  process.argv.slice(2).filter((a, i) => !(i === 0 && a === 'tokens')),
  process.env,
).then((code) => {
  process.exitCode = code;
});
