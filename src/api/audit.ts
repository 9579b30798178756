import { z } from 'zod';
import { Paging, Time, idOf, text } from './common.js';
import { endpoint } from './endpoint.js';
import { routes } from './routes.js';

export const AuditEntry = z
  .object({
    seq: z.number().int(),
    at: Time,
    actor: z.object({ id: z.string().nullable(), name: z.string() }),
    action: z.string().describe('The API operation, such as createGrant'),
    target: z.object({ kind: z.string(), id: z.string().nullable(), name: z.string().nullable() }),
    sourceIp: z.string(),
    result: z.enum(['success', 'denied', 'failure']),
    details: z.record(z.string(), z.unknown()),
    hash: z.string().describe('SHA-256 linking this entry to the previous one'),
  })
  .meta({ id: 'AuditEntry' });

/** What the audit log can be filtered by, in the list and the export. */
const AuditFilters = {
  actor: idOf('user').optional(),
  actorName: text(254)
    .optional()
    .describe("Only entries whose actor's name contains this, ignoring case"),
  action: text(64).optional(),
  target: text(64).optional().describe('Id of the changed object'),
  targetName: text(512)
    .optional()
    .describe("Only entries whose target's name contains this, ignoring case"),
  since: Time.optional(),
  until: Time.optional(),
};

export const listAudit = endpoint({
  ...routes.listAudit,
  summary: 'The audit log, newest first',
  tag: 'Audit',
  auth: { roles: ['admin', 'auditor'] },
  input: z
    .object({
      ...AuditFilters,
      ...Paging,
    })
    .strict(),
  output: z.object({
    items: z.array(AuditEntry),
    count: z.number().int(),
    limit: z.number().int(),
    next: z.string().optional(),
  }),
});

export const exportAudit = endpoint({
  ...routes.exportAudit,
  summary: 'Every entry the filters find, newest first, as CSV or JSON lines (streamed)',
  tag: 'Audit',
  auth: { roles: ['admin'] },
  input: z
    .object({
      ...AuditFilters,
      format: z
        .enum(['csv', 'jsonl'], { error: 'must be csv or jsonl' })
        .default('jsonl')
        .describe('jsonl: one entry as JSON per line; csv: a header row, then one row per entry'),
    })
    .strict(),
  output: undefined,
  status: 200,
  produces: ['application/x-ndjson', 'text/csv'],
});

export const verifyAudit = endpoint({
  ...routes.verifyAudit,
  summary: 'Recompute the hash chain of the whole audit log',
  tag: 'Audit',
  auth: { roles: ['admin', 'auditor'] },
  input: z.object({}).strict(),
  output: z.object({
    valid: z.boolean(),
    checked: z.number().int(),
    firstInvalidSeq: z.number().int().optional(),
  }),
});
