import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO, Session } from './context.js';
import {
  kubeconfigPath,
  syncKubeconfig,
  type CredentialCommand,
  type KubeconfigNotice,
  type Section,
} from './kubeconfig.js';
import { listReachable, type Reachable } from './reach.js';
import { writeState } from './state.js';

/** The first executable `name` on PATH, if any. */
function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const sameFile = (a: string, b: string) => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
};

/**
 * What kubectl runs for credentials: `infra tokens`. When the `infra` first on PATH is this
 * installation (`npm install -g`, `npm link`), the entry names that command by its PATH location,
 * which survives reinstalling, upgrading or re-cloning behind it and needs no PATH of kubectl's
 * (IDEs often have a short one). Otherwise (run from a checkout that is not on PATH) it names
 * this node and this checkout's bin/infra.cjs. Either way bin/infra.cjs hands `tokens` to its
 * small CommonJS bundle before loading anything else. Every login, list and use rewrites it.
 */
export function credentialCommand(serverUrl: string, env: NodeJS.ProcessEnv): CredentialCommand {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let bin = '';
  for (let i = 0; i < 5 && !bin; i++) {
    if (existsSync(path.join(dir, 'bin', 'infra.cjs'))) bin = path.join(dir, 'bin', 'infra.cjs');
    dir = path.dirname(dir);
  }
  const installed = onPath('infra', env);
  const head =
    installed && sameFile(installed, bin)
      ? { command: installed, args: ['tokens'] }
      : { command: process.execPath, args: [bin, 'tokens'] };
  return {
    command: head.command,
    args: (destination) => [...head.args, '--server', serverUrl, destination],
  };
}

const KINDS: Record<Section, string> = {
  clusters: 'cluster entry',
  users: 'user entry',
  contexts: 'context',
};

/** Tells the person what the sync left undone or repaired, and how to fix it. */
function explainNotice(notice: KubeconfigNotice, file: string): string {
  if (notice.kind === 'changed') {
    return notice.removed
      ? `Removed the ${KINDS[notice.section]} ${notice.name} from ${file}: Infra wrote it and no longer needs it (it had been changed since).`
      : `Rewrote the ${KINDS[notice.section]} ${notice.name} in ${file}: it had been changed since Infra wrote it. Infra manages the entries it writes; keep your own under another name.`;
  }
  const { contexts, entries } = notice;
  const one = entries.length === 1;
  const fixes = entries.map((e) =>
    e.section === 'contexts'
      ? `kubectl config rename-context ${e.name} NEW-NAME`
      : `kubectl config delete-${e.section === 'clusters' ? 'cluster' : 'user'} ${e.name}`,
  );
  return [
    `Did not write the kubeconfig context${contexts.length === 1 ? '' : 's'} ${contexts.join(', ')}:`,
    `${entries.map((e) => `the ${KINDS[e.section]} ${e.name}`).join(' and ')} in ${file}`,
    `${one ? 'was' : 'were'} not written by Infra${entries.some((e) => e.section === 'clusters') ? ', and kubectl would send your Infra credentials to its server' : ''}.`,
    `Remove or rename ${one ? 'it' : 'them'} (${fixes.join('; ')}), then run \`infra list\`.`,
  ].join(' ');
}

/** A place the user can reach, and whether Infra's kubeconfig has its context. */
export type ReachableContext = Reachable & { written: boolean };

/**
 * Writes a kubeconfig context for every cluster and namespace the user may reach and removes the
 * ones no longer granted; remembers each written cluster's connector for the credential plugin.
 * Returns what the user may reach.
 */
export async function refreshKubeconfig(session: Session, io: CliIO): Promise<ReachableContext[]> {
  const reachable = await listReachable(session.client, session.server);
  const file = kubeconfigPath(io.env);
  const { written, notices } = await syncKubeconfig(
    file,
    reachable.map((r) => r.context),
    credentialCommand(session.server.url, io.env),
    session.server.kubeconfig,
  );
  for (const notice of notices) io.stderr.write(`${explainNotice(notice, file)}\n`);
  session.server.kubeconfig = written;
  session.server.destinations = Object.fromEntries(
    reachable
      .filter((r) => written.clusters.includes(`infra:${r.context.destination}`))
      .map((r) => [r.context.destination, { url: r.context.server, ca: r.context.ca }]),
  );
  await writeState(io.env, session.state);
  return reachable.map((r) => ({ ...r, written: written.contexts.includes(r.context.name) }));
}
