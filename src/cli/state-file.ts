import path from 'node:path';

/**
 * `~/.infra/config`, given `~/.infra`. Its own module because the credential plugin's hot path
 * (exec-cluster.ts) reads it too and imports nothing but node built-ins.
 */
export const stateFile = (infraDir: string) => path.join(infraDir, 'config');
