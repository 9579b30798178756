import { useState } from 'react';
import { call, fieldError, formError, type Group, type User, type UserListItem } from '../api';
import { Button } from '../components/Button';
import { ConfirmDialog, DoneDialog, FormDialog } from '../components/Dialog';
import {
  Badge,
  EmptyState,
  ErrorNotice,
  FormError,
  LoadMore,
  Notice,
  SkeletonBlock,
} from '../components/Feedback';
import { ExplainAccess } from '../components/Explain';
import { Field, ListSearch } from '../components/Field';
import { GrantDialog, GrantsTable, NoGrants } from '../components/Grants';
import { PageHeader } from '../components/Layout';
import { ListTotal, PagedTable } from '../components/PagedTable';
import { oneTimePassword, SendToPerson } from '../components/SendToPerson';
import { useToast } from '../components/Toast';
import { formatDate, formatTime, initials, timeAgo } from '../lib/format';
import { usePaged, useQuery, useSearchBox, useSubmit, useTitle } from '../lib/hooks';
import { Link, navigate } from '../lib/router';
import { useServerSettings } from '../lib/server';
import { useSession } from '../lib/session';

/** A user's email with their initials, linked to their page. */
export function Person({ id, name }: { id: string; name: string }) {
  return (
    <Link to={`/users/${id}`} className="person">
      <span className="avatar" aria-hidden="true">
        {initials(name)}
      </span>
      {name}
    </Link>
  );
}

/**
 * Where a user comes from: the config file, identity providers, or a password here; and whether
 * a provider has deactivated them (offboarded: no sign-in).
 */
function Origin({ user }: { user: UserListItem }) {
  const deactivated = user.deactivatedBy !== null && (
    <>
      {' '}
      <Badge tone="red" title="They cannot sign in; their sessions and keys have ended">
        deactivated by {user.deactivatedBy}
      </Badge>
    </>
  );
  if (user.origin === 'config')
    return (
      <>
        <Badge>config file</Badge>
        {deactivated}
      </>
    );
  const local = user.origin === 'local' ? ['local'] : [];
  return (
    <>
      {[...local, ...user.providers].join(', ')}
      {deactivated}
    </>
  );
}

/** The first few of a user's groups, and how many more. */
function GroupNames({ user }: { user: UserListItem }) {
  if (user.totalGroups === 0) return <span className="muted">none</span>;
  const more = user.totalGroups - user.groups.length;
  return (
    <>
      {user.groups.join(', ')}
      {more > 0 && ` +${more} more`}
    </>
  );
}

/**
 * Users, a page at a time, searched on the server by any part of the email (so among any
 * number); the search is kept in the address. Each row says who the user is: role on Infra,
 * groups, and where they come from.
 */
