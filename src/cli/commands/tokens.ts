import { mkdirSync } from 'node:fs';
import { ApiError } from '../../api/errors.js';
import { writeFileAtomic } from '../../shared/files.js';
import { CliError, explain, requireSession } from '../context.js';
import { execCredential, readTokenCache, tokenCacheFile, tokenCacheKey } from '../token-cache.js';

/** Gets a destination token from the server, caches it, and prints the ExecCredential. */
export async function mintToken(options: {
  server?: string;
  destination: string;
  env: NodeJS.ProcessEnv;
  infraDir: string;
}): Promise<number> {
  try {
    const { server, client } = requireSession({ env: options.env }, options.server);
    const { token, expires } = await client.createToken({ destination: options.destination });
    const cache = readTokenCache(options.infraDir);
    const now = Date.now();
    for (const [key, entry] of Object.entries(cache))
      if (Date.parse(entry.expires) <= now) delete cache[key];
    cache[tokenCacheKey(server.url, options.destination)] = { token, expires };
    mkdirSync(options.infraDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(tokenCacheFile(options.infraDir), JSON.stringify(cache), 0o600);
    process.stdout.write(execCredential(token, expires));
    return 0;
  } catch (err) {
    const e = explain(err);
    const message =
      err instanceof ApiError && err.code === 'no_grant'
        ? `You have no access to ${options.destination}; ask an Infra admin for a grant, then run \`infra login\``
        : e.message;
    process.stderr.write(`infra: ${message}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
