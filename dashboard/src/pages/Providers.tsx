import { useState } from 'react';
import { call, fieldError, formError, type Input, type Output } from '../api';
import { Button } from '../components/Button';
import { CopyButton } from '../components/Copy';
import { ConfirmDialog, DoneDialog, FormDialog } from '../components/Dialog';
import { Badge, EmptyState, FormError, Notice } from '../components/Feedback';
import { Field } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
import { useToast } from '../components/Toast';
import { formatDate } from '../lib/format';
import { usePaged, useQuery, useSubmit, useTitle } from '../lib/hooks';

type Provider = Output<'listProviders'>['items'][number];
type ProviderDetails = Output<'getProvider'>;
type Kind = Provider['kind'];

export const KINDS: Record<Kind, { label: string; urlHint: string; urlPlaceholder: string }> = {
  okta: {
    label: 'Okta',
    urlHint: 'Your Okta domain, such as https://acme.okta.com',
    urlPlaceholder: 'https://acme.okta.com',
  },
  azure: {
    label: 'Azure AD',
    urlHint: 'https://login.microsoftonline.com/<tenant id>/v2.0',
    urlPlaceholder: 'https://login.microsoftonline.com/…/v2.0',
  },
  google: {
    label: 'Google',
    urlHint: 'Google’s issuer: https://accounts.google.com',
    urlPlaceholder: 'https://accounts.google.com',
  },
  oidc: {
    label: 'Generic OIDC',
    urlHint: 'The issuer; discovery is read from <url>/.well-known/openid-configuration',
    urlPlaceholder: 'https://id.example.com',
  },
};

/** The redirect URIs to register with a provider, before the server returns its own list. */
export function redirectURIs(origin = window.location.origin): string[] {
  return [`${origin}/login/callback`, 'http://127.0.0.1/callback'];
}