export function UsersPage() {
  useTitle('Users');
  const search = useSearchBox('q');
  const query = search.value.toLowerCase();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<User>();
  const toast = useToast();
  const list = usePaged<UserListItem>(
    (after, signal) =>
      call('listUsers', { search: query || undefined, after, limit: 100 }, { signal }),
    [query],
  );

  return (
    <>
      <PageHeader
        title="Users"
        description="People who can sign in to Infra. Give them access on the Access page or through groups."
        actions={
          <Button variant="primary" icon="plus" onClick={() => setAdding(true)}>
            Add user
          </Button>
        }
      />
      <ListSearch label="Search users" box={search} placeholder="Search by email" />
      <ListTotal list={list} one="user" filtered={Boolean(query)} />
      <PagedTable
        list={list}
        rowKey={(u) => u.id}
        caption="Users"
        noun="users"
        errorTitle="Could not load the users"
        empty={
          query ? (
            <EmptyState icon="search" title="No matching users">
              No user’s email contains “{query}”.
            </EmptyState>
          ) : (
            <EmptyState
              icon="user"
              title="No users yet"
              action={
                <Button variant="primary" icon="plus" onClick={() => setAdding(true)}>
                  Add user
                </Button>
              }
            >
              Add the people who need access. Each gets a one-time password to sign in with.
            </EmptyState>
          )
        }
        columns={[
          { header: 'Email', cell: (u) => <Person id={u.id} name={u.name} /> },
          {
            header: 'Role on Infra',
            cell: (u) =>
              u.infraRoles.length > 0 ? (
                u.infraRoles.join(', ')
              ) : (
                <span className="muted">none</span>
              ),
          },
          { header: 'Groups', className: 'wrap', cell: (u) => <GroupNames user={u} /> },
          { header: 'From', cell: (u) => <Origin user={u} /> },
          {
            header: 'Last seen',
            cell: (u) =>
              u.lastSeenAt ? timeAgo(u.lastSeenAt) : <span className="muted">never</span>,
          },
          { header: 'Added', cell: (u) => formatDate(u.created) },
          {
            actions: true,
            cell: (u) =>
              u.managedBy === 'api' && (
                <Button
                  size="sm"
                  variant="danger-ghost"
                  icon="trash"
                  aria-label={`Remove ${u.name}`}
                  onClick={() => setRemoving(u)}
                >
                  Remove
                </Button>
              ),
          },
        ]}
      />
      {adding && (
        <AddUserDialog
          onClose={() => setAdding(false)}
          onAdded={(u) =>
            // Shown first, where it is seen, whatever its place in the order by name.
            list.setItems((items) => [
              {
                ...u,
                infraRoles: [],
                groups: [],
                totalGroups: 0,
                origin: 'local',
                providers: [],
                deactivatedBy: null,
              },
              ...items,
            ])
          }
        />
      )}
      {removing && (
        <RemoveUserDialog
          user={removing}
          onClose={() => setRemoving(undefined)}
          onRemoved={() => {
            list.refresh();
            toast(`${removing.name} removed`);
          }}
        />
      )}
    </>
  );
}

function RemoveUserDialog({
  user,
  onClose,
  onRemoved,
}: {
  user: User;
  onClose: () => void;
  onRemoved: () => void;
}) {
  const { user: me } = useSession();
  const isSelf = me?.id === user.id;
  return (
    <ConfirmDialog
      title={isSelf ? 'Remove yourself?' : `Remove ${user.name}?`}
      confirmLabel={isSelf ? 'Remove myself' : 'Remove user'}
      onClose={onClose}
      onConfirm={async (signal) => {
        await call('deleteUser', { id: user.id }, { signal });
        onRemoved();
        if (isSelf) navigate('/login', { replace: true });
      }}
    >
      {isSelf ? (
        <Notice kind="warning">
          <strong>This is you.</strong> You are signed out at once and cannot sign in again: your
          sessions, access keys, group memberships and grants are deleted, admin included. This
          cannot be undone.
        </Notice>
      ) : (
        <>
          Their sessions and access keys stop working at once, and their group memberships and
          grants are deleted. This cannot be undone.
        </>
      )}
    </ConfirmDialog>
  );
}

/** Adds a user, then shows their one-time password once, with a copy button. */
function AddUserDialog({ onClose, onAdded }: { onClose: () => void; onAdded: (u: User) => void }) {
  const [name, setName] = useState('');
  const { busy, error, submit } = useSubmit();
  const [created, setCreated] = useState<{ name: string; password: string }>();

  if (created) {
    return (
      <DoneDialog title="User added" onClose={onClose}>
        <SendToPerson name={created.name} password={created.password} />
      </DoneDialog>
    );
  }

  const add = async (signal: AbortSignal) => {
    const { oneTimePassword, ...user } = await call('createUser', { name }, { signal });
    onAdded(user);
    setCreated({ name: user.name, password: oneTimePassword });
  };
  const general = formError(error, ['name']);
  return (
    <FormDialog
      title="Add a user"
      onClose={onClose}
      onSubmit={() => submit(add)}
      submitLabel="Add user"
      busy={busy}
    >
      <FormError title="Could not add the user" message={general} />
      <Field label="Email" error={fieldError(error, 'name')}>
        <input
          type="email"
          value={name}
          onChange={(e) => setName(e.target.value)}
          autoComplete="off"
          placeholder="alice@example.com"
        />
      </Field>
    </FormDialog>
  );
}

