import { useState } from 'react';
import { call, type Destination } from '../api';
import { Button } from '../components/Button';
import { UnusedConnectorKeys } from '../components/ConnectorKeys';
import { ConfirmDialog } from '../components/Dialog';
import { Badge, EmptyState, ErrorNotice, Notice, SkeletonBlock } from '../components/Feedback';
import { ExplainAccess } from '../components/Explain';
import { GrantDialog, GrantsTable, NoGrants } from '../components/Grants';
import { PageHeader } from '../components/Layout';
import { GetThere, MyAccessTable, rolesOn, useMyGrants } from '../components/MyAccess';
import { ListTotal, PagedTable } from '../components/PagedTable';
import { useToast } from '../components/Toast';
import { formatTime, plural, timeAgo } from '../lib/format';
import { usePaged, useQuery, useSearchBox, useTitle } from '../lib/hooks';
import { grantableRoles, roleDescription } from '../lib/roles';
import { Link, navigate } from '../lib/router';
import { useSession } from '../lib/session';
import { ListSearch } from '../components/Field';

export function ClusterStatus({ destination }: { destination: Destination }) {
  const seen = destination.lastSeen ? `last seen ${timeAgo(destination.lastSeen)}` : 'never seen';
  if (destination.connection.mode === 'tunnel') {
    const n = destination.tunnel.replicas.length;
    return n > 0 ? (
      <Badge tone="green" title={`tunnel open since ${formatTime(destination.tunnel.since!)}`}>
        connected · tunnel{n > 1 ? ` to ${n} replicas` : ''}
      </Badge>
    ) : (
      <Badge tone="red" title={seen}>
        no tunnel · {seen}
      </Badge>
    );
  }
  return destination.connected ? (
    <Badge tone="green" title={seen}>
      connected
    </Badge>
  ) : (
    <Badge tone="red" title={seen}>
      disconnected · {seen}
    </Badge>
  );
}

/** The first few roles a cluster offers, well-known ones first. */
function Roles({ roles }: { roles: string[] }) {
  const ordered = grantableRoles(roles).filter((r) => r !== 'connect');
  return (
    <>
      {ordered.slice(0, 4).join(', ')}
      {ordered.length > 4 && <span className="muted"> +{ordered.length - 4} more</span>}
    </>
  );
}

/** Every cluster the caller may reach (admins: all), with status, namespaces and roles. */
export function ClustersPage() {
  useTitle('Clusters');
  const { isAdmin } = useSession();
  const search = useSearchBox('q');
  const query = search.value;
  const list = usePaged<Destination>(
    (after, signal) =>
      call('listDestinations', { search: query || undefined, after, limit: 100 }, { signal }),
    [query],
  );
  // Everyone sees their own roles; admins also see what each cluster offers.
  const mine = useMyGrants();
  const connect = isAdmin ? (
    <Button variant="primary" icon="plus" onClick={() => navigate('/clusters/connect')}>
      Connect a cluster
    </Button>
  ) : undefined;

  return (
    <>
      <PageHeader
        title="Clusters"
        description={
          <>
            Kubernetes clusters and SSH hosts connected to Infra. People reach clusters with{' '}
            <code>infra login</code> and kubectl, hosts with <code>infra ssh</code>.
          </>
        }
        actions={connect}
      />
      {isAdmin && <UnusedConnectorKeys />}
      <ListSearch label="Search clusters" box={search} placeholder="Search by name" />
      <ListTotal list={list} one="cluster" filtered={Boolean(query)} />
      <PagedTable
        list={list}
        rowKey={(d) => d.id}
        caption="Clusters"
        noun="clusters"
        errorTitle="Could not load the clusters"
        empty={
          query ? (
            <EmptyState icon="search" title="No matching clusters">
              No cluster’s name contains “{query}”.
            </EmptyState>
          ) : (
            <EmptyState icon="clusters" title="No clusters yet" action={connect}>
              {isAdmin
                ? 'Connect a Kubernetes cluster: Infra gives you a key and the commands to run in it.'
                : 'You have no access to a cluster yet. Ask an admin to grant you a role on one.'}
            </EmptyState>
          )
        }
        columns={[
          {
            header: 'Name',
            cell: (d) => (
              <Link to={`/clusters/${d.id}`} className="strong">
                {d.name}
              </Link>
            ),
          },
          { header: 'Kind', cell: (d) => (d.kind === 'ssh' ? 'SSH host' : 'Kubernetes') },
          { header: 'Status', cell: (d) => <ClusterStatus destination={d} /> },
          {
            header: 'Namespaces',
            cell: (d) => (d.kind === 'ssh' ? '—' : plural(d.namespaces.length, 'namespace')),
          },
          isAdmin
            ? { header: 'Roles', className: 'wrap', cell: (d) => <Roles roles={d.roles} /> }
            : {
                header: 'Your roles',
                className: 'wrap',
                cell: (d) => rolesOn(mine.items, d.name).join(', ') || '—',
              },
          { header: 'Version', className: 'muted', cell: (d) => d.version },
        ]}
      />
    </>
  );
}

