import type { KubeEventInput, KubeRecording as ApiKubeRecording } from '../../api/kube-audit.js';
import { AppError, NotFoundError, assertThat } from '../../shared/errors.js';
import * as data from '../data/kube-audit.js';
import type { Db } from '../data/db.js';
import type { KubeEventRecord, KubeRecording, Page } from '../models.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';
import { checkConnectorDestination } from './destinations.js';

/** Millisecond time of an event's RFC 3339 timestamp (microseconds are dropped). */
function millis(time: string): number {
  return Date.parse(time);
}

export async function createKubeEvents(
  ctx: RequestContext,
  input: { destination: string; events: KubeEventInput[] },
): Promise<{ accepted: number; duplicates: number }> {
  checkConnectorDestination(actorOf(ctx), input.destination);
  ctx.presence.seen(input.destination);
  // Kube events are their own log; the API audit log would get an entry per batch otherwise.
  ctx.unchanged();
  const records: KubeEventRecord[] = input.events.map((e) => ({
    id: `${e.auditID}/${e.stage}`,
    at: millis(e.stageTimestamp),
    destination: input.destination,
    userId: e.user.uid ?? '',
    userName: e.user.username,
    verb: e.verb,
    namespace: e.objectRef?.namespace ?? '',
    resource: e.objectRef?.resource ?? '',
    status: e.responseStatus?.code ?? null,
    event: { ...e, destination: input.destination },
  }));
  // The same event twice in one batch counts once.
  const unique = [...new Map(records.map((r) => [r.id, r])).values()];
  const stored = await data.createKubeEvents(ctx.db, unique);
  // Only what is committed goes out: a batch that rolls back is sent again by the connector.
  ctx.afterCommit(() => ctx.kubeAudit.exportEvents(stored));
  return { accepted: stored.length, duplicates: input.events.length - stored.length };
}

/**
 * The user a search is narrowed to: callers without admin or auditor on infra see only their
 * own requests and sessions, asked for or not.
 */
export function ownUser(ctx: RequestContext, user: string | undefined): string | undefined {
  const actor = actorOf(ctx);
  const seesAll = actor.roles.has('admin') || actor.roles.has('auditor');
  const userId =
    user !== undefined ? resolveUserRef(ctx, user) : seesAll ? undefined : actor.userId;
  ctx.authorize(userId === actor.userId);
  return userId;
}

/** What events and recordings are both searched by: whose, where, when, and the page. */
interface AuditFilters {
  user?: string;
  userName?: string;
  destination?: string;
  namespace?: string;
  since?: string;
  until?: string;
  after?: string;
  limit: number;
}

export function listKubeEvents(
  ctx: RequestContext,
  input: AuditFilters & { verb?: string; resource?: string; status?: number },
): Promise<Page<KubeEventRecord>> {
  return data.listKubeEvents(ctx.db, {
    ...sharedFilters(ctx, input),
    byVerb: input.verb,
    byResource: input.resource,
    byStatus: input.status,
  });
}

/** The filters events and recordings share: whose (others than admins and auditors: their own), where, when, and the page. */
function sharedFilters(ctx: RequestContext, input: AuditFilters) {
  return {
    byUserId: ownUser(ctx, input.user),
    byUserName: input.userName,
    byDestination: input.destination,
    byNamespace: input.namespace,
    since: input.since === undefined ? undefined : Date.parse(input.since),
    until: input.until === undefined ? undefined : Date.parse(input.until),
    after: input.after,
    limit: input.limit,
  };
}

/** Removes what is older than the retention. */
export function removeOldKubeAudit(
  db: Db,
  now: number,
  retentionMs: number,
): Promise<{ events: number; recordings: number }> {
  return data.removeOldKubeAudit(db, now - retentionMs);
}

export async function createKubeRecordingChunk(
  ctx: RequestContext,
  input: {
    destination: string;
    id: string;
    seq: number;
    data: string;
    recording: Omit<ApiKubeRecording, 'id' | 'destination'>;
  },
): Promise<void> {
  checkConnectorDestination(actorOf(ctx), input.destination);
  ctx.unchanged();
  // A recording is its destination's: another destination's connector, knowing its id, may
  // neither add to it nor change its end.
  const existing = await data.getKubeRecording(ctx.db, input.id);
  assertThat(
    existing === undefined || existing.destination === input.destination,
    () =>
      new AppError(
        'forbidden',
        `recording ${input.id} is not one of destination ${input.destination}`,
      ),
  );
  const r = input.recording;
  await data.saveKubeRecording(ctx.db, {
    id: input.id,
    destination: input.destination,
    userId: r.user.uid ?? '',
    userName: r.user.username,
    namespace: r.namespace,
    pod: r.pod,
    container: r.container,
    command: r.command,
    subresource: r.subresource,
    stdinRecorded: r.stdinRecorded,
    startedAt: Date.parse(r.startedAt),
    endedAt: r.endedAt === undefined ? null : Date.parse(r.endedAt),
    exitCode: r.exitCode ?? null,
  });
  await data.saveKubeRecordingChunk(ctx.db, ctx.kubeAudit.keyring, {
    recordingId: input.id,
    seq: input.seq,
    data: input.data,
  });
}

export function listKubeRecordings(
  ctx: RequestContext,
  input: AuditFilters,
): Promise<Page<KubeRecording>> {
  return data.listKubeRecordings(ctx.db, sharedFilters(ctx, input));
}

/** A recording and its asciicast. To others than admins and auditors, missing ones are 403s too. */
export async function getKubeRecording(
  ctx: RequestContext,
  id: string,
): Promise<{ recording: KubeRecording; cast: string }> {
  const actor = actorOf(ctx);
  const recording = await data.getKubeRecording(ctx.db, id);
  ctx.authorize(recording?.userId === actor.userId);
  assertThat(recording, () => new NotFoundError('recording'));
  return { recording, cast: await data.getKubeRecordingCast(ctx.db, ctx.kubeAudit.keyring, id) };
}
