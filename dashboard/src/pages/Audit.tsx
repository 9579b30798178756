import { routes } from '../../../src/api/routes.js';
import { apiRequest } from '../../../src/api/request.js';
import { call, type AuditEntry } from '../api';
import { Button } from '../components/Button';
import { Badge, EmptyState } from '../components/Feedback';
import { FilterSearch } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
import { formatTime, humanizeAction, timeAgo } from '../lib/format';
import { clearSearchParams, usePaged, useSearchBox, useSearchParam, useTitle } from '../lib/hooks';

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

/** Ids carry their kind (`usr_…`, `grp_…`): a target typed like one is looked up by id. */
const ID = /^[a-z]{3}_[A-Za-z0-9]+$/;

/**
 * The audit log, newest first: filter by who acted and what they changed (by name, or a target
 * by id), by action and by date range, all kept in the address; export what the filters find.
 */
export function AuditPage() {
  useTitle('Audit log');
  const [action, setAction] = useSearchParam('action');
  const actor = useSearchBox('who');
  const target = useSearchBox('target');
  const [since, setSince] = useSearchParam('from');
  const [until, setUntil] = useSearchParam('to');
  const filters = {
    action: action || undefined,
    actorName: actor.value || undefined,
    ...(ID.test(target.value)
      ? { target: target.value }
      : { targetName: target.value || undefined }),
    since: fromDate(since, false),
    until: fromDate(until, true),
  };
  const list = usePaged<AuditEntry>(
    (after, signal) => call('listAudit', { ...filters, after, limit: 100 }, { signal }),
    [action, actor.value, target.value, since, until],
  );
  const filtered = Boolean(action || actor.value || target.value || since || until);
  const exportUrl = (format: 'csv' | 'jsonl') =>
    apiRequest(routes.exportAudit, { ...filters, format }).path;

  return (
    <>
      <PageHeader
        title="Audit log"
        description="Every change made through the API, newest first. Entries are hash-chained and cannot be edited."
        actions={
          <>
            <a className="btn btn-secondary" href={exportUrl('csv')} download>
              Export CSV
            </a>
            <a className="btn btn-secondary" href={exportUrl('jsonl')} download>
              Export JSON lines
            </a>
          </>
        }
      />
      <form className="toolbar filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <FilterSearch label="Who" box={actor} placeholder="alice@…" />
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
        <FilterSearch label="Target" box={target} placeholder="Name or id" />
        <label className="inline-field">
          <span>From</span>
          <input type="date" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="inline-field">
          <span>To</span>
          <input type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        {filtered && (
          <Button size="sm" variant="ghost" onClick={clearSearchParams}>
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
