import { useState } from 'react';
import { call, type AuditEntry } from '../api';
import { Button } from '../components/Button';
import { Badge, EmptyState, ErrorNotice, LoadMore, SkeletonRows } from '../components/Feedback';
import { PageHeader } from '../components/Layout';
import { formatTime, humanizeAction, timeAgo } from '../lib/format';
import { useDebounced, usePaged, useTitle } from '../lib/hooks';

const ACTIONS = [
  'setup',
  'login',
  'logout',
  'createUser',
  'updateUser',
  'deleteUser',
  'createGroup',
  'deleteGroup',
  'updateGroupUsers',
  'createGrant',
  'deleteGrant',
  'updateGrants',
  'createAccessKey',
  'deleteAccessKey',
  'deleteAccessKeys',
  'createDestination',
  'updateDestination',
  'deleteDestination',
  'createProvider',
  'updateProvider',
  'deleteProvider',
  'approveDevice',
  'rotateSigningKey',
];

function fromDate(value: string, endOfDay: boolean): string | undefined {
  if (!value) return undefined;
  const d = new Date(`${value}T${endOfDay ? '23:59:59.999' : '00:00:00'}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The audit log, newest first: filter by action, target id and date range. */
export function AuditPage() {
  useTitle('Audit log');
  const [action, setAction] = useState('');
  const [target, setTarget] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const targetQuery = useDebounced(target.trim(), 300);
  const list = usePaged<AuditEntry>(
    (after, signal) =>
      call(
        'listAudit',
        {
          action: action || undefined,
          target: targetQuery || undefined,
          since: fromDate(since, false),
          until: fromDate(until, true),
          after,
          limit: 100,
        },
        { signal },
      ),
    [action, targetQuery, since, until],
  );
  const filtered = Boolean(action || targetQuery || since || until);

  return (
    <>
      <PageHeader
        title="Audit log"
        description="Every change made through the API, newest first. Entries are hash-chained and cannot be edited."
      />
      <form className="toolbar filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label className="inline-field">
          <span>Action</span>
          <select value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">All actions</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {humanizeAction(a)}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>Target id</span>
          <input
            value={target}
            onChange={(e) => setTarget(e.target.value)}
            placeholder="usr_…"
            autoComplete="off"
          />
        </label>
        <label className="inline-field">
          <span>From</span>
          <input type="date" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="inline-field">
          <span>To</span>
          <input type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        {filtered && (
          <Button
            size="sm"
            variant="ghost"
            onClick={() => {
              setAction('');
              setTarget('');
              setSince('');
              setUntil('');
            }}
          >
            Clear filters
          </Button>
        )}
      </form>
      {list.error !== undefined && list.items.length === 0 ? (
        <ErrorNotice
          title="Could not load the audit log"
          error={list.error}
          onRetry={list.reload}
        />
      ) : !list.loading && list.items.length === 0 ? (
        <EmptyState icon="audit" title={filtered ? 'No matching entries' : 'Nothing logged yet'}>
          {filtered ? 'Nothing matches these filters. Clear them to see everything.' : undefined}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Audit log</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Result</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {list.loading && list.items.length === 0 ? (
                <SkeletonRows columns={6} />
              ) : (
                list.items.map((e) => (
                  <tr key={e.seq}>
                    <td data-label="When" title={formatTime(e.at)} className="nowrap">
                      {timeAgo(e.at)}
                    </td>
                    <td data-label="Who">{e.actor.name}</td>
                    <td data-label="Action">{humanizeAction(e.action)}</td>
                    <td data-label="Target" className="wrap">
                      {e.target.name ?? e.target.id ?? (
                        <span className="muted">{e.target.kind}</span>
                      )}
                      {e.target.name && e.target.kind && (
                        <span className="muted"> ({e.target.kind})</span>
                      )}
                    </td>
                    <td data-label="Result">
                      <Badge
                        tone={
                          e.result === 'success' ? 'green' : e.result === 'denied' ? 'amber' : 'red'
                        }
                      >
                        {e.result}
                      </Badge>
                    </td>
                    <td data-label="From" className="muted">
                      {e.sourceIp}
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loadingMore}
        onClick={list.loadMore}
        shown={list.items.length}
        noun="entries"
      />
    </>
  );
}
