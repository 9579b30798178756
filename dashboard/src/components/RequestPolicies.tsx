import { useState } from 'react';
import { ApiError, call, errorMessage, formError, type Output } from '../api';
import { Button } from './Button';
import { ConfirmDialog, FormDialog } from './Dialog';
import { Badge, EmptyState, ErrorNotice, SkeletonRows } from './Feedback';
import { Field } from './Field';
import { useToast } from './Toast';
import { useQuery, useSubmit } from '../lib/hooks';

type Policy = Output<'listRequestPolicies'>['items'][number];

/** `a, b ,c` → ['a', 'b', 'c']. */
function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function who(s: { users: string[]; groups: string[] }): string {
  return [...s.users, ...s.groups.map((g) => `group ${g}`)].join(', ') || 'nobody';
}

/** The policy's rules the form has inputs for (the API's field names). */
const FIELDS = [
  'name',
  'roles',
  'resources',
  'requesters',
  'requesters.users',
  'requesters.groups',
  'approvers',
  'approvers.users',
  'approvers.groups',
  'approvalsRequired',
  'maxDuration',
  'pendingExpiry',
];

/** A server error's field, without the index of a list item (`roles.1` is about `roles`). */
const fieldOf = (field: string) => field.replace(/\.\d+$/, '');

/** The server's problems with any of `fields` (or an item of one of these lists). */
function problemsAt(error: unknown, ...fields: string[]): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const found = error.fieldErrors
    .filter((f) => fields.includes(fieldOf(f.field)))
    .flatMap((f) => f.errors);
  return found.length > 0 ? found.join('; ') : undefined;
}

/**
 * Adds a policy, or edits one in place (`policy`): every rule is sent, the name stays. Problems
 * the server finds show at their field.
 */
