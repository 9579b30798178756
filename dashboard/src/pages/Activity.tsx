import { useEffect, useRef } from 'react';
import { call, type Output } from '../api';
import { Button } from '../components/Button';
import { Badge, EmptyState, ErrorNotice, SkeletonBlock } from '../components/Feedback';
import { FilterSearch } from '../components/Field';
import { PageHeader } from '../components/Layout';
import { PagedTable } from '../components/PagedTable';
import { formatTime, timeAgo } from '../lib/format';
import {
  clearSearchParams,
  usePaged,
  useQuery,
  useSearchBox,
  useSearchParam,
  useTitle,
} from '../lib/hooks';
import { Link } from '../lib/router';
import { useSession } from '../lib/session';

type KubeEvent = Output<'listKubeEvents'>['items'][number];
type Recording = Output<'listKubeRecordings'>['items'][number];

const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

/** `pods/exec web-1 in default`: what a request touched. */
function what(e: KubeEvent): string {
  const o = e.objectRef;
  if (!o?.resource) return e.requestURI;
  const resource = o.subresource ? `${o.resource}/${o.subresource}` : o.resource;
  return [resource, o.name, o.namespace ? `in ${o.namespace}` : undefined]
    .filter(Boolean)
    .join(' ');
}

function StatusBadge({ code }: { code: number | undefined }) {
  if (code === undefined) return <span className="muted">—</span>;
  return (
    <Badge tone={code < 400 ? 'green' : code === 403 || code === 401 ? 'amber' : 'red'}>
      {code}
    </Badge>
  );
}

/**
 * What people did in the clusters, as their connectors recorded it: every request (watches and
 * exec sessions start and end), filtered by who, cluster, namespace, verb and resource, kept in
 * the address; and the recorded exec and attach sessions. Admins see everyone's; others their own.
 */