function RedirectURIs({ uris }: { uris: string[] }) {
  return (
    <div className="redirects">
      <p>Register these redirect URIs with the provider:</p>
      <ul>
        {uris.map((u) => (
          <li key={u}>
            <code>{u}</code> <CopyButton text={u} />
            <span className="muted">
              {u.endsWith('/login/callback') ? ' for this dashboard' : ' for the CLI (any port)'}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

const NO_REFRESH_TOKEN =
  'issued no refresh token: groups and removal upstream reach them only when they sign in again';

/** How many users came through a provider, and a warning for those Infra cannot keep current. */
function LinkedUsers({ id }: { id: string }) {
  const details = useQuery((signal) => call('getProvider', { id }, { signal }), [id]);
  const d = details.data;
  if (!d) return null;
  return (
    <>
      {d.linkedUsers}{' '}
      {d.usersWithoutRefreshToken > 0 && (
        <Badge tone="amber" title={`The provider ${NO_REFRESH_TOKEN}`}>
          {d.usersWithoutRefreshToken} without refresh token
        </Badge>
      )}
    </>
  );
}

/** Identity providers: people sign in with Okta, Azure AD, Google or any OIDC provider. */
export function ProvidersPage() {
  useTitle('Providers');
  const toast = useToast();
  const list = usePaged<Provider>(
    (after, signal) => call('listProviders', { after, limit: 100 }, { signal }),
    [],
  );
  const [editing, setEditing] = useState<Provider | 'new'>();
  const [removing, setRemoving] = useState<Provider>();
  const add = (
    <Button variant="primary" icon="plus" onClick={() => setEditing('new')}>
      Add provider
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Identity providers"
        description="Let people sign in with your company’s identity provider; their groups come along."
        actions={add}
      />
      <PagedTable
        list={list}
        rowKey={(p) => p.id}
        caption="Identity providers"
        noun="providers"
        errorTitle="Could not load the providers"
        empty={
          <EmptyState icon="key" title="No identity providers" action={add}>
            People sign in with passwords for now. Add Okta, Azure AD, Google or another OIDC
            provider to use company accounts.
          </EmptyState>
        }
        columns={[
          {
            header: 'Name',
            className: 'strong',
            cell: (p) => (
              <>
                {p.name} {p.managedBy === 'config' && <Badge>config</Badge>}
              </>
            ),
          },
          { header: 'Kind', cell: (p) => KINDS[p.kind].label },
          { header: 'Issuer', className: 'wrap', cell: (p) => <code>{p.url}</code> },
          { header: 'Users', cell: (p) => <LinkedUsers id={p.id} /> },
          { header: 'Added', cell: (p) => formatDate(p.created) },
          {
            actions: true,
            cell: (p) =>
              p.managedBy === 'api' && (
                <>
                  <Button size="sm" aria-label={`Edit ${p.name}`} onClick={() => setEditing(p)}>
                    Edit
                  </Button>
                  <Button
                    size="sm"
                    variant="danger-ghost"
                    aria-label={`Remove ${p.name}`}
                    onClick={() => setRemoving(p)}
                  >
                    Remove
                  </Button>
                </>
              ),
          },
        ]}
      />
      {editing && (
        <ProviderDialog
          existing={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => list.refresh()}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.name}?`}
          confirmLabel="Remove provider"
          onClose={() => setRemoving(undefined)}
          onConfirm={async (signal) => {
            await call('deleteProvider', { id: removing.id }, { signal });
            list.setItems((items) => items.filter((p) => p.id !== removing.id));
            toast(`${removing.name} removed`);
          }}
        >
          People can no longer sign in through {removing.name}: their sessions end now, and the
          groups it synced are dropped (with the access those groups gave).
        </ConfirmDialog>
      )}
    </>
  );
}

/** Add (kind, then fields) or edit a provider; after saving shows the redirect URIs. */
function ProviderDialog({
  existing,
  onClose,
  onSaved,
}: {
  existing?: Provider;
  onClose: () => void;
  onSaved: () => void;
}) {
  const toast = useToast();
  const details = useQuery(
    async (signal) => (existing ? call('getProvider', { id: existing.id }, { signal }) : undefined),
    [existing?.id],
  );
  const [kind, setKind] = useState<Kind>(existing?.kind ?? 'okta');
  const [name, setName] = useState(existing?.name ?? '');
  const [url, setUrl] = useState(existing?.url ?? '');
  const [clientID, setClientID] = useState(existing?.clientID ?? '');
  const [clientSecret, setClientSecret] = useState('');
  const [apiURL, setApiURL] = useState('');
  const [domainAdminEmail, setDomainAdminEmail] = useState('');
  const [serviceAccountKey, setServiceAccountKey] = useState('');
  const { busy, error, submit } = useSubmit();
  const [saved, setSaved] = useState<ProviderDetails>();

  if (saved) {
    return (
      <DoneDialog title={existing ? 'Provider saved' : 'Provider added'} onClose={onClose}>
        <p>
          People can now choose <strong>{saved.name}</strong> on the sign-in page.
        </p>
        <RedirectURIs uris={saved.redirectURIs} />
      </DoneDialog>
    );
  }

  const save = async (signal: AbortSignal) => {
    const fields: Omit<Input<'createProvider'>, 'clientSecret'> & { clientSecret?: string } = {
      name: name.trim(),
      kind,
      url: url.trim(),
      clientID: clientID.trim(),
      clientSecret: clientSecret || undefined,
      apiURL: apiURL.trim() || undefined,
      domainAdminEmail: kind === 'google' ? domainAdminEmail.trim() || undefined : undefined,
      serviceAccountKey: kind === 'google' ? serviceAccountKey || undefined : undefined,
    };
    const result = existing
      ? await call('updateProvider', { id: existing.id, ...fields }, { signal })
      : await call('createProvider', fields as Input<'createProvider'>, { signal });
    onSaved();
    toast(existing ? 'Provider saved' : 'Provider added');
    setSaved(result);
  };
  const shown = [
    'name',
    'kind',
    'url',
    'clientID',
    'clientSecret',
    'apiURL',
    'domainAdminEmail',
    'serviceAccountKey',
  ];
  // A failed discovery says, on the url field, why the issuer did not answer.
  const general = formError(error, shown);
  const d = details.data;
  return (
    <FormDialog
      title={existing ? `Edit ${existing.name}` : 'Add an identity provider'}
      onClose={onClose}
      onSubmit={() => submit(save)}
      submitLabel={existing ? 'Save' : 'Add provider'}
      busy={busy}
      size="lg"
    >
      {d && d.usersWithoutRefreshToken > 0 && (
        <Notice kind="warning">
          {`For ${d.usersWithoutRefreshToken} of its ${d.linkedUsers} users, ${d.name} ${NO_REFRESH_TOKEN}. `}
          Ask for the offline_access scope, and allow refresh tokens for this client at the
          provider.
        </Notice>
      )}
      {!existing && (
        <fieldset className="kind-picker">
          <legend>Provider</legend>
          {(Object.keys(KINDS) as Kind[]).map((k) => (
            <label key={k} className={`kind-option${kind === k ? ' selected' : ''}`}>
              <input
                type="radio"
                name="provider-kind"
                value={k}
                checked={kind === k}
                onChange={() => setKind(k)}
              />
              {KINDS[k].label}
            </label>
          ))}
        </fieldset>
      )}
      <FormError title="Could not save the provider" message={general} />
      <RedirectURIs uris={d?.redirectURIs ?? redirectURIs()} />
      <div className="grid-2">
        <Field
          label="Name"
          hint="Shown on the sign-in button: okta, google…"
          error={fieldError(error, 'name')}
        >
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Issuer URL" hint={KINDS[kind].urlHint} error={fieldError(error, 'url')}>
          <input
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder={KINDS[kind].urlPlaceholder}
            autoComplete="off"
          />
        </Field>
        <Field label="Client ID" error={fieldError(error, 'clientID')}>
          <input
            value={clientID}
            onChange={(e) => setClientID(e.target.value)}
            autoComplete="off"
          />
        </Field>
        <Field
          label="Client secret"
          optional={existing !== undefined}
          hint={
            existing
              ? d?.clientSecretRef
                ? `Read from ${d.clientSecretRef}; leave empty to keep it`
                : 'Leave empty to keep the current secret'
              : 'Stored encrypted; never shown again'
          }
          error={fieldError(error, 'clientSecret') ?? fieldError(error, 'clientSecretRef')}
        >
          <input
            type="password"
            value={clientSecret}
            onChange={(e) => setClientSecret(e.target.value)}
            autoComplete="new-password"
          />
        </Field>
        {(kind === 'azure' || kind === 'google') && (
          <Field
            label={kind === 'azure' ? 'Microsoft Graph URL' : 'Directory API URL'}
            optional
            hint="Where group memberships are read; the default suits most"
            error={fieldError(error, 'apiURL')}
          >
            <input
              value={apiURL}
              onChange={(e) => setApiURL(e.target.value)}
              placeholder={d?.apiURL ?? ''}
            />
          </Field>
        )}
        {kind === 'google' && (
          <>
            <Field
              label="Workspace admin email"
              optional
              hint="The service account reads groups as this admin"
              error={fieldError(error, 'domainAdminEmail')}
            >
              <input
                type="email"
                value={domainAdminEmail}
                onChange={(e) => setDomainAdminEmail(e.target.value)}
                placeholder={d?.domainAdminEmail ?? ''}
              />
            </Field>
            <Field
              label="Service account key (JSON)"
              optional
              hint={
                d?.serviceAccountKeySet
                  ? 'A key is set; leave empty to keep it'
                  : 'Stored encrypted'
              }
              error={fieldError(error, 'serviceAccountKey')}
            >
              <textarea
                rows={3}
                value={serviceAccountKey}
                onChange={(e) => setServiceAccountKey(e.target.value)}
              />
            </Field>
          </>
        )}
      </div>
    </FormDialog>
  );
}
