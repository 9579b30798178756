import * as data from '../data/audit.js';
import type { AuditEntry, Page } from '../models.js';
import type { RequestContext } from './context.js';

export function listAudit(
  ctx: RequestContext,
  input: {
    actor?: string;
    action?: string;
    target?: string;
    since?: string;
    until?: string;
    after?: string;
    limit: number;
  },
): Promise<Page<AuditEntry>> {
  return data.listAudit(ctx.db, {
    byActorId: input.actor,
    byAction: input.action,
    byTargetId: input.target,
    since: input.since === undefined ? undefined : Date.parse(input.since),
    until: input.until === undefined ? undefined : Date.parse(input.until),
    after: input.after,
    limit: input.limit,
  });
}

export function verifyAudit(ctx: RequestContext): Promise<data.AuditVerification> {
  return data.verifyAudit(ctx.db);
}
