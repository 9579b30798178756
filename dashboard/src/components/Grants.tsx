import { useId, useState, type ReactNode } from 'react';
import { call, fieldError, formError, type Destination, type Grant } from '../api';
import { formatTime, timeLeft } from '../lib/format';
import { useQuery, useSubmit, type Paged } from '../lib/hooks';
import { grantableRoles, INFRA_ROLES, roleDescription, splitResource } from '../lib/roles';
import { Link } from '../lib/router';
import { useSession } from '../lib/session';
import { Button } from './Button';
import { ConfirmDialog, FormDialog } from './Dialog';
import { Badge, EmptyState, ErrorNotice, FormError, Notice } from './Feedback';
import { Field } from './Field';
import { PagedTable, type Column } from './PagedTable';
import { useToast } from './Toast';

/** Who a grant is for, linked to the user or group page. */
export function GrantSubject({ grant }: { grant: Grant }) {
  if (grant.group) {
    return (
      <Link to={`/groups/${grant.group}`} className="subject">
        <Badge tone="blue">group</Badge> {grant.groupName ?? grant.group}
      </Link>
    );
  }
  return (
    <Link to={`/users/${grant.user ?? ''}`} className="subject">
      {grant.userName ?? grant.user}
    </Link>
  );
}

/** Where a grant applies: `infra`, a cluster, or a namespace of one. */
export function GrantResource({ resource }: { resource: string }) {
  if (resource === 'infra') return <span>Infra (this server)</span>;
  const { destination, namespace } = splitResource(resource);
  return (
    <span>
      {destination}
      {namespace ? (
        <span className="muted"> / namespace {namespace}</span>
      ) : (
        <span className="muted"> (whole cluster)</span>
      )}
    </span>
  );
}

export function Expiry({ expiresAt }: { expiresAt: string | null }) {
  if (!expiresAt) return <span className="muted">never</span>;
  const left = timeLeft(expiresAt);
  return (
    <Badge tone={left === 'expired' ? 'red' : 'amber'} title={formatTime(expiresAt)}>
      {left === 'expired' ? 'expired' : `${left} left`}
    </Badge>
  );
}

/**
 * A list of grants with a revoke button on each (after a confirmation). `hideSubject` leaves
 * out who the grants are for when the page makes it obvious (a group's page).
 */
