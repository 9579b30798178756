import type { Keyring } from '../crypto/keyring.js';
import type { KubeEventRecord, KubeRecording, Page } from '../models.js';
import type { Db } from './db.js';
import { afterKey, toPage } from './pages.js';
import { containsPattern, likeIgnoringCase } from './search.js';
import { KUBE_RECORDING_CHUNK } from './sealed-columns.js';
import { ValidationError } from '../../shared/errors.js';

/**
 * Stores events not stored yet (by id) and returns those it stored: a batch delivered again
 * after a lost answer adds nothing.
 */
export async function createKubeEvents(
  db: Db,
  events: KubeEventRecord[],
): Promise<KubeEventRecord[]> {
  if (events.length === 0) return [];
  const rows = await db
    .insertInto('kubeEvents')
    .values(events.map((e) => ({ ...e, event: JSON.stringify(e.event) })))
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .execute();
  const stored = new Set(rows.map((r) => r.id));
  return events.filter((e) => stored.has(e.id));
}

interface ListKubeEventsOptions {
  byUserId?: string;
  byUserName?: string;
  byDestination?: string;
  byNamespace?: string;
  byVerb?: string;
  byResource?: string;
  byStatus?: number;
  since?: number;
  until?: number;
  /** Cursor: `next` of the previous page (pages go newest first). */
  after?: string;
  limit: number;
}

/** A cursor `<at>/<id>`: the sort key of the last item of a page. */
function parseCursor(after: string | undefined): { at: number; id: string } | undefined {
  const key = afterKey(after);
  if (key === undefined) return undefined;
  const m = /^(\d{1,15})\/(.+)$/.exec(key);
  if (!m) {
    throw new ValidationError([
      { field: 'after', errors: ['is not the next value of a previous page'] },
    ]);
  }
  return { at: Number(m[1]), id: m[2]! };
}

export async function listKubeEvents(
  db: Db,
  opts: ListKubeEventsOptions,
): Promise<Page<KubeEventRecord>> {
  let q = db.selectFrom('kubeEvents').selectAll();
  if (opts.byUserId !== undefined) q = q.where('userId', '=', opts.byUserId);
  if (opts.byUserName !== undefined)
    q = q.where(likeIgnoringCase(db, 'userName', containsPattern(opts.byUserName)));
  if (opts.byDestination !== undefined) q = q.where('destination', '=', opts.byDestination);
  if (opts.byNamespace !== undefined) q = q.where('namespace', '=', opts.byNamespace);
  if (opts.byVerb !== undefined) q = q.where('verb', '=', opts.byVerb);
  if (opts.byResource !== undefined) q = q.where('resource', '=', opts.byResource);
  if (opts.byStatus !== undefined) q = q.where('status', '=', opts.byStatus);
  if (opts.since !== undefined) q = q.where('at', '>=', opts.since);
  if (opts.until !== undefined) q = q.where('at', '<', opts.until);
  const cursor = parseCursor(opts.after);
  if (cursor) {
    q = q.where((eb) =>
      eb.or([
        eb('at', '<', cursor.at),
        eb.and([eb('at', '=', cursor.at), eb('id', '<', cursor.id)]),
      ]),
    );
  }
  const rows = await q
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(opts.limit + 1)
    .execute();
  const items = rows.map((r) => ({
    ...r,
    at: Number(r.at),
    status: r.status === null ? null : Number(r.status),
    event: JSON.parse(r.event) as Record<string, unknown>,
  }));
  return toPage(items, opts.limit, (e) => `${e.at}/${e.id}`);
}

/** The row of a recording, created by its first chunk and completed by its last. */
export async function saveKubeRecording(db: Db, recording: KubeRecording): Promise<void> {
  const { command, stdinRecorded, ...rest } = recording;
  const values = {
    ...rest,
    command: JSON.stringify(command),
    stdinRecorded: stdinRecorded ? 1 : 0,
  };
  await db
    .insertInto('kubeRecordings')
    .values(values)
    .onConflict((oc) =>
      recording.endedAt === null
        ? oc.column('id').doNothing()
        : oc
            .column('id')
            .doUpdateSet({ endedAt: recording.endedAt, exitCode: recording.exitCode })
            .where('kubeRecordings.destination', '=', recording.destination),
    )
    .execute();
}

