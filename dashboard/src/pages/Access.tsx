import { useId, useState } from 'react';
import { call, type Grant } from '../api';
import { Button } from '../components/Button';
import { GrantDialog, GrantsTable, NoGrants } from '../components/Grants';
import { FilterSearch } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { ListTotal } from '../components/PagedTable';
import {
  clearSearchParams,
  usePaged,
  useQuery,
  useSearchBox,
  useSearchParam,
  useTitle,
} from '../lib/hooks';
import { grantableRoles } from '../lib/roles';

/**
 * Who has which role where: every grant, filtered on the server by user or group name, by
 * whether it is a user's or a group's, by role and by cluster (all kept in the address); grant
 * and revoke.
 */
export function AccessPage() {
  useTitle('Access');
  const who = useSearchBox('q');
  const [kind, setKind] = useSearchParam('kind');
  const [role, setRole] = useSearchParam('role');
  const [destination, setDestination] = useSearchParam('cluster');
  const [granting, setGranting] = useState(false);
  // Labels by id: a label wrapping a select would take in its options' text (cluster-admin).
  const ids = useId();
  const destinations = useQuery(() => call('listDestinations', { limit: 1000 }), []);
  const roles = grantableRoles([
    'admin',
    'view',
    ...(destinations.data?.items ?? []).flatMap((d) => d.roles),
  ]);
  const subjectKind = kind === 'user' || kind === 'group' ? kind : undefined;
  const grants = usePaged<Grant>(
    (after, signal) =>
      call(
        'listGrants',
        {
          search: who.value || undefined,
          kind: subjectKind,
          privilege: role || undefined,
          ...(destination === 'infra'
            ? { resource: 'infra' }
            : { destination: destination || undefined }),
          after,
          limit: 100,
        },
        { signal },
      ),
    [who.value, subjectKind, role, destination],
  );
  const filtered = Boolean(who.value || subjectKind || role || destination);

  return (
    <>
      <PageHeader
        title="Access"
        description="Who has which role where. Changes reach the clusters within a second."
        actions={
          <Button variant="primary" icon="plus" onClick={() => setGranting(true)}>
            Grant access
          </Button>
        }
      />
      <form className="toolbar filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <FilterSearch label="Who" box={who} placeholder="Email or group name" />
        <div className="inline-field">
          <label htmlFor={`${ids}-kind`}>Users or groups</label>
          <select
            id={`${ids}-kind`}
            value={subjectKind ?? ''}
            onChange={(e) => setKind(e.target.value)}
          >
            <option value="">Both</option>
            <option value="user">Users</option>
            <option value="group">Groups</option>
          </select>
        </div>
        <div className="inline-field">
          <label htmlFor={`${ids}-role`}>Role</label>
          <select id={`${ids}-role`} value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">All roles</option>
            {(roles.includes(role) || !role ? roles : [...roles, role]).map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <div className="inline-field">
          <label htmlFor={`${ids}-cluster`}>Cluster</label>
          <select
            id={`${ids}-cluster`}
            value={destination}
            onChange={(e) => setDestination(e.target.value)}
          >
            <option value="">All</option>
            {(destinations.data?.items ?? []).map((d) => (
              <option key={d.id} value={d.name}>
                {d.name}
              </option>
            ))}
            <option value="infra">Infra itself</option>
          </select>
        </div>
        {filtered && (
          <Button size="sm" variant="ghost" onClick={clearSearchParams}>
            Clear filters
          </Button>
        )}
      </form>
      <ListTotal list={grants} one="grant" filtered={filtered} />
      <GrantsTable
        caption="Grants"
        list={grants}
        empty={
          <NoGrants>
            {filtered
              ? 'No grant matches these filters.'
              : 'Nobody has access to anything yet. Use “Grant access” to give a user or group a role on a cluster or namespace.'}
          </NoGrants>
        }
      />
      {granting && (
        <GrantDialog
          destination={destination && destination !== 'infra' ? destination : undefined}
          onClose={() => setGranting(false)}
          onGranted={() => grants.refresh()}
        />
      )}
    </>
  );
}
