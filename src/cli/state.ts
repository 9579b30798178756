import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../shared/files.js';
import { stateFile } from './state-file.js';

/** A session with one server, as `infra login` saved it. */
export interface SavedSession {
  userId: string;
  name: string;
  accessKey: string;
  /** RFC 3339. */
  expires: string;
}

/** The kubeconfig entries this CLI wrote for a server, so it never touches anyone else's. */
export interface WrittenEntries {
  file: string;
  clusters: string[];
  users: string[];
  contexts: string[];
  /** A digest of each entry as written (`clusters/infra:prod` → digest), to notice later edits. */
  digests?: Record<string, string>;
}

/** A destination's connector as the server gave it: its URL and CA (PEM). */
export interface KnownCluster {
  url: string;
  ca: string;
}

export interface SavedServer {
  url: string;
  current: boolean;
  /** PEM the user chose to trust for this server (its CA), when the system does not. */
  trustedCa?: string;
  skipTlsVerify?: boolean;
  session?: SavedSession;
  kubeconfig?: WrittenEntries;
  /**
   * The connector of each destination the kubeconfig has Infra's contexts for: the credential
   * plugin gives kubectl a token only for that server (exec-cluster.ts).
   */
  destinations?: Record<string, KnownCluster>;
}

export interface CliState {
  version: 1;
  servers: SavedServer[];
}

/** `~/.infra` (HOME decides, so tests and multiple users stay apart). */
export function infraDir(env: NodeJS.ProcessEnv): string {
  return path.join(env.HOME ?? homedir(), '.infra');
}

const configFile = (env: NodeJS.ProcessEnv) => stateFile(infraDir(env));

/** Reads `~/.infra/config`; a missing file is an empty state. */
export function readState(env: NodeJS.ProcessEnv): CliState {
  let text: string;
  try {
    text = readFileSync(configFile(env), 'utf8');
  } catch {
    return { version: 1, servers: [] };
  }
  try {
    const parsed = JSON.parse(text) as CliState;
    if (parsed.version === 1 && Array.isArray(parsed.servers)) return parsed;
  } catch {
    // Fall through: an unreadable file is replaced at the next login rather than crashing every command.
  }
  return { version: 1, servers: [] };
}

/** Writes `~/.infra/config` atomically, readable by the owner only (it holds access keys). */
export async function writeState(env: NodeJS.ProcessEnv, state: CliState): Promise<void> {
  mkdirSync(infraDir(env), { recursive: true, mode: 0o700 });
  await writeFileAtomic(configFile(env), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

export function currentServer(state: CliState): SavedServer | undefined {
  return state.servers.find((s) => s.current);
}

export function findServer(state: CliState, url: string): SavedServer | undefined {
  return state.servers.find((s) => s.url === url);
}

/** `infra.example.com` → `https://infra.example.com`; keeps an explicit port; drops a path. */
export function normalizeServerUrl(text: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'https:') throw new Error('the server URL must use https');
  return `https://${url.host}`;
}
