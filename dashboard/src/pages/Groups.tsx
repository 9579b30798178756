import { useState } from 'react';
import { call, errorMessage, fieldError, formError, type Group, type User } from '../api';
import { Button } from '../components/Button';
import { ConfirmDialog, FormDialog } from '../components/Dialog';
import { Badge, EmptyState, ErrorNotice, FormError } from '../components/Feedback';
import { Field, ListSearch } from '../components/Field';
import { GrantDialog, GrantsTable, NoGrants } from '../components/Grants';
import { PageHeader } from '../components/Layout';
import { ListTotal, PagedTable } from '../components/PagedTable';
import { useToast } from '../components/Toast';
import { formatDate, plural } from '../lib/format';
import { usePaged, useQuery, useSearchBox, useSubmit, useTitle } from '../lib/hooks';
import { Link, navigate } from '../lib/router';
import { Person } from './Users';

/** Groups, searched on the server by any part of the name (kept in the address). */
export function GroupsPage() {
  useTitle('Groups');
  const [creating, setCreating] = useState(false);
  const search = useSearchBox('q');
  const query = search.value;
  const list = usePaged<Group>(
    (after, signal) =>
      call('listGroups', { search: query || undefined, after, limit: 100 }, { signal }),
    [query],
  );
  const create = (
    <Button variant="primary" icon="plus" onClick={() => setCreating(true)}>
      Create group
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Groups"
        description="Grant a role to a group once; everyone in it gets the access."
        actions={create}
      />
      <ListSearch label="Search groups" box={search} placeholder="Search by name" />
      <ListTotal list={list} one="group" filtered={Boolean(query)} />
      <PagedTable
        list={list}
        rowKey={(g) => g.id}
        caption="Groups"
        noun="groups"
        errorTitle="Could not load the groups"
        empty={
          query ? (
            <EmptyState icon="search" title="No matching groups">
              No group’s name contains “{query}”.
            </EmptyState>
          ) : (
            <EmptyState icon="users" title="No groups yet" action={create}>
              Groups such as “oncall” or “developers” make access easy to manage as people come and
              go.
            </EmptyState>
          )
        }
        columns={[
          {
            header: 'Name',
            cell: (g) => (
              <>
                <Link to={`/groups/${g.id}`} className="strong">
                  {g.name}
                </Link>{' '}
                {g.managedBy !== 'api' && <Badge>{g.managedBy}</Badge>}
              </>
            ),
          },
          { header: 'Members', cell: (g) => plural(g.totalUsers, 'member') },
          { header: 'Created', cell: (g) => formatDate(g.created) },
        ]}
      />
      {creating && <CreateGroupDialog onClose={() => setCreating(false)} />}
    </>
  );
}

function CreateGroupDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const { busy, error, submit } = useSubmit();
  const toast = useToast();
  const general = formError(error, ['name']);
  return (
    <FormDialog
      title="Create a group"
      onClose={onClose}
      onSubmit={() =>
        submit(async (signal) => {
          const group = await call('createGroup', { name }, { signal });
          toast(`Group ${group.name} created`);
          navigate(`/groups/${group.id}`);
        })
      }
      submitLabel="Create group"
      busy={busy}
    >
      <FormError title="Could not create the group" message={general} />
      <Field label="Name" error={fieldError(error, 'name')}>
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="oncall" />
      </Field>
    </FormDialog>
  );
}