/** Stores a chunk of a recording's asciicast, sealed; a chunk delivered again is ignored. */
export async function saveKubeRecordingChunk(
  db: Db,
  keyring: Keyring,
  chunk: { recordingId: string; seq: number; data: string },
): Promise<void> {
  const context = KUBE_RECORDING_CHUNK.context({
    recording_id: chunk.recordingId,
    seq: String(chunk.seq),
  });
  await db
    .insertInto('kubeRecordingChunks')
    .values({ ...chunk, data: keyring.seal(chunk.data, context) })
    .onConflict((oc) => oc.columns(['recordingId', 'seq']).doNothing())
    .execute();
}

function recordingFromRow(r: {
  id: string;
  destination: string;
  userId: string;
  userName: string;
  namespace: string;
  pod: string;
  container: string;
  command: string;
  subresource: string;
  stdinRecorded: number;
  startedAt: number;
  endedAt: number | null;
  exitCode: number | null;
}): KubeRecording {
  return {
    ...r,
    command: JSON.parse(r.command) as string[],
    stdinRecorded: Number(r.stdinRecorded) === 1,
    startedAt: Number(r.startedAt),
    endedAt: r.endedAt === null ? null : Number(r.endedAt),
    exitCode: r.exitCode === null ? null : Number(r.exitCode),
  };
}

interface ListKubeRecordingsOptions {
  byUserId?: string;
  byUserName?: string;
  byDestination?: string;
  byNamespace?: string;
  since?: number;
  until?: number;
  after?: string;
  limit: number;
}

export async function listKubeRecordings(
  db: Db,
  opts: ListKubeRecordingsOptions,
): Promise<Page<KubeRecording>> {
  let q = db.selectFrom('kubeRecordings').selectAll();
  if (opts.byUserId !== undefined) q = q.where('userId', '=', opts.byUserId);
  if (opts.byUserName !== undefined)
    q = q.where(likeIgnoringCase(db, 'userName', containsPattern(opts.byUserName)));
  if (opts.byDestination !== undefined) q = q.where('destination', '=', opts.byDestination);
  if (opts.byNamespace !== undefined) q = q.where('namespace', '=', opts.byNamespace);
  if (opts.since !== undefined) q = q.where('startedAt', '>=', opts.since);
  if (opts.until !== undefined) q = q.where('startedAt', '<', opts.until);
  const cursor = parseCursor(opts.after);
  if (cursor) {
    q = q.where((eb) =>
      eb.or([
        eb('startedAt', '<', cursor.at),
        eb.and([eb('startedAt', '=', cursor.at), eb('id', '<', cursor.id)]),
      ]),
    );
  }
  const rows = await q
    .orderBy('startedAt', 'desc')
    .orderBy('id', 'desc')
    .limit(opts.limit + 1)
    .execute();
  return toPage(rows.map(recordingFromRow), opts.limit, (r) => `${r.startedAt}/${r.id}`);
}

export async function getKubeRecording(db: Db, id: string): Promise<KubeRecording | undefined> {
  const row = await db
    .selectFrom('kubeRecordings')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row && recordingFromRow(row);
}

/** A recording's asciicast: its chunks opened and joined in order. */
export async function getKubeRecordingCast(db: Db, keyring: Keyring, id: string): Promise<string> {
  const rows = await db
    .selectFrom('kubeRecordingChunks')
    .select(['seq', 'data'])
    .where('recordingId', '=', id)
    .orderBy('seq')
    .execute();
  const parts: string[] = [];
  for (const r of rows) {
    const context = KUBE_RECORDING_CHUNK.context({ recording_id: id, seq: String(r.seq) });
    parts.push(await keyring.openLatest(r.data, context));
  }
  return parts.join('');
}

/** Removes events and recordings older than `before` (the retention). */
export async function removeOldKubeAudit(
  db: Db,
  before: number,
): Promise<{ events: number; recordings: number }> {
  const events = await db.deleteFrom('kubeEvents').where('at', '<', before).executeTakeFirst();
  const old = db.selectFrom('kubeRecordings').select('id').where('startedAt', '<', before);
  await db.deleteFrom('kubeRecordingChunks').where('recordingId', 'in', old).execute();
  const recordings = await db
    .deleteFrom('kubeRecordings')
    .where('startedAt', '<', before)
    .executeTakeFirst();
  return {
    events: Number(events.numDeletedRows),
    recordings: Number(recordings.numDeletedRows),
  };
}
