import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/audit.js';
import type { AuditEntry } from '../models.js';
import { auditToApi, pageToApi } from './convert.js';
import { Download, type Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listAudit: H<'listAudit'> = async (ctx, input) =>
  pageToApi(await access.listAudit(ctx, input), input.limit, auditToApi);

export const verifyAudit: H<'verifyAudit'> = async (ctx) => access.verifyAudit(ctx);

const CSV_COLUMNS = [
  'seq',
  'at',
  'actor_id',
  'actor_name',
  'action',
  'target_kind',
  'target_id',
  'target_name',
  'source_ip',
  'result',
  'details',
  'hash',
];

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled.
 * A cell a spreadsheet would run as a formula (starting with = + - @, tab or carriage return)
 * gets a leading `'`, so opening the export cannot run what someone typed into a name.
 */
export function csvCell(value: string | number | null): string {
  let s = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csvRow(e: AuditEntry): string {
  const a = auditToApi(e);
  const cells = [
    a.seq,
    a.at,
    a.actor.id,
    a.actor.name,
    a.action,
    a.target.kind,
    a.target.id,
    a.target.name,
    a.sourceIp,
    a.result,
    JSON.stringify(a.details),
    a.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

async function* csvLines(entries: AsyncIterable<AuditEntry>): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  for await (const e of entries) yield csvRow(e);
}

async function* jsonLines(entries: AsyncIterable<AuditEntry>): AsyncGenerator<string> {
  for await (const e of entries) yield `${JSON.stringify(auditToApi(e))}\n`;
}

export const exportAudit: H<'exportAudit'> = async (ctx, input) => {
  const entries = access.exportAudit(ctx, input);
  const stamp = new Date(ctx.clock.now()).toISOString().slice(0, 19).replaceAll(':', '-');
  return input.format === 'csv'
    ? new Download('text/csv; charset=utf-8', `audit-${stamp}.csv`, csvLines(entries))
    : new Download('application/x-ndjson', `audit-${stamp}.jsonl`, jsonLines(entries));
};