export function ActivityPage() {
  useTitle('Cluster activity');
  const { isAdmin } = useSession();
  const who = useSearchBox('who');
  const cluster = useSearchBox('cluster');
  const namespace = useSearchBox('ns');
  const resource = useSearchBox('resource');
  const [verb, setVerb] = useSearchParam('verb');
  const mine = isAdmin ? {} : { user: 'self' };
  const filters = {
    ...mine,
    userName: isAdmin ? who.value || undefined : undefined,
    destination: cluster.value || undefined,
    namespace: namespace.value || undefined,
    resource: resource.value || undefined,
    verb: verb || undefined,
  };
  const deps = [isAdmin, who.value, cluster.value, namespace.value, resource.value, verb];
  const events = usePaged<KubeEvent>(
    (after, signal) => call('listKubeEvents', { ...filters, after, limit: 100 }, { signal }),
    deps,
  );
  const recordings = usePaged<Recording>(
    (after, signal) =>
      call(
        'listKubeRecordings',
        {
          ...mine,
          userName: filters.userName,
          destination: filters.destination,
          namespace: filters.namespace,
          after,
          limit: 20,
        },
        { signal },
      ),
    deps,
  );
  const filtered = Boolean(who.value || cluster.value || namespace.value || resource.value || verb);

  return (
    <>
      <PageHeader
        title="Cluster activity"
        description={
          isAdmin
            ? 'Every request people made to the clusters through Infra, newest first, and their recorded exec sessions.'
            : 'Your requests to the clusters through Infra, newest first, and your recorded exec sessions.'
        }
      />
      <form className="toolbar filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        {isAdmin && <FilterSearch label="Who" box={who} placeholder="alice" />}
        <FilterSearch label="Cluster" box={cluster} />
        <FilterSearch label="Namespace" box={namespace} />
        <label className="inline-field">
          <span>Verb</span>
          <select value={verb} onChange={(e) => setVerb(e.target.value)}>
            <option value="">All verbs</option>
            {VERBS.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <FilterSearch label="Resource" box={resource} placeholder="pods, secrets…" />
        {filtered && (
          <Button size="sm" variant="ghost" onClick={clearSearchParams}>
            Clear filters
          </Button>
        )}
      </form>
      <section className="section">
        <h2>Recorded sessions</h2>
        <PagedTable
          list={recordings}
          rowKey={(r) => r.id}
          caption="Recorded exec and attach sessions"
          noun="sessions"
          errorTitle="Could not load the recordings"
          empty={<p className="muted">No recorded exec or attach session.</p>}
          columns={[
            {
              header: 'When',
              className: 'nowrap',
              title: (r) => formatTime(r.startedAt),
              cell: (r) => <Link to={`/activity/recordings/${r.id}`}>{timeAgo(r.startedAt)}</Link>,
            },
            { header: 'Who', cell: (r) => r.user.username },
            { header: 'Cluster', cell: (r) => r.destination },
            { header: 'Pod', cell: (r) => `${r.pod} in ${r.namespace}` },
            {
              header: 'Command',
              className: 'wrap',
              cell: (r) => <code>{r.command.join(' ') || r.subresource}</code>,
            },
            {
              header: 'Exit',
              cell: (r) => (r.exitCode === undefined ? 'running or unknown' : r.exitCode),
            },
          ]}
        />
      </section>
      <section className="section">
        <h2>Requests</h2>
        <PagedTable
          list={events}
          rowKey={(e) => `${e.auditID}/${e.stage}`}
          caption="Requests to the clusters"
          noun="requests"
          errorTitle="Could not load the requests"
          empty={
            <EmptyState icon="audit" title={filtered ? 'No matching requests' : 'No requests yet'}>
              {filtered
                ? 'Nothing matches these filters. Clear them to see everything.'
                : undefined}
            </EmptyState>
          }
          columns={[
            {
              header: 'When',
              className: 'nowrap',
              title: (e) => formatTime(e.stageTimestamp),
              cell: (e) => timeAgo(e.stageTimestamp),
            },
            { header: 'Who', cell: (e) => e.user.username },
            { header: 'Cluster', cell: (e) => e.destination },
            {
              header: 'Verb',
              cell: (e) => (
                <>
                  {e.verb}
                  {e.stage === 'ResponseStarted' && <span className="muted"> (started)</span>}
                </>
              ),
            },
            { header: 'What', className: 'wrap', cell: what },
            { header: 'Status', cell: (e) => <StatusBadge code={e.responseStatus?.code} /> },
          ]}
        />
      </section>
    </>
  );
}

/** One recorded session, played in the browser by asciinema-player (loaded with this page). */
export function RecordingPage({ id }: { id: string }) {
  const recording = useQuery((signal) => call('getKubeRecording', { id }, { signal }), [id]);
  const r = recording.data;
  useTitle(r ? `${r.user.username} in ${r.pod}` : 'Recording');
  const screen = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!r || !screen.current) return;
    const element = screen.current;
    let player: { dispose(): void } | undefined;
    let gone = false;
    void Promise.all([
      import('asciinema-player'),
      import('asciinema-player/dist/bundle/asciinema-player.css'),
    ]).then(([{ create }]) => {
      if (!gone) player = create({ data: r.cast }, element, { fit: 'width', idleTimeLimit: 2 });
    });
    return () => {
      gone = true;
      player?.dispose();
    };
  }, [r]);

  return (
    <>
      <PageHeader
        back={{ to: '/activity', label: 'Cluster activity' }}
        title={
          r ? (
            `${r.subresource === 'attach' ? 'Attached' : 'Exec'} in ${r.pod}`
          ) : (
            <span className="skeleton" style={{ width: 220 }} />
          )
        }
        description={
          r && (
            <>
              {r.user.username} on {r.destination}, namespace {r.namespace}, container {r.container}
              , {formatTime(r.startedAt)}
            </>
          )
        }
      />
      {recording.error !== undefined ? (
        <ErrorNotice
          title="Could not load the recording"
          error={recording.error}
          onRetry={recording.reload}
        />
      ) : !r ? (
        <SkeletonBlock lines={6} />
      ) : (
        <>
          <dl className="facts">
            <div>
              <dt>Command</dt>
              <dd>
                <code>{r.command.join(' ') || '(the container’s own process)'}</code>
              </dd>
            </div>
            <div>
              <dt>Exit status</dt>
              <dd>{r.exitCode ?? 'unknown'}</dd>
            </div>
            <div>
              <dt>Typed input</dt>
              <dd>{r.stdinRecorded ? 'recorded' : 'not recorded'}</dd>
            </div>
          </dl>
          <div className="recording" ref={screen} aria-label="The session's terminal, replayed" />
        </>
      )}
    </>
  );
}
