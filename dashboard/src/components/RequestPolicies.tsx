import { useState } from 'react';
import { call, errorMessage, fieldError, formError, type Output } from '../api';
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

const FIELDS = [
  'name',
  'roles',
  'resources',
  'requesters',
  'approvers',
  'approvalsRequired',
  'maxDuration',
  'pendingExpiry',
];

function AddPolicyDialog({ onClose, onAdded }: { onClose: () => void; onAdded: () => void }) {
  const [name, setName] = useState('');
  const [roles, setRoles] = useState('edit');
  const [resources, setResources] = useState('');
  const [requesterUsers, setRequesterUsers] = useState('');
  const [requesterGroups, setRequesterGroups] = useState('');
  const [approverUsers, setApproverUsers] = useState('');
  const [approverGroups, setApproverGroups] = useState('');
  const [approvals, setApprovals] = useState('1');
  const [maxDuration, setMaxDuration] = useState('1h');
  const [reasonRequired, setReasonRequired] = useState(true);
  const { busy, error, submit } = useSubmit();
  const add = () =>
    submit(async (signal) => {
      await call(
        'createRequestPolicy',
        {
          name: name.trim(),
          roles: list(roles),
          resources: list(resources),
          requesters: { users: list(requesterUsers), groups: list(requesterGroups) },
          approvers: { users: list(approverUsers), groups: list(approverGroups) },
          approvalsRequired: Number(approvals),
          maxDuration: maxDuration.trim(),
          reasonRequired,
        },
        { signal },
      );
      onAdded();
    });
  const problem = (f: string) => fieldError(error, f);
  return (
    <FormDialog
      title="Add a request policy"
      onClose={onClose}
      onSubmit={add}
      submitLabel="Add policy"
      busy={busy}
      size="lg"
    >
      <Field label="Name" error={problem('name')}>
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      </Field>
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
        error={problem('requesters')}
      >
        <input
          value={requesterUsers}
          onChange={(e) => setRequesterUsers(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label="Who may ask: groups" optional>
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
        error={problem('approvers')}
      >
        <input
          value={approverUsers}
          onChange={(e) => setApproverUsers(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label="Approvers: groups" optional>
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
      <label className="checkbox">
        <input
          type="checkbox"
          checked={reasonRequired}
          onChange={(e) => setReasonRequired(e.target.checked)}
        />
        A reason is required
      </label>
      {formError(error, FIELDS) && (
        <p className="field-error" role="alert">
          {formError(error, FIELDS)}
        </p>
      )}
    </FormDialog>
  );
}

/**
 * Request policies, for admins: what may be asked for, by whom, approved by whom; add and remove
 * (those the config file declares are changed there).
 */
export function RequestPolicies() {
  const toast = useToast();
  const policies = useQuery((signal) => call('listRequestPolicies', {}, { signal }), []);
  const [adding, setAdding] = useState(false);
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
        <AddPolicyDialog
          onClose={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            toast('Policy added');
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
