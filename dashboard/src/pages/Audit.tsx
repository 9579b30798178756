import { useState } from 'react';
import { call, type AuditEntry } from '../api';
import { Button } from '../components/Button';
import { Badge, EmptyState } from '../components/Feedback';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
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
      <PagedTable
        list={list}
        rowKey={(e) => e.seq}
        caption="Audit log"
        noun="entries"
        errorTitle="Could not load the audit log"
        empty={
          <EmptyState icon="audit" title={filtered ? 'No matching entries' : 'Nothing logged yet'}>
            {filtered ? 'Nothing matches these filters. Clear them to see everything.' : undefined}
          </EmptyState>
        }
        columns={[
          {
            header: 'When',
            className: 'nowrap',
            title: (e) => formatTime(e.at),
            cell: (e) => timeAgo(e.at),
          },
          { header: 'Who', cell: (e) => e.actor.name },
          { header: 'Action', cell: (e) => humanizeAction(e.action) },
          {
            header: 'Target',
            className: 'wrap',
            cell: (e) => (
              <>
                {e.target.name ?? e.target.id ?? <span className="muted">{e.target.kind}</span>}
                {e.target.name && e.target.kind && (
                  <span className="muted"> ({e.target.kind})</span>
                )}
              </>
            ),
          },
          {
            header: 'Result',
            cell: (e) => (
              <Badge
                tone={e.result === 'success' ? 'green' : e.result === 'denied' ? 'amber' : 'red'}
              >
                {e.result}
              </Badge>
            ),
          },
          { header: 'From', className: 'muted', cell: (e) => e.sourceIp },
        ]}
      />
    </>
  );
}
