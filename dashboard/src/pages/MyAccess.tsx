import { GetThere, MyAccessTable, useMyGrants, useSshHosts } from '../components/MyAccess';
import { PageHeader } from '../components/Layout';
import { useTitle } from '../lib/hooks';

/** What the signed-in person may reach, how it comes to them, and the commands to get there. */
export function MyAccessPage() {
  useTitle('My access');
  const grants = useMyGrants();
  const sshHosts = useSshHosts();
  const first = grants.items.find((g) => g.resource !== 'infra');
  return (
    <>
      <PageHeader
        title="My access"
        description="The clusters and namespaces you may reach, with which role, through which grant or group, and until when."
      />
      <MyAccessTable list={grants} caption="My access" sshHosts={sshHosts} />
      <section className="section stack">
        <h2>Get there</h2>
        <p>
          Install the <code>infra</code> CLI, then log in to this server once.{' '}
          <code>infra use</code> points kubectl at a cluster (or one of its namespaces);{' '}
          <code>infra list</code> shows them all. <code>infra ssh</code> logs you in to an SSH host.
        </p>
        <GetThere resource={first?.resource} />
      </section>
    </>
  );
}
