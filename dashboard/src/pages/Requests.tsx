import { useState } from 'react';
import { call, errorMessage, fieldError, formError, type Output } from '../api';
import { Button } from '../components/Button';
import { Badge, EmptyState, ErrorNotice, FormError, LoadMore } from '../components/Feedback';
import { Field } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
import { RequestPolicies } from '../components/RequestPolicies';
import { useToast } from '../components/Toast';
import { useSession } from '../lib/session';
import { formatTime, timeAgo, timeLeft } from '../lib/format';
import { usePaged, useSubmit, useTitle } from '../lib/hooks';
import { reviewCountChanged } from '../lib/review-count';

type AccessRequest = Output<'listAccessRequests'>['items'][number];

function StateBadge({ request: r }: { request: AccessRequest }) {
  if (r.state === 'pending') {
    const got = r.reviews.filter((v) => v.decision === 'approve').length;
    return <Badge tone="blue">{`pending ${got}/${r.approvalsRequired}`}</Badge>;
  }
  if (r.state === 'approved' && r.accessExpires && Date.parse(r.accessExpires) > Date.now())
    return (
      <Badge tone="green" title={formatTime(r.accessExpires)}>
        {`active, ${timeLeft(r.accessExpires)}`}
      </Badge>
    );
  const tone = r.state === 'denied' ? 'red' : r.state === 'approved' ? 'neutral' : 'amber';
  return <Badge tone={tone}>{r.state === 'approved' ? 'ended' : r.state}</Badge>;
}

