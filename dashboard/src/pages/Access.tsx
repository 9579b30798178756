import { useState } from 'react';
import { call, type Grant } from '../api';
import { Button } from '../components/Button';
import { GrantDialog, GrantsTable, NoGrants } from '../components/Grants';
import { PageHeader } from '../components/Layout';
import { usePaged, useQuery, useTitle } from '../lib/hooks';

/** Who has which role where: every grant, filterable by cluster; grant and revoke. */
export function AccessPage() {
  useTitle('Access');
  const [destination, setDestination] = useState('');
  const [granting, setGranting] = useState(false);
  const destinations = useQuery(() => call('listDestinations', { limit: 1000 }), []);
  const grants = usePaged<Grant>(
    (after, signal) =>
      call(
        'listGrants',
        destination === 'infra'
          ? { resource: 'infra', after, limit: 100 }
          : { destination: destination || undefined, after, limit: 100 },
        { signal },
      ),
    [destination],
  );

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
      <div className="toolbar">
        <label className="inline-field">
          <span>Cluster</span>
          <select value={destination} onChange={(e) => setDestination(e.target.value)}>
            <option value="">All</option>
            {(destinations.data?.items ?? []).map((d) => (
              <option key={d.id} value={d.name}>
                {d.name}
              </option>
            ))}
            <option value="infra">Infra itself</option>
          </select>
        </label>
      </div>
      <GrantsTable
        caption="Grants"
        list={grants}
        empty={
          <NoGrants>
            {destination
              ? `Nobody has a role on ${destination} yet.`
              : 'Nobody has access to anything yet.'}{' '}
            Use “Grant access” to give a user or group a role on a cluster or namespace.
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
