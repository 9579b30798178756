import { GetThere, MyAccessTable, useMyGrants } from '../components/MyAccess';
import { PageHeader } from '../components/Layout';
import { useTitle } from '../lib/hooks';

/** What the signed-in person may reach, how it comes to them, and the commands to get there. */
export function MyAccessPage() {
  useTitle('My access');
  const grants = useMyGrants();
  const first = grants.items.find((g) => g.resource !== 'infra');
  return (
    <>
      <PageHeader
        title="My access"
        description="The clusters and namespaces you may reach, with which role, through which grant or group, and until when."
      />
      <MyAccessTable list={grants} caption="My access" />
      <section className="section stack">
        <h2>Get there</h2>
        <p>
          Install the <code>infra</code> CLI, then log in to this server once.{' '}
          <code>infra use</code> points kubectl at a cluster (or one of its namespaces);{' '}
          <code>infra list</code> shows them all.
        </p>
        <GetThere resource={first?.resource} />
      </section>
    </>
  );
}
