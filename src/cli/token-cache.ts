import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Destination tokens cached between kubectl commands: `~/.infra/tokens.json`, mode 0600,
 * cleared on login and logout. This module is on the hot path of every kubectl command, so it
 * imports nothing but node built-ins.
 */
export type TokenCache = Record<string, { token: string; expires: string }>;

/** A token is reused only while it has at least this long left. */
export const REUSE_MARGIN_MS = 60_000;

export const tokenCacheFile = (infraDir: string) => path.join(infraDir, 'tokens.json');
export const tokenCacheKey = (server: string, destination: string) => `${server}#${destination}`;

export function readTokenCache(infraDir: string): TokenCache {
  try {
    return JSON.parse(readFileSync(tokenCacheFile(infraDir), 'utf8')) as TokenCache;
  } catch {
    return {};
  }
}

/** The ExecCredential kubectl reads from an exec plugin's stdout. */
export function execCredential(token: string, expires: string): string {
  return `${JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token, expirationTimestamp: expires },
  })}\n`;
}
