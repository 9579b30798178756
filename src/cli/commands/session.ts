import { rmSync } from 'node:fs';
import { listAll } from '../../api/client.js';
import { productVersion } from '../../shared/version.js';
import { CliError, clientFor, explain, requireSession, type CliIO } from '../context.js';
import { kubeconfigPath, removeKubeconfigEntries, useContext } from '../kubeconfig.js';
import { printList, printTable, printValue, type OutputFormat } from '../output.js';
import { refreshKubeconfig } from '../refresh.js';
import {
  currentServer,
  findServer,
  infraDir,
  normalizeServerUrl,
  readState,
  writeState,
  type SavedServer,
} from '../state.js';
import { tokenCacheFile } from '../token-cache.js';

/** `infra logout`: ends the session on the server and removes what this CLI wrote. */
export async function logout(
  io: CliIO,
  serverArg: string | undefined,
  options: { all?: boolean; clear?: boolean },
): Promise<void> {
  const state = readState(io.env);
  let targets: SavedServer[];
  if (options.all) targets = [...state.servers];
  else {
    const server = serverArg
      ? findServer(state, normalizeServerUrl(serverArg))
      : currentServer(state);
    if (!server) throw new CliError(serverArg ? `Not logged in to ${serverArg}` : 'Not logged in');
    targets = [server];
  }
  for (const server of targets) {
    if (server.session) {
      // The session may already be gone on the server; logging out locally still proceeds.
      await clientFor(server)
        .logout()
        .catch(() => undefined);
    }
    await removeKubeconfigEntries(server.kubeconfig);
    delete server.session;
    delete server.kubeconfig;
    delete server.destinations;
    if (options.clear) state.servers.splice(state.servers.indexOf(server), 1);
    io.stderr.write(`Logged out of ${server.url}\n`);
  }
  await writeState(io.env, state);
  rmSync(tokenCacheFile(infraDir(io.env)), { force: true });
}

/** `infra list`: what the user may reach, with roles; refreshes the kubeconfig. */
export async function list(io: CliIO, options: { output: OutputFormat }): Promise<void> {
  const session = requireSession(io);
  const reachable = await refreshKubeconfig(session, io).catch((err: unknown) => {
    throw explain(err);
  });
  const items = reachable.map((r) => ({
    name: displayName(r.context.name),
    context: r.context.name,
    roles: r.roles,
  }));
  printList(io.stdout, options.output, items, {
    headers: ['Name', 'Access'],
    row: (r) => [r.name, r.roles.join(', ')],
    name: (r) => r.name,
    empty: 'You have no access to any cluster yet; ask an Infra admin for a grant.',
  });
}

/** `infra:prod:web` → `prod.web`. */
function displayName(context: string): string {
  return context.replace(/^infra:/, '').replace(':', '.');
}

/** `infra use CLUSTER[.NAMESPACE]`: switches kubectl to that context. */
export async function use(io: CliIO, target: string): Promise<void> {
  const session = requireSession(io);
  const [cluster, namespace] = target.split('.');
  const name = namespace ? `infra:${cluster}:${namespace}` : `infra:${cluster}`;
  const reachable = await refreshKubeconfig(session, io).catch((err: unknown) => {
    throw explain(err);
  });
  const file = kubeconfigPath(io.env);
  if (!(await useContext(file, name, session.server.kubeconfig))) {
    throw new CliError(
      reachable.some((r) => r.context.name === name)
        ? `Infra did not write the context ${name} (see above); fix that, then run \`infra use ${target}\` again`
        : `You have no access to ${target}; \`infra list\` shows what you can reach`,
    );
  }
  io.stderr.write(`Switched to context "${name}".\n`);
}

/** `infra version`: this client's version and the server's. */
export async function version(io: CliIO): Promise<void> {
  io.stdout.write(`Client: ${productVersion}\n`);
  const server = currentServer(readState(io.env));
  if (!server) return;
  const remote = await clientFor(server)
    .getVersion()
    .then((v) => v.version)
    .catch(() => 'not reachable');
  io.stdout.write(`Server: ${remote} (${server.url})\n`);
}

/** `infra about`: who you are and where. */
export async function about(io: CliIO, options: { output: OutputFormat }): Promise<void> {
  const session = requireSession(io);
  const me = await session.client.getUser({ id: 'self' }).catch((err: unknown) => {
    throw explain(err);
  });
  if (options.output === 'name') return void io.stdout.write(`${me.name}\n`);
  const groups = await listAll(session.client.listGroups, { userID: 'self' }).catch(
    (err: unknown) => {
      throw explain(err);
    },
  );
  if (options.output !== 'table') {
    return printValue(io.stdout, options.output, {
      server: session.server.url,
      user: me.name,
      userID: me.id,
      groups: groups.map((g) => g.name),
      sessionExpires: session.server.session.expires,
    });
  }
  printTable(
    io.stdout,
    ['Field', 'Value'],
    [
      ['Server', session.server.url],
      ['User', `${me.name} (${me.id})`],
      ['Groups', groups.map((g) => g.name).join(', ') || '(none)'],
      ['Session ends', session.server.session.expires],
    ],
  );
}