/** One user: details, groups (add, leave), grants (grant, revoke), remove. */
export function UserPage({ id }: { id: string }) {
  const toast = useToast();
  const { user: me } = useSession();
  const user = useQuery((signal) => call('getUser', { id }, { signal }), [id]);
  useTitle(user.data?.name ?? 'User');
  const groups = usePaged<Group>(
    (after, signal) => call('listGroups', { userID: id, after, limit: 100 }, { signal }),
    [id],
  );
  const grants = usePaged(
    (after, signal) =>
      call('listGrants', { user: id, showInherited: true, after, limit: 100 }, { signal }),
    [id],
  );
  const [removing, setRemoving] = useState(false);
  const [resetting, setResetting] = useState(false);
  const [reset, setReset] = useState<string>();
  const [granting, setGranting] = useState(false);
  const [joining, setJoining] = useState(false);
  const settings = useServerSettings();
  const [leaving, setLeaving] = useState<Group>();
  const u = user.data;

  return (
    <>
      <PageHeader
        back={{ to: '/users', label: 'Users' }}
        title={u?.name ?? <span className="skeleton" style={{ width: 220 }} />}
        description={u && (u.id === me?.id ? 'This is you.' : undefined)}
        actions={
          u &&
          u.managedBy === 'api' && (
            <>
              {u.id !== me?.id && (
                <Button icon="key" onClick={() => setResetting(true)}>
                  Reset password
                </Button>
              )}
              <Button variant="danger-ghost" icon="trash" onClick={() => setRemoving(true)}>
                Remove user
              </Button>
            </>
          )
        }
      />
      {user.error !== undefined ? (
        <ErrorNotice title="Could not load the user" error={user.error} onRetry={user.reload} />
      ) : !u ? (
        <SkeletonBlock lines={3} />
      ) : (
        <dl className="facts">
          <div>
            <dt>Last seen</dt>
            <dd>{u.lastSeenAt ? timeAgo(u.lastSeenAt) : 'never'}</dd>
          </div>
          <div>
            <dt>Added</dt>
            <dd>{formatTime(u.created)}</dd>
          </div>
          <div>
            <dt>Managed by</dt>
            <dd>{u.managedBy === 'config' ? 'the config file' : 'this dashboard and the API'}</dd>
          </div>
        </dl>
      )}
      <section className="section">
        <div className="section-head">
          <h2>Groups</h2>
          <Button size="sm" icon="plus" onClick={() => setJoining(true)} disabled={!u}>
            Add to group
          </Button>
        </div>
        {groups.error !== undefined && groups.items.length === 0 ? (
          <ErrorNotice
            title="Could not load the groups"
            error={groups.error}
            onRetry={groups.reload}
          />
        ) : groups.loading ? (
          <SkeletonBlock lines={2} />
        ) : groups.items.length === 0 ? (
          <p className="muted">Not in any group.</p>
        ) : (
          <ul className="chips">
            {groups.items.map((g) => (
              <li key={g.id} className="chip">
                <Link to={`/groups/${g.id}`}>{g.name}</Link>
                {g.managedBy === 'api' && (
                  <button
                    type="button"
                    className="chip-x"
                    aria-label={`Remove from ${g.name}`}
                    onClick={() => setLeaving(g)}
                  >
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
        <LoadMore
          hasMore={groups.hasMore}
          loading={groups.loadingMore}
          onClick={groups.loadMore}
          shown={groups.items.length}
          noun="groups"
        />
      </section>
      <section className="section">
        <div className="section-head">
          <h2>Access</h2>
          <Button size="sm" icon="plus" onClick={() => setGranting(true)} disabled={!u}>
            Grant access
          </Button>
        </div>
        <GrantsTable
          caption="Grants of this user and their groups"
          list={grants}
          empty={<NoGrants>Neither this user nor their groups have a role anywhere yet.</NoGrants>}
        />
      </section>
      {u && (
        <section className="section stack">
          <h2>Why does this user have access?</h2>
          <p className="muted">
            Every grant that lets {u.name} into a cluster or namespace, through which group and how
            they joined it, and what would give them access if nothing does (as{' '}
            <code>infra explain</code>).
          </p>
          <ExplainAccess user={u.id} />
        </section>
      )}
      {granting && u && (
        <GrantDialog
          subject={{ kind: 'user', id: u.id, name: u.name }}
          onClose={() => setGranting(false)}
          onGranted={() => grants.refresh()}
        />
      )}
      {joining && u && (
        <JoinGroupDialog
          user={u}
          onClose={() => setJoining(false)}
          onJoined={() => {
            groups.refresh();
            grants.refresh();
          }}
        />
      )}
      {leaving && u && (
        <ConfirmDialog
          title={`Remove from ${leaving.name}?`}
          confirmLabel="Remove from group"
          onClose={() => setLeaving(undefined)}
          onConfirm={async (signal) => {
            await call('updateGroupUsers', { id: leaving.id, usersToRemove: [u.id] }, { signal });
            groups.setItems((items) => items.filter((g) => g.id !== leaving.id));
            grants.refresh();
            toast(`Removed from ${leaving.name}`);
          }}
        >
          {u.name} loses the access the group {leaving.name} gives.
        </ConfirmDialog>
      )}
      {resetting && u && (
        <ConfirmDialog
          title={`Reset the password of ${u.name}?`}
          confirmLabel="Reset password"
          onClose={() => setResetting(false)}
          onConfirm={async (signal) => {
            const password = oneTimePassword(settings.data?.passwordRequirements.minLength ?? 16);
            await call('updateUser', { id: u.id, password }, { signal });
            setReset(password);
          }}
        >
          Their password stops working and their sessions end at once. You get a one-time password
          to send them; they choose their own at their next sign-in. Their groups and grants stay.
        </ConfirmDialog>
      )}
      {reset && u && (
        <DoneDialog title="Password reset" onClose={() => setReset(undefined)}>
          <SendToPerson name={u.name} password={reset} />
        </DoneDialog>
      )}
      {removing && u && (
        <RemoveUserDialog
          user={u}
          onClose={() => setRemoving(false)}
          onRemoved={() => {
            toast(`${u.name} removed`);
            navigate('/users', { replace: true });
          }}
        />
      )}
    </>
  );
}

function JoinGroupDialog({
  user,
  onClose,
  onJoined,
}: {
  user: User;
  onClose: () => void;
  onJoined: () => void;
}) {
  const groups = useQuery(() => call('listGroups', { limit: 1000 }), []);
  const [groupId, setGroupId] = useState('');
  const { busy, error, submit } = useSubmit();
  const toast = useToast();
  return (
    <FormDialog
      title={`Add ${user.name} to a group`}
      onClose={onClose}
      onSubmit={() =>
        submit(async (signal) => {
          const group = await call(
            'updateGroupUsers',
            { id: groupId, usersToAdd: [user.id] },
            { signal },
          );
          onJoined();
          toast(
            group.usersAdded.length > 0
              ? `Added to ${group.name}`
              : `${user.name} is already a member of ${group.name}; nothing changed`,
          );
          onClose();
        })
      }
      submitLabel="Add to group"
      busy={busy}
      disabled={!groupId}
    >
      {error !== undefined && <ErrorNotice title="Could not add to the group" error={error} />}
      {groups.error !== undefined && (
        <ErrorNotice
          title="Could not load the groups"
          error={groups.error}
          onRetry={groups.reload}
        />
      )}
      <Field
        label="Group"
        hint={
          groups.data?.items.length === 0 ? 'Create a group first, on the Groups page.' : undefined
        }
      >
        <select value={groupId} onChange={(e) => setGroupId(e.target.value)}>
          <option value="">{groups.loading ? 'Loading groups…' : 'Choose a group'}</option>
          {(groups.data?.items ?? []).map((g) => (
            <option key={g.id} value={g.id}>
              {g.name}
            </option>
          ))}
        </select>
      </Field>
    </FormDialog>
  );
}
