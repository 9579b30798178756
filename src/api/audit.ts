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

export const listAudit = endpoint({
  ...routes.listAudit,
  summary: 'The audit log, newest first',
  tag: 'Audit',
  auth: { roles: ['admin', 'auditor'] },
  input: z
    .object({
      actor: idOf('user').optional(),
      action: text(64).optional(),
      target: text(64).optional().describe('Id of the changed object'),
      since: Time.optional(),
      until: Time.optional(),
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
