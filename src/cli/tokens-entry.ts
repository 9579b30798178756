/**
 * `infra tokens`, the kubectl credential plugin, kept apart from the rest of the CLI: kubectl
 * runs it for every command, so when a cached token is still good it prints it having loaded
 * nothing but node built-ins. Only a miss loads the API client.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { mintToken as MintToken } from './commands/tokens.js';
import { refuseExecCluster } from './exec-cluster.js';
import { REUSE_MARGIN_MS, execCredential, readTokenCache, tokenCacheKey } from './token-cache.js';

const USAGE = `Usage: infra tokens [--server URL] DESTINATION

Print a credential for kubectl: the kubeconfig entries \`infra login\` writes run this command.
`;

export async function runTokens(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let server: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--server') server = argv[++i];
    else if (argv[i]?.startsWith('--server=')) server = argv[i]!.slice('--server='.length);
    else rest.push(argv[i]!);
  }
  const destination = rest[0];
  const unknown = rest.find((a) => a.startsWith('-'));
  if (!destination || rest.length > 1 || unknown) {
    process.stderr.write(`${unknown ? `error: unknown option '${unknown}'\n` : ''}${USAGE}`);
    return 2;
  }
  const infraDir = path.join(env.HOME ?? homedir(), '.infra');
  const refused = refuseExecCluster(env, infraDir, server, destination);
  if (refused) {
    process.stderr.write(`infra: ${refused}\n`);
    return 1;
  }
  if (server) {
    const cached = readTokenCache(infraDir)[tokenCacheKey(server, destination)];
    if (cached && Date.parse(cached.expires) - Date.now() > REUSE_MARGIN_MS) {
      process.stdout.write(execCredential(cached.token, cached.expires));
      return 0;
    }
  }
  // A miss loads the API client. From sources that is the module next door; in the build it is
  // dist/mint.mjs, kept out of this bundle so that a hit loads nothing else.
  // The plugin bundle is CommonJS (no import.meta there); sources and the main bundle are ESM.
  const here = typeof __filename === 'string' ? pathToFileURL(__filename).href : import.meta.url;
  const mint = new URL(here.endsWith('.ts') ? './commands/tokens.ts' : './mint.mjs', here);
  const { mintToken } = (await import(mint.href)) as { mintToken: typeof MintToken };
  return mintToken({ server, destination, env, infraDir });
}
