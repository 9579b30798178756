import { createHash } from 'node:crypto';
import { ValidationError } from '../../shared/errors.js';
import type { AuditEntry, Page } from '../models.js';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';
import { afterKey, toPage } from './pages.js';
import { containsPattern, likeIgnoringCase } from './search.js';

type NewAuditEntry = Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>;

const GENESIS = '0'.repeat(64);

/** The hash that links an entry to the one before it. */
function auditHash(
  prevHash: string,
  row: Omit<AuditEntry, 'hash' | 'prevHash' | 'details'> & { details: string },
): string {
  const fields = [
    row.seq,
    row.at,
    row.actorId,
    row.actorName,
    row.action,
    row.targetKind,
    row.targetId,
    row.targetName,
    row.sourceIp,
    row.result,
    row.details,
  ];
  return createHash('sha256')
    .update(`${prevHash}\n${JSON.stringify(fields)}`)
    .digest('hex');
}

/**
 * Locks the head of the chain for the rest of the caller's transaction (on PostgreSQL; SQLite has
 * one writer anyway). Write transactions take it first, so they run one after another across
 * replicas: the log stays one chain, and checks such as "an admin remains" see every commit.
 */
export async function lockAuditHead(tx: Db): Promise<void> {
  if (isPostgres(tx)) {
    await tx.selectFrom('auditHead').select('seq').where('id', '=', 1).forUpdate().execute();
  }
}

/** Appends an entry to the hash-chained log, in the caller's transaction. */
export async function appendAudit(tx: Db, entry: NewAuditEntry): Promise<AuditEntry> {
  await lockAuditHead(tx);
  const prev = await tx
    .selectFrom('auditHead')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  const seq = Number(prev.seq) + 1;
  const details = JSON.stringify(entry.details);
  const hash = auditHash(prev.hash, { ...entry, seq, details });
  await tx
    .insertInto('auditLog')
    .values({ ...entry, seq, details, prevHash: prev.hash, hash })
    .execute();
  await tx.updateTable('auditHead').set({ seq, hash }).where('id', '=', 1).execute();
  return { ...entry, seq, prevHash: prev.hash, hash };
}

export interface AuditFilters {
  byActorId?: string;
  /** Entries whose actor's name contains this, ignoring case. */
  byActorName?: string;
  byAction?: string;
  byTargetId?: string;
  /** Entries whose target's name contains this, ignoring case. */
  byTargetName?: string;
  since?: number;
  until?: number;
}

interface ListAuditOptions extends AuditFilters {
  since?: number;
  until?: number;
  /** Cursor: `next` of the previous page (pages go newest first). */
  after?: string;
  limit: number;
}

export async function listAudit(db: Db, opts: ListAuditOptions): Promise<Page<AuditEntry>> {
  let q = db.selectFrom('auditLog').selectAll();
  if (opts.byActorId !== undefined) q = q.where('actorId', '=', opts.byActorId);
  if (opts.byActorName !== undefined)
    q = q.where(likeIgnoringCase(db, 'actorName', containsPattern(opts.byActorName)));
  if (opts.byAction !== undefined) q = q.where('action', '=', opts.byAction);
  if (opts.byTargetId !== undefined) q = q.where('targetId', '=', opts.byTargetId);
  if (opts.byTargetName !== undefined)
    q = q.where(likeIgnoringCase(db, 'targetName', containsPattern(opts.byTargetName)));
  if (opts.since !== undefined) q = q.where('at', '>=', opts.since);
  if (opts.until !== undefined) q = q.where('at', '<', opts.until);
  const after = afterKey(opts.after);
  if (after !== undefined) {
    if (!/^\d{1,15}$/.test(after)) {
      throw new ValidationError([
        { field: 'after', errors: ['is not the next value of a previous page'] },
      ]);
    }
    q = q.where('seq', '<', Number(after));
  }
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(opts.limit + 1)
    .execute();
  const entries = rows.map((r) => ({
    ...r,
    seq: Number(r.seq),
    result: r.result as AuditEntry['result'],
    details: JSON.parse(r.details) as Record<string, unknown>,
  }));
  return toPage(entries, opts.limit, (e) => String(e.seq));
}

/** Rows an export reads at a time: memory stays bounded whatever the log's length. */
const EXPORT_BATCH = 1000;

/**
 * Every entry the filters find, newest first, read a batch at a time. Entries appended while it
 * runs are after the first batch's newest and are left out: the export is the log as it was.
 */
export async function* readAudit(db: Db, filters: AuditFilters): AsyncGenerator<AuditEntry> {
  let after: string | undefined;
  do {
    const page = await listAudit(db, { ...filters, after, limit: EXPORT_BATCH });
    yield* page.items;
    after = page.next;
  } while (after !== undefined);
}

export interface AuditVerification {
  valid: boolean;
  checked: number;
  /** The first entry whose hash or link does not match, when the chain is broken. */
  firstInvalidSeq?: number;
}

/** Recomputes the whole chain, oldest first, in batches. */
export async function verifyAudit(db: Db): Promise<AuditVerification> {
  let prevHash = GENESIS;
  let expectedSeq = 1;
  let checked = 0;
  for (;;) {
    const rows = await db
      .selectFrom('auditLog')
      .selectAll()
      .where('seq', '>=', expectedSeq)
      .orderBy('seq')
      .limit(1000)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      const seq = Number(r.seq);
      const result = r.result as AuditEntry['result'];
      if (
        seq !== expectedSeq ||
        r.prevHash !== prevHash ||
        auditHash(prevHash, { ...r, seq, result }) !== r.hash
      ) {
        return { valid: false, checked, firstInvalidSeq: expectedSeq };
      }
      prevHash = r.hash;
      expectedSeq++;
      checked++;
    }
  }
  const head = await db
    .selectFrom('auditHead')
    .select(['seq', 'hash'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
  if (Number(head.seq) !== checked || head.hash !== prevHash) {
    // Rows were removed from the end (or the head was edited).
    return { valid: false, checked, firstInvalidSeq: checked + 1 };
  }
  return { valid: true, checked };
}
