import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO, Session } from './context.js';
import { kubeconfigPath, syncKubeconfig, type CredentialCommand } from './kubeconfig.js';
import { listReachable, type Reachable } from './reach.js';
import { writeState } from './state.js';

/**
 * What kubectl runs for credentials: this installation's credential plugin. The built plugin
 * (dist/tokens.cjs) is run directly, since kubectl starts it for every command and going
 * through bin/infra.mjs would start node's ES module loader; from sources, `infra tokens`.
 */
export function credentialCommand(serverUrl: string): CredentialCommand {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let root = '';
  for (let i = 0; i < 5 && !root; i++) {
    if (existsSync(path.join(dir, 'bin', 'infra.mjs'))) root = dir;
    dir = path.dirname(dir);
  }
  const plugin = path.join(root, 'dist', 'tokens.cjs');
  const head = existsSync(plugin) ? [plugin] : [path.join(root, 'bin', 'infra.mjs'), 'tokens'];
  return {
    command: process.execPath,
    args: (destination) => [...head, '--server', serverUrl, destination],
  };
}

/**
 * Writes a kubeconfig context for every cluster and namespace the user may reach and removes the
 * ones no longer granted. Returns what the user may reach.
 */
export async function refreshKubeconfig(session: Session, io: CliIO): Promise<Reachable[]> {
  const reachable = await listReachable(session.client);
  const file = kubeconfigPath(io.env);
  const { written, conflicts } = await syncKubeconfig(
    file,
    reachable.map((r) => r.context),
    credentialCommand(session.server.url),
    session.server.kubeconfig,
  );
  for (const name of conflicts) {
    io.stderr.write(
      `Left ${name} in ${file} alone: Infra did not write it. Rename it to let Infra manage that entry.\n`,
    );
  }
  session.server.kubeconfig = written;
  await writeState(io.env, session.state);
  return reachable;
}