/** Asks for a role on a cluster or namespace for a while, under a request policy. */
function AskForm({ onDone }: { onDone: () => void }) {
  const toast = useToast();
  const { busy, error, submit } = useSubmit();
  const [resource, setResource] = useState('');
  const [role, setRole] = useState('');
  const [duration, setDuration] = useState('1h');
  const [reason, setReason] = useState('');
  return (
    <section className="card section stack" aria-labelledby="ask-title">
      <h2 id="ask-title">Ask for access</h2>
      <form
        noValidate
        className="stack narrow"
        onSubmit={(e) => {
          e.preventDefault();
          submit(async (signal) => {
            await call(
              'createAccessRequest',
              {
                resource: resource.trim(),
                role: role.trim(),
                duration: duration.trim(),
                reason: reason.trim() || undefined,
              },
              { signal },
            );
            setResource('');
            setRole('');
            setReason('');
            toast('Request sent for review');
            onDone();
          });
        }}
      >
        <FormError
          title="Could not send the request"
          message={formError(error, ['resource', 'role', 'duration', 'reason'])}
        />
        <Field
          label="Cluster or namespace"
          hint="prod, or prod.web"
          error={fieldError(error, 'resource')}
        >
          <input
            value={resource}
            onChange={(e) => setResource(e.target.value)}
            autoComplete="off"
          />
        </Field>
        <Field label="Role" hint="edit, view, exec..." error={fieldError(error, 'role')}>
          <input value={role} onChange={(e) => setRole(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="For how long" hint="30m, 1h, 4h" error={fieldError(error, 'duration')}>
          <input
            value={duration}
            onChange={(e) => setDuration(e.target.value)}
            autoComplete="off"
          />
        </Field>
        <Field label="Reason" optional error={fieldError(error, 'reason')}>
          <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="INC-123" />
        </Field>
        <div>
          <Button
            type="submit"
            variant="primary"
            busy={busy}
            disabled={!resource.trim() || !role.trim()}
          >
            Request
          </Button>
        </div>
      </form>
    </section>
  );
}

/** One request waiting for the caller's review: approve or deny, with a comment. */
function ReviewRow({ request: r, onDone }: { request: AccessRequest; onDone: () => void }) {
  const toast = useToast();
  const { busy, error, submit } = useSubmit();
  const [comment, setComment] = useState('');
  const decide = (decision: 'approve' | 'deny') =>
    submit(async (signal) => {
      const after = await call(
        'reviewAccessRequest',
        { id: r.id, decision, comment: comment.trim() || undefined },
        { signal },
      );
      toast(
        after.state === 'approved'
          ? `Approved: ${after.userName} has ${after.role} on ${after.resource}`
          : after.state === 'denied'
            ? `Denied the request of ${after.userName}`
            : 'Approval recorded; more are needed',
      );
      onDone();
    });
  return (
    <tr>
      <td>{r.userName}</td>
      <td>
        <strong>{r.role}</strong> on {r.resource}
      </td>
      <td>{r.duration}</td>
      <td className="wrap">{r.reason || <span className="muted">none given</span>}</td>
      <td title={formatTime(r.created)}>{timeAgo(r.created)}</td>
      <td>
        <StateBadge request={r} />
      </td>
      <td className="row-actions">
        <input
          aria-label={`Comment on the request of ${r.userName}`}
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          placeholder="Comment"
          className="review-comment"
        />
        <Button size="sm" variant="primary" busy={busy} onClick={() => decide('approve')}>
          Approve
        </Button>
        <Button size="sm" variant="danger-ghost" disabled={busy} onClick={() => decide('deny')}>
          Deny
        </Button>
        {error !== undefined && <span role="alert">{formError(error, [])}</span>}
      </td>
    </tr>
  );
}

/** Requests per page: the review rows each hold a comment box. */
const PAGE = 50;

/**
 * Access requests: ask for temporary access, see where your requests stand, and review what
 * others ask for (the requests waiting for you are counted in the navigation too). Both lists
 * page: "Load more" reaches every request.
 */
export function RequestsPage() {
  useTitle('Access requests');
  const { isAdmin } = useSession();
  const toast = useToast();
  const toReview = usePaged<AccessRequest>(
    (after, signal) =>
      call('listAccessRequests', { toReview: 'true', after, limit: PAGE }, { signal }),
    [],
  );
  const mine = usePaged<AccessRequest>(
    (after, signal) => call('listAccessRequests', { mine: 'true', after, limit: PAGE }, { signal }),
    [],
  );
  const cancel = async (r: AccessRequest) => {
    try {
      await call('cancelAccessRequest', { id: r.id });
      toast(r.state === 'pending' ? 'Request withdrawn' : 'Access ended');
    } catch (err) {
      toast(errorMessage(err));
    }
    mine.refresh();
  };
  // A request the caller reviewed leaves their list, decided or not; the pages after it stay.
  const reviewed = (r: AccessRequest) => {
    toReview.setItems((items) => items.filter((i) => i.id !== r.id));
    reviewCountChanged();
    mine.refresh();
  };
  return (
    <>
      <PageHeader
        title="Access requests"
        description="Ask for a role on a cluster for a while; an approver named by a request policy decides. You never approve your own requests."
      />
      {(toReview.items.length > 0 || toReview.hasMore) && (
        <section className="card section stack" aria-labelledby="review-title">
          <h2 id="review-title">Waiting for your review</h2>
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Requests waiting for your review</caption>
              <thead>
                <tr>
                  <th>Who</th>
                  <th>What</th>
                  <th>For</th>
                  <th>Reason</th>
                  <th>Asked</th>
                  <th>State</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {toReview.items.map((r) => (
                  <ReviewRow key={r.id} request={r} onDone={() => reviewed(r)} />
                ))}
              </tbody>
            </table>
          </div>
          {toReview.error !== undefined && (
            <ErrorNotice title="Could not load more requests to review" error={toReview.error} />
          )}
          <LoadMore
            hasMore={toReview.hasMore}
            loading={toReview.loadingMore}
            onClick={toReview.loadMore}
            shown={toReview.items.length}
            total={toReview.total}
            noun="requests"
          />
        </section>
      )}
      {toReview.error !== undefined && toReview.items.length === 0 && (
        <ErrorNotice
          title="Could not load the requests to review"
          error={toReview.error}
          onRetry={toReview.reload}
        />
      )}
      <AskForm onDone={() => mine.refresh()} />
      {isAdmin && <RequestPolicies />}
      <section className="card section stack" aria-labelledby="mine-title">
        <h2 id="mine-title">My requests</h2>
        <PagedTable
          list={mine}
          rowKey={(r) => r.id}
          caption="My access requests"
          noun="requests"
          errorTitle="Could not load your requests"
          skeletonRows={2}
          empty={
            <EmptyState icon="access" title="No requests yet">
              Ask for access above when you need more than you have.
            </EmptyState>
          }
          columns={[
            {
              header: 'What',
              cell: (r) => (
                <>
                  <strong>{r.role}</strong> on {r.resource}
                </>
              ),
            },
            { header: 'For', cell: (r) => r.duration },
            { header: 'Reason', className: 'wrap', cell: (r) => r.reason },
            {
              header: 'Asked',
              title: (r) => formatTime(r.created),
              cell: (r) => timeAgo(r.created),
            },
            { header: 'State', cell: (r) => <StateBadge request={r} /> },
            {
              actions: true,
              cell: (r) =>
                (r.state === 'pending' ||
                  (r.state === 'approved' &&
                    r.accessExpires &&
                    Date.parse(r.accessExpires) > Date.now())) && (
                  <Button size="sm" variant="danger-ghost" onClick={() => void cancel(r)}>
                    {r.state === 'pending' ? 'Withdraw' : 'End access'}
                  </Button>
                ),
            },
          ]}
        />
      </section>
    </>
  );
}
