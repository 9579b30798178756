import { useState } from 'react';
import { call, fieldError, formError, type AccessKey, type Grant } from '../api';
import { Button } from '../components/Button';
import { SecretValue } from '../components/Copy';
import { ConfirmDialog, DoneDialog, FormDialog } from '../components/Dialog';
import { Badge, EmptyState, FormError, Notice } from '../components/Feedback';
import { Field } from '../components/Field';
import { GrantSubject } from '../components/Grants';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
import { PasswordPolicy, passwordChecks } from '../components/PasswordPolicy';
import { useToast } from '../components/Toast';
import { formatTime, timeAgo, timeLeft } from '../lib/format';
import { usePaged, useQuery, useSubmit, useTitle } from '../lib/hooks';
import { navigate } from '../lib/router';
import { useSession } from '../lib/session';

/** My password, my access keys, and (admins) who administers this server. */
export function SettingsPage() {
  useTitle('Settings');
  const { isAdmin } = useSession();
  return (
    <>
      <PageHeader title="Settings" description="Your password and access keys." />
      <ChangePassword />
      <AccessKeys />
      {isAdmin && <Admins />}
    </>
  );
}

function ChangePassword() {
  const { user } = useSession();
  const toast = useToast();
  const settings = useQuery(() => call('getSettings'), []);
  const [oldPassword, setOldPassword] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, submit } = useSubmit();
  const [touched, setTouched] = useState(false);
  const checks = passwordChecks(
    settings.data?.passwordRequirements,
    password,
    user?.name ?? '',
    confirm,
  );
  const general = formError(error, ['password', 'oldPassword']);
  return (
    <section className="card section stack" aria-labelledby="pw-title">
      <h2 id="pw-title">Change my password</h2>
      <form
        noValidate
        className="stack narrow"
        onSubmit={(e) => {
          e.preventDefault();
          setTouched(true);
          if (!checks.every((c) => c.ok)) return;
          submit(async (signal) => {
            await call('updateUser', { id: 'self', password, oldPassword }, { signal });
            setOldPassword('');
            setPassword('');
            setConfirm('');
            setTouched(false);
            toast('Password changed');
          });
        }}
      >
        <FormError title="Could not change the password" message={general} />
        <Field label="Current password" error={fieldError(error, 'oldPassword')}>
          <input
            type="password"
            autoComplete="current-password"
            value={oldPassword}
            onChange={(e) => setOldPassword(e.target.value)}
          />
        </Field>
        <Field label="New password" error={fieldError(error, 'password')}>
          <input
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <Field label="Confirm new password">
          <input
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        </Field>
        {(touched || password) && <PasswordPolicy checks={checks} />}
        <div>
          <Button type="submit" variant="primary" busy={busy}>
            Change password
          </Button>
        </div>
      </form>
    </section>
  );
}

const KEY_EXPIRIES = [
  ['24h', '1 day'],
  ['168h', '7 days'],
  ['720h', '30 days'],
  ['2160h', '90 days'],
  ['8760h', '1 year'],
] as const;

