import { useEffect, useState } from 'react';
import { call, fieldError, formError, type Destination } from '../api';
import { Button } from '../components/Button';
import { CodeBlock, SecretValue } from '../components/Copy';
import { FormError, Notice } from '../components/Feedback';
import { Field } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { useSubmit, useTitle } from '../lib/hooks';
import { Link } from '../lib/router';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** The commands that start a connector for `name` with `key`, in the cluster and outside it. */
export function connectorCommands(name: string, key: string, serverUrl: string) {
  const kustomize = [
    '# from a checkout of Infra (or a copy of its deploy/connector directory)',
    'cd deploy/connector',
    `sed -i 's|^INFRA_CONNECTOR_NAME=.*|INFRA_CONNECTOR_NAME=${name}|' connector.env`,
    `sed -i 's|^INFRA_CONNECTOR_SERVER_URL=.*|INFRA_CONNECTOR_SERVER_URL=${serverUrl}|' connector.env`,
    '# tunnel mode: the connector dials out to this server, the cluster needs no inbound route',
    "sed -i 's|^INFRA_CONNECTOR_ENDPOINT=.*|INFRA_CONNECTOR_TUNNEL=true|' connector.env",
    '# set INFRA_CONNECTOR_SERVER_TRUSTED_FINGERPRINT (the server logs it at start) in connector.env',
    '# too; do not apply service.yaml (kubectl -k applies it: remove it from kustomization.yaml)',
    `printf '%s' '${key}' > access-key`,
    'kubectl apply -k .',
  ].join('\n');
  const binary = [
    `export CONNECTOR_ACCESS_KEY='${key}'`,
    `infra connector --name ${name} \\`,
    `  --server-url ${serverUrl} \\`,
    '  --server-access-key env:CONNECTOR_ACCESS_KEY \\',
    '  --server-trusted-fingerprint <the fingerprint the server logged at start> \\',
    '  --kubeconfig ~/.kube/config --tunnel',
  ].join('\n');
  return { kustomize, binary };
}

/**
 * Connecting a cluster: a name, then a key of the `connector` system user and the exact
 * commands to run; the page waits for the connector to register and turns green.
 */
export function ConnectClusterPage() {
  useTitle('Connect a cluster');
  const [name, setName] = useState('');
  const { busy, error, submit } = useSubmit();
  const [localError, setLocalError] = useState<string>();
  const [issued, setIssued] = useState<{ name: string; key: string }>();

  const create = () => {
    if (!NAME.test(name)) {
      setLocalError('Use 1-63 letters, digits, - or _, starting with a letter or digit.');
      return;
    }
    setLocalError(undefined);
    submit(async (signal) => {
      const users = await call('listUsers', { name: 'connector', showSystem: true }, { signal });
      const connector = users.items[0];
      if (!connector) throw new Error('The connector system user is missing on this server.');
      const key = await call(
        'createAccessKey',
        {
          userID: connector.id,
          name: `${name}-connector-${Date.now().toString(36)}`,
          expiry: '8760h',
          // The key may register this cluster and no other.
          destination: name,
        },
        { signal },
      );
      setIssued({ name, key: key.accessKey });
    });
  };

  return (
    <>
      <PageHeader
        back={{ to: '/clusters', label: 'Clusters' }}
        title="Connect a cluster"
        description="Run Infra's connector in the cluster. It registers the cluster, keeps RBAC in line with the grants, and is the proxy kubectl talks to."
      />
      {!issued ? (
        <form
          noValidate
          className="card stack narrow"
          onSubmit={(e) => {
            e.preventDefault();
            create();
          }}
        >
          <h2>Name the cluster</h2>
          <FormError
            title="Could not create the connector key"
            message={formError(error, ['name'])}
          />
          <Field
            label="Cluster name"
            hint="Grants use it: prod, or prod.web for a namespace. Letters, digits, - and _."
            error={localError ?? fieldError(error, 'name')}
          >
            <input
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="prod"
              autoComplete="off"
              autoFocus
            />
          </Field>
          <div>
            <Button type="submit" variant="primary" busy={busy}>
              Create connector key
            </Button>
          </div>
        </form>
      ) : (
        <Issued name={issued.name} accessKey={issued.key} />
      )}
    </>
  );
}

function Issued({ name, accessKey }: { name: string; accessKey: string }) {
  const [destination, setDestination] = useState<Destination>();
  const [pollError, setPollError] = useState(false);
  const { kustomize, binary } = connectorCommands(name, accessKey, window.location.origin);

  // Wait for the connector to register: one light query every few seconds until it shows up.
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const page = await call('listDestinations', { name, limit: 1 });
        if (!live) return;
        setPollError(false);
        const found = page.items[0];
        setDestination(found);
        if (found?.connected) return;
      } catch {
        if (live) setPollError(true);
      }
      if (live) timer = setTimeout(poll, 3000);
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [name]);

  const connected = destination?.connected === true;
  return (
    <div className="stack">
      <section
        className={`card status-card ${connected ? 'status-ok' : 'status-wait'}`}
        aria-live="polite"
        data-testid="connect-status"
      >
        {connected ? (
          <>
            <h2>Connected</h2>
            <p>
              <strong>{name}</strong> registered with {destination.namespaces.length} namespaces and{' '}
              {destination.roles.length} roles.
            </p>
            <div className="row">
              <Link to={`/clusters/${destination.id}`} className="btn btn-primary">
                Open {name}
              </Link>
              <Link to="/access" className="btn btn-secondary">
                Grant access
              </Link>
            </div>
          </>
        ) : (
          <>
            <h2>
              <span className="spinner" aria-hidden="true" /> Waiting for {name} to connect…
            </h2>
            <p className="muted">
              {destination
                ? 'The cluster registered before but its connector is not in touch yet.'
                : 'This turns green when the connector registers. It usually takes a few seconds after it starts.'}
              {pollError && ' (The server did not answer the last check; still trying.)'}
            </p>
          </>
        )}
      </section>
      <section className="card stack">
        <h2>Keep the connector's key</h2>
        <SecretValue label="Connector access key" value={accessKey} />
        <Notice kind="warning">
          This key is shown only now. It lets a connector register clusters: keep it in a secret,
          never in a repository.
        </Notice>
      </section>
      <section className="card stack">
        <h2>Run the connector</h2>
        <p>
          In the cluster, with the manifests in deploy/connector (least privilege, own namespace):
        </p>
        <CodeBlock label="Install in the cluster (kustomize)" code={kustomize} />
        <p>Or anywhere that can reach the cluster's API, with an admin kubeconfig:</p>
        <CodeBlock label="Run outside the cluster" code={binary} />
      </section>
    </div>
  );
}
