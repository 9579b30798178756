import { CliError, withClient, type CliIO } from '../context.js';
import { humanTime, printList, printValue, type OutputFormat } from '../output.js';

type Output = { output: OutputFormat };

interface EventFilters {
  user?: string;
  cluster?: string;
  namespace?: string;
  verb?: string;
  resource?: string;
  status?: string;
  since?: string;
  until?: string;
  limit: string;
}

/** `2h`, `3d` ago, or an RFC 3339 time, as the API's time. */
function timeArg(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)([mhd])$/.exec(text);
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    return new Date(Date.now() - Number(m[1]) * unit).toISOString();
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new CliError(`--${name} must be a time such as 2026-03-01T10:00:00Z, or 2h or 3d ago`, 2);
  return new Date(ms).toISOString();
}

function limitArg(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new CliError('--limit must be a whole number from 1 to 1000', 2);
  return n;
}

/** `infra audit kube`: requests to clusters, newest first. */
export async function kubeEvents(io: CliIO, opts: EventFilters & Output): Promise<void> {
  const status = opts.status === undefined ? undefined : Number(opts.status);
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 599))
    throw new CliError('--status must be an HTTP status such as 403', 2);
  const page = await withClient(io, (c) =>
    c.listKubeEvents({
      userName: opts.user,
      destination: opts.cluster,
      namespace: opts.namespace,
      verb: opts.verb,
      resource: opts.resource,
      status,
      since: timeArg('since', opts.since),
      until: timeArg('until', opts.until),
      limit: limitArg(opts.limit),
    }),
  );
  printList(io.stdout, opts.output, page.items, {
    headers: ['Time', 'User', 'Cluster', 'Verb', 'Resource', 'Status', 'Stage'],
    row: (e) => {
      const ref = e.objectRef;
      const what = ref
        ? [
            ref.namespace,
            [ref.resource, ref.subresource].filter(Boolean).join('/') +
              (ref.name ? ` ${ref.name}` : ''),
          ]
            .filter(Boolean)
            .join(': ')
        : e.requestURI;
      return [
        humanTime(e.stageTimestamp),
        e.user.username,
        e.destination,
        e.verb,
        what,
        String(e.responseStatus?.code ?? ''),
        e.stage === 'ResponseStarted' ? 'started' : 'done',
      ];
    },
    name: (e) => e.auditID,
    empty: 'No Kubernetes requests match',
  });
  if (page.next && opts.output === 'table')
    io.stderr.write(`More requests match; narrow with --since, --until or filters.\n`);
}

/** `infra recordings list`: recorded exec and attach sessions. */
export async function listRecordings(
  io: CliIO,
  opts: { user?: string; cluster?: string; namespace?: string; limit: string } & Output,
): Promise<void> {
  const page = await withClient(io, (c) =>
    c.listKubeRecordings({
      userName: opts.user,
      destination: opts.cluster,
      namespace: opts.namespace,
      limit: limitArg(opts.limit),
    }),
  );
  printList(io.stdout, opts.output, page.items, {
    headers: ['ID', 'Started', 'User', 'Cluster', 'Pod', 'Command', 'Exit'],
    row: (r) => [
      r.id,
      humanTime(r.startedAt),
      r.user.username,
      r.destination,
      `${r.namespace}/${r.pod}${r.container ? ` (${r.container})` : ''}`,
      r.command.join(' '),
      r.exitCode === undefined ? (r.endedAt ? '' : 'running') : String(r.exitCode),
    ],
    name: (r) => r.id,
    empty: 'No recorded sessions',
  });
}

/**
 * `infra recordings play ID`: writes the session's output to the terminal with its timing,
 * `speed` times faster. `-o json` prints the recording and its asciicast instead.
 */
export async function playRecording(
  io: CliIO,
  id: string,
  opts: { speed: string; output?: 'json' | 'yaml' },
): Promise<void> {
  const speed = Number(opts.speed);
  if (!(speed > 0 && speed <= 1000)) throw new CliError('--speed must be more than 0', 2);
  const recording = await withClient(io, (c) => c.getKubeRecording({ id }));
  if (opts.output) return printValue(io.stdout, opts.output, recording);
  const [, ...lines] = recording.cast.split('\n');
  let previous = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const [time, code, data] = JSON.parse(line) as [number, string, string];
    if (code !== 'o') continue;
    const wait = ((time - previous) * 1000) / speed;
    previous = time;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    io.stdout.write(data);
  }
  const end =
    recording.exitCode === undefined ? 'ended' : `ended with exit status ${recording.exitCode}`;
  io.stderr.write(`\nSession of ${recording.user.username} on ${recording.destination} ${end}.\n`);
}
