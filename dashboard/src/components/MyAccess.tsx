import { call, type Destination, type Grant } from '../api';
import { usePaged, type Paged } from '../lib/hooks';
import { roleDescription, splitResource } from '../lib/roles';
import { loginCommand, useServerSettings } from '../lib/server';
import { CodeBlock, CopyButton } from './Copy';
import { EmptyState } from './Feedback';
import { Expiry } from './Grants';
import { PagedTable } from './PagedTable';

/**
 * The caller's grants, their own and their groups' (on one cluster when `destination` is a
 * name; none yet while it is `null`, not known): what they may reach. Any signed-in user may
 * list these about themselves.
 */
export function useMyGrants(destination?: string | null): Paged<Grant> {
  return usePaged<Grant>(
    (after, signal) =>
      destination === null
        ? Promise.resolve({ items: [], count: 0, limit: 100 })
        : call(
            'listGrants',
            { user: 'self', showInherited: true, destination, after, limit: 100 },
            { signal },
          ),
    [destination],
  );
}

/** How a grant reaches the caller: directly, or as a member of a group. */
export function through(g: Grant): string {
  return g.group ? `group ${g.groupName ?? g.group}` : 'granted to you';
}

/** The caller's roles on one cluster, short: `edit on web, view`. */
export function rolesOn(grants: readonly Grant[], destination: string): string[] {
  return grants
    .filter((g) => splitResource(g.resource).destination === destination)
    .map((g) => {
      const { namespace } = splitResource(g.resource);
      return namespace ? `${g.privilege} in ${namespace}` : g.privilege;
    });
}

/**
 * What gets the caller there: `infra ssh` for an SSH host, `infra use` for a cluster (`prod`, or
 * `prod.web` for a namespace).
 */
function switchCommand(resource: string, sshHosts?: ReadonlySet<string>): string {
  return sshHosts?.has(resource) ? `infra ssh ${resource}` : `infra use ${resource}`;
}

/** The names of the SSH hosts among the destinations the caller may reach (loaded so far). */
export function useSshHosts(): ReadonlySet<string> {
  const list = usePaged<Destination>(
    (after, signal) => call('listDestinations', { after, limit: 100 }, { signal }),
    [],
  );
  return new Set(list.items.filter((d) => d.kind === 'ssh').map((d) => d.name));
}

/**
 * The commands from nothing to kubectl: log in to this server, switch to a cluster (or a
 * namespace of one), then kubectl. `resource` defaults to a placeholder line listing them all.
 */
export function GetThere({ resource, ssh = false }: { resource?: string; ssh?: boolean }) {
  const settings = useServerSettings();
  const code = ssh
    ? [loginCommand(settings.data), `infra ssh ${resource ?? '<host>'}`].join('\n')
    : [
        loginCommand(settings.data),
        ...(resource ? [switchCommand(resource)] : ['infra list', 'infra use <cluster>']),
        'kubectl get pods',
      ].join('\n');
  return <CodeBlock label="Get there from a terminal" code={code} />;
}

/** A table of the caller's access: where, which role, through what, until when, the command. */
export function MyAccessTable({
  list,
  caption,
  where = 'any cluster',
  sshHosts,
}: {
  list: Paged<Grant>;
  caption: string;
  /** What the empty state says you have no role on. */
  where?: string;
  /** Destinations that are SSH hosts: their command is `infra ssh`. */
  sshHosts?: ReadonlySet<string>;
}) {
  const rows = list.items.filter((g) => g.resource !== 'infra');
  return (
    <PagedTable
      list={list}
      rows={rows}
      rowKey={(g) => g.id}
      caption={caption}
      noun="grants"
      errorTitle="Could not load your access"
      empty={
        <EmptyState icon="access" title="No access yet">
          You have no role on {where} yet. Ask an admin to grant you one, directly or through a
          group.
        </EmptyState>
      }
      columns={[
        {
          header: 'Cluster',
          className: 'strong',
          cell: (g) => splitResource(g.resource).destination,
        },
        {
          header: 'Namespace',
          cell: (g) => splitResource(g.resource).namespace ?? <span>all (whole cluster)</span>,
        },
        {
          header: 'Role',
          cell: (g) => (
            <>
              <span className="role">{g.privilege}</span>{' '}
              <span className="muted">{roleDescription(g.privilege)}</span>
            </>
          ),
        },
        { header: 'Through', cell: through },
        { header: 'Until', cell: (g) => <Expiry expiresAt={g.expiresAt} /> },
        {
          header: 'Command',
          cell: (g) => (
            <span className="inline-command">
              <code>{switchCommand(g.resource, sshHosts)}</code>
              <CopyButton
                text={switchCommand(g.resource, sshHosts)}
                name={`Copy ${switchCommand(g.resource, sshHosts)}`}
              />
            </span>
          ),
        },
      ]}
    />
  );
}