function AccessKeys() {
  const toast = useToast();
  const keys = usePaged<AccessKey>(
    (after, signal) => call('listAccessKeys', { userID: 'self', after, limit: 100 }, { signal }),
    [],
  );
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<AccessKey>();
  return (
    <section className="card section stack" aria-labelledby="keys-title">
      <div className="section-head">
        <h2 id="keys-title">My access keys</h2>
        <Button size="sm" icon="plus" onClick={() => setCreating(true)}>
          Create key
        </Button>
      </div>
      <p className="muted">
        Keys let scripts and CI call Infra as you: send one as <code>Authorization: Bearer</code> or
        exchange it with <code>infra login --key</code>. Your sign-ins are listed too.
      </p>
      <PagedTable
        list={keys}
        rowKey={(k) => k.id}
        caption="My access keys"
        noun="keys"
        errorTitle="Could not load your keys"
        empty={
          <EmptyState icon="key" title="No access keys">
            Create one for a script or a CI job.
          </EmptyState>
        }
        columns={[
          {
            header: 'Name',
            cell: (k) => (
              <>
                <code>{k.name}</code>
                {k.issuedVia === 'password' && <span className="muted"> (sign-in)</span>}
                {k.current && (
                  <>
                    {' '}
                    <Badge tone="green">this session</Badge>
                  </>
                )}
              </>
            ),
          },
          { header: 'Created', cell: (k) => formatTime(k.created) },
          {
            header: 'Last used',
            cell: (k) => (k.lastUsed ? timeAgo(k.lastUsed) : <span className="muted">never</span>),
          },
          {
            header: 'Expires',
            title: (k) => formatTime(k.expires),
            cell: (k) => `in ${timeLeft(k.expires)}`,
          },
          {
            actions: true,
            cell: (k) => (
              <Button
                size="sm"
                variant="danger-ghost"
                aria-label={`Revoke ${k.name}`}
                onClick={() => setRevoking(k)}
              >
                Revoke
              </Button>
            ),
          },
        ]}
      />
      {creating && (
        <CreateKeyDialog
          onClose={() => setCreating(false)}
          onCreated={(k) => keys.setItems((items) => [k, ...items])}
        />
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoking(undefined)}
          onConfirm={async (signal) => {
            await call('deleteAccessKey', { id: revoking.id }, { signal });
            keys.setItems((items) => items.filter((k) => k.id !== revoking.id));
            toast('Key revoked');
            if (revoking.current) navigate('/login', { replace: true });
          }}
        >
          {revoking.current ? (
            <Notice kind="warning">
              <strong>This is the session you are using.</strong> You are signed out of this browser
              at once.
            </Notice>
          ) : (
            'Anything using this key stops working at once.'
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}

function CreateKeyDialog({
  onClose,
  onCreated,
}: {
  onClose: () => void;
  onCreated: (k: AccessKey) => void;
}) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState<string>('720h');
  const { busy, error, submit } = useSubmit();
  const [secret, setSecret] = useState<string>();
  if (secret) {
    return (
      <DoneDialog title="Key created" onClose={onClose}>
        <SecretValue label="Access key" value={secret} />
        <Notice kind="warning">
          Copy it now: it is shown only once. Anyone with it can act as you until it expires.
        </Notice>
      </DoneDialog>
    );
  }
  const general = formError(error, ['name', 'expiry']);
  return (
    <FormDialog
      title="Create an access key"
      onClose={onClose}
      onSubmit={() =>
        submit(async (signal) => {
          const { accessKey, ...key } = await call(
            'createAccessKey',
            { name: name || undefined, expiry },
            { signal },
          );
          onCreated(key);
          setSecret(accessKey);
        })
      }
      submitLabel="Create key"
      busy={busy}
    >
      <FormError title="Could not create the key" message={general} />
      <Field
        label="Name"
        optional
        hint="Letters, digits, . _ and -, such as ci-deploy"
        error={fieldError(error, 'name')}
      >
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      </Field>
      <Field label="Expires after" error={fieldError(error, 'expiry')}>
        <select value={expiry} onChange={(e) => setExpiry(e.target.value)}>
          {KEY_EXPIRIES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </Field>
    </FormDialog>
  );
}

/** Who holds `admin` on infra; grant it by email, revoke it (warning when it is you). */
function Admins() {
  const { user: me, reload: reloadSession } = useSession();
  const toast = useToast();
  const admins = usePaged<Grant>(
    (after, signal) =>
      call('listGrants', { resource: 'infra', privilege: 'admin', after, limit: 100 }, { signal }),
    [],
  );
  const [email, setEmail] = useState('');
  const { busy, error, submit } = useSubmit();
  const [revoking, setRevoking] = useState<Grant>();
  const isSelf = (g: Grant) => g.user !== undefined && g.user === me?.id;

  return (
    <section className="card section stack" aria-labelledby="admins-title">
      <h2 id="admins-title">Admins</h2>
      <p className="muted">
        Admins manage everything here: users, groups, access, clusters and keys.
      </p>
      <form
        noValidate
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          submit(async (signal) => {
            await call(
              'createGrant',
              { userName: email.trim(), privilege: 'admin', resource: 'infra' },
              { signal },
            );
            setEmail('');
            admins.refresh();
            toast('Admin added');
          });
        }}
      >
        <Field
          label="Make a user admin"
          error={fieldError(error, 'userName') ?? formError(error, ['userName'])}
        >
          <input
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            placeholder="alice@example.com"
            autoComplete="off"
          />
        </Field>
        <Button type="submit" busy={busy} disabled={!email.trim()}>
          Make admin
        </Button>
      </form>
      <PagedTable
        list={admins}
        rowKey={(g) => g.id}
        caption="Admins"
        noun="admins"
        errorTitle="Could not load the admins"
        skeletonRows={2}
        columns={[
          {
            cell: (g) => (
              <>
                <GrantSubject grant={g} />
                {isSelf(g) && <span className="muted"> (you)</span>}
              </>
            ),
          },
          {
            actions: true,
            cell: (g) =>
              g.managedBy === 'api' ? (
                <Button
                  size="sm"
                  variant="danger-ghost"
                  aria-label={`Revoke admin from ${g.userName ?? g.groupName ?? ''}`}
                  onClick={() => setRevoking(g)}
                >
                  Revoke admin
                </Button>
              ) : (
                <span className="muted">from config</span>
              ),
          },
        ]}
      />
      {revoking && (
        <ConfirmDialog
          title={isSelf(revoking) ? 'Remove your own admin role?' : 'Revoke admin?'}
          confirmLabel="Revoke admin"
          onClose={() => setRevoking(undefined)}
          onConfirm={async (signal) => {
            await call('deleteGrant', { id: revoking.id }, { signal });
            admins.setItems((items) => items.filter((g) => g.id !== revoking.id));
            toast('Admin role revoked');
            if (isSelf(revoking)) reloadSession();
          }}
        >
          {isSelf(revoking) ? (
            <Notice kind="warning">
              <strong>This is you.</strong> Unless a group gives you admin too, you lose access to
              these settings, users, groups and access at once, and another admin must give it back.
            </Notice>
          ) : (
            <>
              <strong>{revoking.userName ?? revoking.groupName}</strong> will no longer be able to
              manage Infra.
            </>
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}