export function GrantsTable({
  list,
  hideSubject = false,
  empty,
  caption,
}: {
  list: Paged<Grant>;
  hideSubject?: boolean;
  empty: ReactNode;
  caption: string;
}) {
  const [revoking, setRevoking] = useState<Grant>();
  const toast = useToast();
  const { user: me, reload: reloadSession } = useSession();
  const isMine = (g: Grant) => g.user !== undefined && g.user === me?.id;
  const isAdminGrant = (g: Grant) => g.resource === 'infra' && g.privilege === 'admin';
  const columns: Array<Column<Grant>> = [
    { header: 'Who', cell: (g) => <GrantSubject grant={g} /> },
    {
      header: 'Role',
      cell: (g) => (
        <span className="role" title={roleDescription(g.privilege)}>
          {g.privilege}
        </span>
      ),
    },
    { header: 'Where', cell: (g) => <GrantResource resource={g.resource} /> },
    { header: 'Expires', cell: (g) => <Expiry expiresAt={g.expiresAt} /> },
    {
      actions: true,
      cell: (g) =>
        g.managedBy === 'api' ? (
          <Button
            size="sm"
            variant="danger-ghost"
            icon="trash"
            onClick={() => setRevoking(g)}
            aria-label={`Revoke ${g.privilege} on ${g.resource} from ${g.userName ?? g.groupName ?? ''}`}
          >
            Revoke
          </Button>
        ) : (
          <span className="muted" title="Declared in the server's config file">
            from config
          </span>
        ),
    },
  ];
  return (
    <>
      <PagedTable
        list={list}
        rowKey={(g) => g.id}
        caption={caption}
        noun="grants"
        errorTitle="Could not load the grants"
        empty={empty}
        columns={hideSubject ? columns.slice(1) : columns}
      />
      {revoking && (
        <ConfirmDialog
          title={
            isMine(revoking) && isAdminGrant(revoking)
              ? 'Remove your own admin role?'
              : revoking.group
                ? `Revoke access from every member of ${revoking.groupName ?? 'the group'}?`
                : 'Revoke access?'
          }
          confirmLabel="Revoke"
          onClose={() => setRevoking(undefined)}
          onConfirm={async (signal) => {
            await call('deleteGrant', { id: revoking.id }, { signal });
            list.setItems((items) => items.filter((g) => g.id !== revoking.id));
            toast('Access revoked');
            if (isMine(revoking) && isAdminGrant(revoking)) reloadSession();
          }}
        >
          {isMine(revoking) && isAdminGrant(revoking) && (
            <Notice kind="warning">
              <strong>This is you.</strong> You will lose admin: unless a group gives it to you too,
              users, groups, access and settings close to you at once, and another admin must give
              it back.
            </Notice>
          )}
          {revoking.group && (
            <Notice kind="warning">
              This grant is the group’s: <strong>every member</strong> of{' '}
              <strong>{revoking.groupName}</strong> loses it, not only the person whose page this
              is.
            </Notice>
          )}
          <p>
            <strong>{revoking.userName ?? revoking.groupName}</strong> will lose the{' '}
            <strong>{revoking.privilege}</strong> role on{' '}
            <strong>
              <GrantResource resource={revoking.resource} />
            </strong>{' '}
            within a second. Their access through other grants stays.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

const EXPIRIES: Array<[label: string, ms: number | undefined]> = [
  ['Never', undefined],
  ['1 hour', 3_600_000],
  ['8 hours', 8 * 3_600_000],
  ['1 day', 86_400_000],
  ['7 days', 7 * 86_400_000],
  ['30 days', 30 * 86_400_000],
];

export type GrantSubjectFixed = { kind: 'user' | 'group'; id: string; name: string };

/**
 * Grants a role: who (unless fixed by the page), which cluster and namespace, which of the
 * cluster's roles (each with a sentence on what it allows), and for how long.
 */
export function GrantDialog({
  subject,
  destination: fixedDestination,
  onClose,
  onGranted,
}: {
  subject?: GrantSubjectFixed;
  destination?: string;
  onClose: () => void;
  onGranted: (grant: Grant) => void;
}) {
  const toast = useToast();
  const ids = useId();
  const destinations = useQuery(() => call('listDestinations', { limit: 1000 }), []);
  const people = useQuery(
    async () =>
      subject
        ? undefined
        : Promise.all([call('listUsers', { limit: 1000 }), call('listGroups', { limit: 1000 })]),
    [],
  );
  const [kind, setKind] = useState<'user' | 'group'>('user');
  const [who, setWho] = useState('');
  const [target, setTarget] = useState(fixedDestination ?? '');
  const [namespace, setNamespace] = useState('');
  const [role, setRole] = useState('');
  const [expiry, setExpiry] = useState(0);
  const { busy, error, submit } = useSubmit();
  const [existing, setExisting] = useState<Grant>();

  const list: Destination[] = destinations.data?.items ?? [];
  const dest = list.find((d) => d.name === target);
  const roles =
    target === 'infra' ? INFRA_ROLES.map((r) => r.role) : grantableRoles(dest?.roles ?? []);
  const describe = (r: string) =>
    target === 'infra'
      ? (INFRA_ROLES.find((x) => x.role === r)?.description ?? '')
      : roleDescription(r);

  const grant = async (signal: AbortSignal) => {
    const ms = EXPIRIES[expiry]?.[1];
    const resource = target === 'infra' || !namespace ? target : `${target}.${namespace}`;
    const subjectFields = subject
      ? subject.kind === 'user'
        ? { user: subject.id }
        : { group: subject.id }
      : kind === 'user'
        ? { userName: who }
        : { groupName: who };
    const created = await call(
      'createGrant',
      {
        ...subjectFields,
        privilege: role,
        resource,
        expiresAt: ms ? new Date(Date.now() + ms).toISOString() : undefined,
      },
      { signal },
    );
    if (!created.wasCreated) {
      // Nothing changed (and nothing was logged): say so, and leave the dialog open to change it.
      setExisting(created);
      return;
    }
    onGranted(created);
    toast('Access granted');
    onClose();
  };

  const general = formError(error, [
    'userName',
    'groupName',
    'user',
    'group',
    'privilege',
    'resource',
    'expiresAt',
  ]);
  const subjectError =
    fieldError(error, 'userName') ??
    fieldError(error, 'groupName') ??
    fieldError(error, 'user') ??
    fieldError(error, 'group');

  return (
    <FormDialog
      title={subject ? `Grant access to ${subject.name}` : 'Grant access'}
      onClose={onClose}
      onSubmit={() => {
        setExisting(undefined);
        submit(grant);
      }}
      submitLabel="Grant"
      busy={busy}
      disabled={!role || !target}
      size="lg"
    >
      <FormError title="Could not grant access" message={general} />
      <div role="status">
        {existing && (
          <Notice>
            <strong>
              {existing.userName ?? existing.groupName} already has {existing.privilege} on{' '}
              {existing.resource}.
            </strong>{' '}
            Nothing changed.
          </Notice>
        )}
      </div>
      {!subject && (
        <div className="grid-2">
          <Field label="Grant to">
            <select value={kind} onChange={(e) => setKind(e.target.value as 'user' | 'group')}>
              <option value="user">A user</option>
              <option value="group">A group</option>
            </select>
          </Field>
          <Field
            label={kind === 'user' ? 'User email' : 'Group name'}
            error={subjectError}
            hint="Type to pick from the list"
          >
            <input
              list={`${ids}-people`}
              value={who}
              onChange={(e) => setWho(e.target.value)}
              autoComplete="off"
              data-autofocus
            />
          </Field>
          <datalist id={`${ids}-people`}>
            {(kind === 'user'
              ? (people.data?.[0].items ?? [])
              : (people.data?.[1].items ?? [])
            ).map((p) => (
              <option key={p.id} value={p.name} />
            ))}
          </datalist>
        </div>
      )}
      <div className="grid-2">
        <Field label="Cluster" error={fieldError(error, 'resource')}>
          <select
            value={target}
            onChange={(e) => {
              setTarget(e.target.value);
              setNamespace('');
              setRole('');
            }}
          >
            <option value="">
              {destinations.loading ? 'Loading clusters…' : 'Choose a cluster'}
            </option>
            {list.map((d) => (
              <option key={d.id} value={d.name}>
                {d.name}
                {d.connected ? '' : ' (not connected)'}
              </option>
            ))}
            <option value="infra">Infra itself (admin or view)</option>
          </select>
        </Field>
        {target !== 'infra' && (
          <Field label="Namespace" hint={dest ? undefined : 'Choose a cluster first'}>
            <select
              value={namespace}
              onChange={(e) => setNamespace(e.target.value)}
              disabled={!dest}
            >
              <option value="">Whole cluster</option>
              {(dest?.namespaces ?? []).map((ns) => (
                <option key={ns} value={ns}>
                  {ns}
                </option>
              ))}
            </select>
          </Field>
        )}
      </div>
      {destinations.error !== undefined && (
        <ErrorNotice
          title="Could not load the clusters"
          error={destinations.error}
          onRetry={destinations.reload}
        />
      )}
      <fieldset className="role-picker">
        <legend>Role</legend>
        {!target ? (
          <p className="muted">Choose a cluster to see the roles it offers.</p>
        ) : (
          roles.map((r) => (
            <label key={r} className={`role-option${role === r ? ' selected' : ''}`}>
              <input
                type="radio"
                name={`${ids}-role`}
                value={r}
                checked={role === r}
                onChange={() => setRole(r)}
              />
              <span>
                <strong>{r}</strong>
                <span className="muted">{describe(r)}</span>
              </span>
            </label>
          ))
        )}
        {fieldError(error, 'privilege') && (
          <div className="field-error">{fieldError(error, 'privilege')}</div>
        )}
      </fieldset>
      <Field label="Expires" hint="The grant is removed when it expires.">
        <select value={expiry} onChange={(e) => setExpiry(Number(e.target.value))}>
          {EXPIRIES.map(([label], i) => (
            <option key={label} value={i}>
              {label === 'Never' ? 'Never' : `After ${label}`}
            </option>
          ))}
        </select>
      </Field>
    </FormDialog>
  );
}

/** The standard empty state for a list of grants. */
export function NoGrants({ children }: { children: ReactNode }) {
  return (
    <EmptyState icon="access" title="No access yet">
      {children}
    </EmptyState>
  );
}
