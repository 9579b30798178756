import * as data from '../data/audit.js';
import type { AuditEntry, Page } from '../models.js';
import type { RequestContext } from './context.js';

interface AuditFilterInput {
  actor?: string;
  actorName?: string;
  action?: string;
  target?: string;
  targetName?: string;
  since?: string;
  until?: string;
}

function filters(input: AuditFilterInput): data.AuditFilters {
  return {
    byActorId: input.actor,
    byActorName: input.actorName,
    byAction: input.action,
    byTargetId: input.target,
    byTargetName: input.targetName,
    since: input.since === undefined ? undefined : Date.parse(input.since),
    until: input.until === undefined ? undefined : Date.parse(input.until),
  };
}

export function listAudit(
  ctx: RequestContext,
  input: AuditFilterInput & { after?: string; limit: number },
): Promise<Page<AuditEntry>> {
  return data.listAudit(ctx.db, { ...filters(input), after: input.after, limit: input.limit });
}

/** Every entry the filters find, newest first, read as it is sent. */
export function exportAudit(
  ctx: RequestContext,
  input: AuditFilterInput,
): AsyncIterable<AuditEntry> {
  return data.readAudit(ctx.db, filters(input));
}

export function verifyAudit(ctx: RequestContext): Promise<data.AuditVerification> {
  return data.verifyAudit(ctx.db);
}