/** One cluster: status, namespaces, roles with what they allow, who has access; remove. */
export function ClusterPage({ id }: { id: string }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const cluster = useQuery((signal) => call('getDestination', { id }, { signal }), [id]);
  const name = cluster.data?.name;
  useTitle(name ?? 'Cluster');
  // Who has access is for admins: others would only get a 403.
  const grants = usePaged(
    (after, signal) =>
      name && isAdmin
        ? call('listGrants', { destination: name, after, limit: 100 }, { signal })
        : Promise.resolve({ items: [], count: 0, limit: 100 }),
    [name, isAdmin],
  );
  const [removing, setRemoving] = useState(false);
  const [granting, setGranting] = useState(false);
  const d = cluster.data;
  const mine = useMyGrants(name ?? null);
  const myFirst = mine.items[0];

  return (
    <>
      <PageHeader
        back={{ to: '/clusters', label: 'Clusters' }}
        title={d?.name ?? <span className="skeleton" style={{ width: 160 }} />}
        description={d && <ClusterStatus destination={d} />}
        actions={
          isAdmin &&
          d && (
            <>
              <Button variant="primary" icon="plus" onClick={() => setGranting(true)}>
                Grant access
              </Button>
              <Button variant="danger-ghost" icon="trash" onClick={() => setRemoving(true)}>
                Remove
              </Button>
            </>
          )
        }
      />
      {cluster.error !== undefined ? (
        <ErrorNotice
          title="Could not load the cluster"
          error={cluster.error}
          onRetry={cluster.reload}
        />
      ) : !d ? (
        <SkeletonBlock lines={6} />
      ) : (
        <>
          <dl className="facts">
            {d.kind === 'ssh' && d.ssh ? (
              <div>
                <dt>SSH host</dt>
                <dd>
                  <code>{d.ssh.address}</code>
                </dd>
              </div>
            ) : (
              <div>
                <dt>{d.connection.mode === 'tunnel' ? 'Reached through' : 'Connector endpoint'}</dt>
                <dd>
                  <code>{d.connection.url}</code>
                  {d.connection.mode === 'tunnel' && (
                    <span className="muted">
                      {' '}
                      (this server; the connector dials out
                      {d.tunnel.replicas.length > 0
                        ? `, tunnel open since ${formatTime(d.tunnel.since!)}`
                        : ' and holds no tunnel now'}
                      )
                    </span>
                  )}
                </dd>
              </div>
            )}
            <div>
              <dt>Last seen</dt>
              <dd title={d.lastSeen ? formatTime(d.lastSeen) : undefined}>
                {d.lastSeen ? timeAgo(d.lastSeen) : 'never'}
              </dd>
            </div>
            <div>
              <dt>{d.kind === 'ssh' ? 'Host agent' : 'Kubernetes'}</dt>
              <dd>{d.version}</dd>
            </div>
            <div>
              <dt>Connected since</dt>
              <dd>{formatTime(d.created)}</dd>
            </div>
          </dl>
          {!d.connected && (
            <Notice kind="warning">
              The connector has not been in touch for over two minutes. Check that its pod (or
              process) is running and can reach this server; existing access keeps working while it
              catches up.
            </Notice>
          )}
          <section className="section stack">
            <h2>Your access</h2>
            <MyAccessTable
              list={mine}
              caption={`Your access to ${d.name}`}
              where={d.name}
              sshHosts={d.kind === 'ssh' ? new Set([d.name]) : undefined}
            />
            {myFirst && <GetThere resource={myFirst.resource} ssh={d.kind === 'ssh'} />}
          </section>
          <section className="section">
            <h2>Roles it offers</h2>
            <ul className="role-list">
              {grantableRoles(d.roles).map((r) => (
                <li key={r}>
                  <strong>{r}</strong>
                  <span className="muted">{roleDescription(r)}</span>
                </li>
              ))}
            </ul>
          </section>
          <section className="section">
            <h2>Namespaces ({d.namespaces.length})</h2>
            {d.namespaces.length === 0 ? (
              <p className="muted">The connector has not reported any namespaces.</p>
            ) : (
              <ul className="chips">
                {d.namespaces.map((ns) => (
                  <li key={ns} className="chip">
                    {ns}
                  </li>
                ))}
              </ul>
            )}
          </section>
          {isAdmin && (
            <section className="section">
              <h2>Who has access</h2>
              <GrantsTable
                caption={`Access to ${d.name}`}
                list={grants}
                empty={
                  <NoGrants>
                    Nobody has a role on {d.name} yet. Grant one to let people in.
                  </NoGrants>
                }
              />
            </section>
          )}
          {isAdmin && (
            <section className="section stack">
              <h2>Why does someone have access?</h2>
              <p className="muted">
                Every grant that lets a person in, through which group and how they joined it, and
                what would give them access if nothing does (as <code>infra explain</code>).
              </p>
              <ExplainAccess destination={d.name} />
            </section>
          )}
        </>
      )}
      {granting && d && (
        <GrantDialog
          destination={d.name}
          onClose={() => setGranting(false)}
          onGranted={() => grants.refresh()}
        />
      )}
      {removing && d && (
        <ConfirmDialog
          title={`Remove ${d.name}?`}
          confirmLabel="Remove cluster"
          onClose={() => setRemoving(false)}
          onConfirm={async (signal) => {
            await call('deleteDestination', { id: d.id }, { signal });
            toast(`${d.name} removed`);
            navigate('/clusters', { replace: true });
          }}
        >
          Infra forgets this cluster. Its grants stay, so reconnecting it restores access. Stop its
          connector too, or it registers the cluster again within a minute.
        </ConfirmDialog>
      )}
    </>
  );
}
