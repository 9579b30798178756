import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO, Session } from './context.js';
import { kubeconfigPath, syncKubeconfig, type CredentialCommand } from './kubeconfig.js';
import { listReachable, type Reachable } from './reach.js';
import { writeState } from './state.js';

/** The `infra` executable kubectl should run for credentials: this installation's bin. */
export function credentialCommand(serverUrl: string): CredentialCommand {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let bin = '';
  for (let i = 0; i < 5 && !bin; i++) {
    const candidate = path.join(dir, 'bin', 'infra.mjs');
    if (existsSync(candidate)) bin = candidate;
    dir = path.dirname(dir);
  }
  return {
    command: process.execPath,
    args: (destination) => [bin, 'tokens', '--server', serverUrl, destination],
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
