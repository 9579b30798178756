import { useEffect, useState } from 'react';
import { call, fieldError, formError, type Destination } from '../api';
import { Button } from '../components/Button';
import { CodeBlock, SecretValue } from '../components/Copy';
import { ConfirmDialog } from '../components/Dialog';
import { FormError, Notice } from '../components/Feedback';
import { Field } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { useSubmit, useTitle } from '../lib/hooks';
import { useToast } from '../components/Toast';
import { Link } from '../lib/router';
import { fingerprintToPin, serverUrl, useServerSettings } from '../lib/server';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

// The connector's manifests as deploy/connector ships them, built into the dashboard so the
// commands below recreate them anywhere: no checkout of Infra needed.
const MANIFESTS = import.meta.glob<string>('../../../deploy/connector/*.yaml', {
  query: '?raw',
  import: 'default',
  eager: true,
});

/** A shell line that writes `text` to `file` (a quoted heredoc: nothing in it is expanded). */
function writeFile(file: string, text: string): string {
  return `cat > ${file} <<'EOF'\n${text.trimEnd()}\nEOF`;
}

/** What the connector needs to find and trust this server. */
export interface ConnectTarget {
  name: string;
  key: string;
  serverUrl: string;
  /** The server certificate's fingerprint, to pin; undefined for a publicly trusted one. */
  fingerprint: string | undefined;
}

/**
 * The commands that start a connector for `name` with `key`, in tunnel mode (the connector dials
 * out, so the cluster needs no inbound route): in the cluster, a script that writes the
 * manifests and applies them with kustomize; or anywhere, the binary.
 */
export function connectorCommands({ name, key, serverUrl, fingerprint }: ConnectTarget) {
  const files = Object.entries(MANIFESTS).map(([file, text]) => ({
    file: file.slice(file.lastIndexOf('/') + 1),
    text,
  }));
  const env = [
    `INFRA_CONNECTOR_NAME=${name}`,
    `INFRA_CONNECTOR_SERVER_URL=${serverUrl}`,
    ...(fingerprint ? [`INFRA_CONNECTOR_SERVER_TRUSTED_FINGERPRINT=${fingerprint}`] : []),
    'INFRA_CONNECTOR_TUNNEL=true',
  ].join('\n');
  const kustomize = [
    `mkdir -p infra-connector-${name} && cd infra-connector-${name}`,
    ...files
      // Tunnel mode: nothing dials in, so no Service.
      .filter((f) => f.file !== 'service.yaml')
      .map((f) =>
        writeFile(
          f.file,
          f.file === 'kustomization.yaml'
            ? f.text.replace(/^\s*- service\.yaml\n/m, '').replace(/^(#.*\n)+/, '')
            : f.text,
        ),
      ),
    writeFile('connector.env', env),
    `printf '%s' '${key}' > access-key`,
    'kubectl apply -k .',
  ].join('\n');
  const binary = [
    `export CONNECTOR_ACCESS_KEY='${key}'`,
    `infra connector --name ${name} \\`,
    `  --server-url ${serverUrl} \\`,
    '  --server-access-key env:CONNECTOR_ACCESS_KEY \\',
    ...(fingerprint ? [`  --server-trusted-fingerprint ${fingerprint} \\`] : []),
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
  const [issued, setIssued] = useState<{ name: string; key: string; keyId: string }>();

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
      setIssued({ name, key: key.accessKey, keyId: key.id });
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
        <Issued
          name={issued.name}
          accessKey={issued.key}
          keyId={issued.keyId}
          onDiscarded={() => setIssued(undefined)}
        />
      )}
    </>
  );
}

function Issued({
  name,
  accessKey,
  keyId,
  onDiscarded,
}: {
  name: string;
  accessKey: string;
  keyId: string;
  onDiscarded: () => void;
}) {
  const [destination, setDestination] = useState<Destination>();
  const [pollError, setPollError] = useState(false);
  const [discarding, setDiscarding] = useState(false);
  const toast = useToast();
  const settings = useServerSettings();
  const fingerprint = fingerprintToPin(settings.data);
  const { kustomize, binary } = connectorCommands({
    name,
    key: accessKey,
    serverUrl: serverUrl(),
    fingerprint,
  });

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
            <p>
              Changed your mind? Delete the key rather than leave it unused (unused connector keys
              are also listed on the Clusters page).
            </p>
            <div>
              <Button variant="danger-ghost" icon="trash" onClick={() => setDiscarding(true)}>
                Delete this key
              </Button>
            </div>
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
          Paste these as they are: they carry this server’s address
          {fingerprint && (
            <>
              {' '}
              and the fingerprint of its certificate (<code>{fingerprint}</code>)
            </>
          )}
          . The connector dials out to this server (tunnel mode), so the cluster needs no inbound
          route.
        </p>
        <p>In the cluster, with kubectl (least privilege, in its own namespace):</p>
        <CodeBlock label="Install in the cluster (kustomize)" code={kustomize} />
        <p>Or anywhere that can reach the cluster's API, with an admin kubeconfig:</p>
        <CodeBlock label="Run outside the cluster" code={binary} />
      </section>
      {discarding && (
        <ConfirmDialog
          title="Delete the connector key?"
          confirmLabel="Delete key"
          onClose={() => setDiscarding(false)}
          onConfirm={async (signal) => {
            await call('deleteAccessKey', { id: keyId }, { signal });
            toast('Connector key deleted');
            onDiscarded();
          }}
        >
          A connector started with it can no longer register {name}.
        </ConfirmDialog>
      )}
    </div>
  );
}
