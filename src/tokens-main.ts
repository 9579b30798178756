/** Entry of the kubectl credential plugin's own bundle (`infra tokens`): see cli/tokens-entry.ts. */
import { runTokens } from './cli/tokens-entry.js';

process.exitCode = await runTokens(process.argv.slice(3), process.env);