function PolicyDialog({
  policy,
  onClose,
  onSaved,
}: {
  policy?: Policy;
  onClose: () => void;
  onSaved: () => void;
}) {
  const [name, setName] = useState('');
  const [roles, setRoles] = useState(policy?.roles.join(', ') ?? 'edit');
  const [resources, setResources] = useState(policy?.resources.join(', ') ?? '');
  const [requesterUsers, setRequesterUsers] = useState(policy?.requesters.users.join(', ') ?? '');
  const [requesterGroups, setRequesterGroups] = useState(
    policy?.requesters.groups.join(', ') ?? '',
  );
  const [approverUsers, setApproverUsers] = useState(policy?.approvers.users.join(', ') ?? '');
  const [approverGroups, setApproverGroups] = useState(policy?.approvers.groups.join(', ') ?? '');
  const [approvals, setApprovals] = useState(String(policy?.approvalsRequired ?? 1));
  const [maxDuration, setMaxDuration] = useState(policy?.maxDuration ?? '1h');
  const [pendingExpiry, setPendingExpiry] = useState(policy?.pendingExpiry ?? '1h');
  const [reasonRequired, setReasonRequired] = useState(policy?.reasonRequired ?? true);
  const { busy, error, submit } = useSubmit();
  const save = () =>
    submit(async (signal) => {
      const rules = {
        roles: list(roles),
        resources: list(resources),
        requesters: { users: list(requesterUsers), groups: list(requesterGroups) },
        approvers: { users: list(approverUsers), groups: list(approverGroups) },
        approvalsRequired: Number(approvals),
        maxDuration: maxDuration.trim(),
        pendingExpiry: pendingExpiry.trim(),
        reasonRequired,
      };
      if (policy) await call('updateRequestPolicy', { id: policy.id, ...rules }, { signal });
      else await call('createRequestPolicy', { name: name.trim(), ...rules }, { signal });
      onSaved();
    });
  const problem = (...fields: string[]) => problemsAt(error, ...fields);
  // Problems with no input of their own (or no field at all) show under the form.
  const elsewhere = formError(
    error,
    error instanceof ApiError
      ? error.fieldErrors.map((f) => f.field).filter((f) => FIELDS.includes(fieldOf(f)))
      : [],
  );
  return (
    <FormDialog
      title={policy ? `Edit the policy ${policy.name}` : 'Add a request policy'}
      onClose={onClose}
      onSubmit={save}
      submitLabel={policy ? 'Save changes' : 'Add policy'}
      busy={busy}
      size="lg"
    >
      {!policy && (
        <Field label="Name" error={problem('name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
      )}
      <Field
        label="Roles"
        hint="Comma-separated: edit, view (or * for any)"
        error={problem('roles')}
      >
        <input value={roles} onChange={(e) => setRoles(e.target.value)} autoComplete="off" />
      </Field>
      <Field
        label="Clusters and namespaces"
        hint="Comma-separated patterns: prod.* is every namespace of prod, prod the whole cluster"
        error={problem('resources')}
      >
        <input
          value={resources}
          onChange={(e) => setResources(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field
        label="Who may ask: users"
        optional
        hint="Emails, comma-separated"
        error={problem('requesters', 'requesters.users')}
      >
        <input
          value={requesterUsers}
          onChange={(e) => setRequesterUsers(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label="Who may ask: groups" optional error={problem('requesters.groups')}>
        <input
          value={requesterGroups}
          onChange={(e) => setRequesterGroups(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field
        label="Approvers: users"
        optional
        hint="Nobody approves their own request"
        error={problem('approvers', 'approvers.users')}
      >
        <input
          value={approverUsers}
          onChange={(e) => setApproverUsers(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label="Approvers: groups" optional error={problem('approvers.groups')}>
        <input
          value={approverGroups}
          onChange={(e) => setApproverGroups(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label="Approvals needed" error={problem('approvalsRequired')}>
        <input
          type="number"
          min={1}
          max={10}
          value={approvals}
          onChange={(e) => setApprovals(e.target.value)}
        />
      </Field>
      <Field label="Longest access" hint="30m, 1h, 8h…" error={problem('maxDuration')}>
        <input
          value={maxDuration}
          onChange={(e) => setMaxDuration(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field
        label="Undecided requests expire after"
        hint="30m, 1h…"
        error={problem('pendingExpiry')}
      >
        <input
          value={pendingExpiry}
          onChange={(e) => setPendingExpiry(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={reasonRequired}
          onChange={(e) => setReasonRequired(e.target.checked)}
        />
        A reason is required
      </label>
      {elsewhere && (
        <p className="field-error" role="alert">
          {elsewhere}
        </p>
      )}
    </FormDialog>
  );
}

/**
 * Request policies, for admins: what may be asked for, by whom, approved by whom; add, edit and
 * remove (those the config file declares are changed there).
 */
export function RequestPolicies() {
  const toast = useToast();
  const policies = useQuery((signal) => call('listRequestPolicies', {}, { signal }), []);
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Policy>();
  const [removing, setRemoving] = useState<Policy>();
  const items = policies.data?.items;
  return (
    <section className="card section stack" aria-labelledby="policies-title">
      <div className="section-head">
        <h2 id="policies-title">Request policies</h2>
        <Button size="sm" icon="plus" onClick={() => setAdding(true)}>
          Add policy
        </Button>
      </div>
      {policies.error !== undefined ? (
        <ErrorNotice
          title="Could not load the request policies"
          error={policies.error}
          onRetry={policies.reload}
        />
      ) : items?.length === 0 ? (
        <EmptyState icon="access" title="No request policies">
          Without one, nobody can ask for access. Add one to say what may be asked for, by whom, and
          who approves.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Request policies</caption>
            <thead>
              <tr>
                <th>Name</th>
                <th>What</th>
                <th>Who may ask</th>
                <th>Approvers</th>
                <th>Longest</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items === undefined ? (
                <SkeletonRows rows={2} columns={6} />
              ) : (
                items.map((p) => (
                  <tr key={p.id}>
                    <td data-label="Name">
                      <strong>{p.name}</strong>
                      {p.managedBy === 'config' && <Badge>config file</Badge>}
                    </td>
                    <td data-label="What" className="wrap">
                      {p.roles.join(', ')} on {p.resources.join(', ')}
                    </td>
                    <td data-label="Who may ask" className="wrap">
                      {who(p.requesters)}
                    </td>
                    <td data-label="Approvers" className="wrap">
                      {who(p.approvers)} ({p.approvalsRequired} needed)
                    </td>
                    <td data-label="Longest">{p.maxDuration}</td>
                    <td className="row-actions">
                      {p.managedBy === 'api' && (
                        <Button
                          size="sm"
                          aria-label={`Edit the policy ${p.name}`}
                          onClick={() => setEditing(p)}
                        >
                          Edit
                        </Button>
                      )}
                      {p.managedBy === 'api' && (
                        <Button
                          size="sm"
                          variant="danger-ghost"
                          icon="trash"
                          aria-label={`Remove the policy ${p.name}`}
                          onClick={() => setRemoving(p)}
                        >
                          Remove
                        </Button>
                      )}
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <PolicyDialog
          onClose={() => setAdding(false)}
          onSaved={() => {
            setAdding(false);
            toast('Policy added');
            policies.reload();
          }}
        />
      )}
      {editing && (
        <PolicyDialog
          policy={editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            toast(`${editing.name} saved`);
            setEditing(undefined);
            policies.reload();
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove the policy ${removing.name}?`}
          confirmLabel="Remove policy"
          onClose={() => setRemoving(undefined)}
          onConfirm={async (signal) => {
            try {
              await call('deleteRequestPolicy', { id: removing.id }, { signal });
              toast(`${removing.name} removed`);
            } catch (err) {
              toast(errorMessage(err));
            }
            policies.reload();
          }}
        >
          Nobody can ask under it any more, and its pending requests can no longer be approved.
          Access already given stays until it expires.
        </ConfirmDialog>
      )}
    </section>
  );
}