/** One group: members (add by email, remove), grants, delete. */
export function GroupPage({ id }: { id: string }) {
  const toast = useToast();
  const group = useQuery((signal) => call('getGroup', { id }, { signal }), [id]);
  useTitle(group.data?.name ?? 'Group');
  const members = usePaged<User>(
    (after, signal) => call('listUsers', { group: id, after, limit: 100 }, { signal }),
    [id],
  );
  const grants = usePaged(
    (after, signal) => call('listGrants', { group: id, after, limit: 100 }, { signal }),
    [id],
  );
  const [deleting, setDeleting] = useState(false);
  const [granting, setGranting] = useState(false);
  const [removing, setRemoving] = useState<User>();
  const g = group.data;
  const editable = g?.managedBy === 'api';

  return (
    <>
      <PageHeader
        back={{ to: '/groups', label: 'Groups' }}
        title={g?.name ?? <span className="skeleton" style={{ width: 160 }} />}
        description={g && plural(g.totalUsers, 'member')}
        actions={
          editable && (
            <Button variant="danger-ghost" icon="trash" onClick={() => setDeleting(true)}>
              Delete group
            </Button>
          )
        }
      />
      {group.error !== undefined && (
        <ErrorNotice title="Could not load the group" error={group.error} onRetry={group.reload} />
      )}
      <section className="section">
        <h2>Members</h2>
        {editable && (
          <AddMember
            groupId={id}
            onAdded={(u, added) => {
              members.setItems((items) =>
                items.some((x) => x.id === u.id) ? items : [...items, u],
              );
              group.reload();
              toast(added ? `${u.name} added` : `${u.name} is already a member; nothing changed`);
            }}
          />
        )}
        <PagedTable
          list={members}
          rowKey={(u) => u.id}
          caption="Members"
          noun="members"
          errorTitle="Could not load the members"
          empty={<p className="muted">No members yet. Add people by their email above.</p>}
          skeletonRows={2}
          columns={[
            { cell: (u) => <Person id={u.id} name={u.name} /> },
            {
              actions: true,
              cell: (u) =>
                editable && (
                  <Button
                    size="sm"
                    variant="danger-ghost"
                    aria-label={`Remove ${u.name} from the group`}
                    onClick={() => setRemoving(u)}
                  >
                    Remove
                  </Button>
                ),
            },
          ]}
        />
      </section>
      <section className="section">
        <div className="section-head">
          <h2>Access</h2>
          <Button size="sm" icon="plus" onClick={() => setGranting(true)} disabled={!g}>
            Grant access
          </Button>
        </div>
        <GrantsTable
          caption="Grants of this group"
          hideSubject
          list={grants}
          empty={<NoGrants>This group has no role anywhere yet.</NoGrants>}
        />
      </section>
      {granting && g && (
        <GrantDialog
          subject={{ kind: 'group', id: g.id, name: g.name }}
          onClose={() => setGranting(false)}
          onGranted={() => grants.refresh()}
        />
      )}
      {removing && g && (
        <ConfirmDialog
          title={`Remove ${removing.name}?`}
          confirmLabel="Remove member"
          onClose={() => setRemoving(undefined)}
          onConfirm={async (signal) => {
            await call('updateGroupUsers', { id: g.id, usersToRemove: [removing.id] }, { signal });
            members.setItems((items) => items.filter((x) => x.id !== removing.id));
            group.reload();
            toast(`${removing.name} removed from ${g.name}`);
          }}
        >
          {removing.name} loses the access the group {g.name} gives, within a second.
        </ConfirmDialog>
      )}
      {deleting && g && (
        <ConfirmDialog
          title={`Delete ${g.name}?`}
          confirmLabel="Delete group"
          onClose={() => setDeleting(false)}
          onConfirm={async (signal) => {
            await call('deleteGroup', { id: g.id }, { signal });
            toast(`Group ${g.name} deleted`);
            navigate('/groups', { replace: true });
          }}
        >
          Its members lose the access the group gives, and its grants are deleted. The users
          themselves stay.
        </ConfirmDialog>
      )}
    </>
  );
}

/** Adds a member by email (the API finds users by exact name, so any number of users works). */
function AddMember({
  groupId,
  onAdded,
}: {
  groupId: string;
  /** `added` is false when they were a member already. */
  onAdded: (u: User, added: boolean) => void;
}) {
  const [email, setEmail] = useState('');
  const { busy, error, submit } = useSubmit();
  return (
    <form
      noValidate
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit(async (signal) => {
          const name = email.trim();
          const user = (await call('listUsers', { name }, { signal })).items[0];
          if (!user) {
            throw new Error(`No user has the email ${name}. Add them on the Users page first.`);
          }
          const group = await call(
            'updateGroupUsers',
            { id: groupId, usersToAdd: [user.id] },
            { signal },
          );
          onAdded(user, group.usersAdded.length > 0);
          setEmail('');
        });
      }}
    >
      <Field
        label="Add a member"
        error={error === undefined ? undefined : (fieldError(error, 'name') ?? errorMessage(error))}
      >
        <input
          type="email"
          value={email}
          placeholder="alice@example.com"
          onChange={(e) => setEmail(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Button type="submit" busy={busy} disabled={!email.trim()}>
        Add
      </Button>
    </form>
  );
}
