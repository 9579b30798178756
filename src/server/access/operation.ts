import type { InfraRole } from '../../api/roles.js';
import type { Clock } from '../../shared/clock.js';
import {
  AppError,
  ForbiddenError,
  LoginRefusedError,
  UnauthenticatedError,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { PASSWORD_CHANGE_SCOPE, scimProvider } from '../models.js';
import type { Authenticator } from './authenticate.js';
import type { ChangeNotifier } from './changes.js';
import type {
  AccessSettings,
  Actor,
  AuditTarget,
  ExpiryScheduler,
  RequestContext,
  WebhookNotifier,
} from './context.js';
import type { KubeAuditStore } from './kube-audit-store.js';
import type { DestinationPresence } from './presence.js';
import type { ProviderService } from './provider-sync.js';
import type { AccessSnapshots } from './snapshots.js';
import type { SshAuthorities } from './ssh-authorities.js';
import type { TokenService } from './tokens.js';

/** What every operation runs against. */
export interface OperationDeps {
  /** Takes writes; reads inside write transactions. */
  db: Db;
  /** Serves plain reads. */
  readDb: Db;
  clock: Clock;
  log: Logger;
  settings: AccessSettings;
  /** Checks access keys, believing a verified one until something changes. */
  authenticator: Authenticator;
  tokens: TokenService;
  ssh: SshAuthorities;
  changes: ChangeNotifier;
  snapshots: AccessSnapshots;
  presence: DestinationPresence;
  providers: ProviderService;
  expiry: ExpiryScheduler;
  requestExpiry: ExpiryScheduler;
  webhook: WebhookNotifier;
  kubeAudit: KubeAuditStore;
}

/** An operation's declared access rule and how it runs. */
interface OperationSpec {
  /** The operation name (createGrant), used in errors and the audit log. */
  name: string;
  auth: 'public' | 'session' | { roles: readonly InfraRole[]; orSelf?: boolean };
  /** Changes something: runs in a transaction and is audited. */
  writes: boolean;
  duringPasswordChange?: boolean;
  /** A SCIM endpoint: the only kind a SCIM token may call. */
  scim?: boolean;
}

/** `createAccessKey` → `create access key`, for "you do not have permission to ...". */
function describeOperation(name: string): { verb: string; object: string } {
  const words = name
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase()
    .split(' ');
  return { verb: words[0]!, object: words.slice(1).join(' ') };
}

/** Checks a presented credential for an operation that needs one. */
export async function authenticateFor(
  deps: OperationDeps,
  spec: OperationSpec,
  presented: string | undefined,
): Promise<Actor | undefined> {
  if (spec.auth === 'public') return undefined;
  if (presented === undefined) throw new UnauthenticatedError('no access key or session cookie');
  const actor = await deps.authenticator.authenticate(presented);
  if (scimProvider(actor.scopes) !== undefined && spec.scim !== true) {
    throw new AppError(
      'forbidden',
      'a SCIM token can only provision users and groups at /api/scim/v2; it cannot use the rest of the API',
    );
  }
  if (actor.scopes.includes(PASSWORD_CHANGE_SCOPE) && !spec.duringPasswordChange) {
    throw new AppError(
      'password_change_required',
      'change your one-time password first (PUT /api/users/self)',
    );
  }
  // Someone removed at their identity provider loses the dashboard and the API too, not only
  // kubectl: their use re-checks them in the background, at most once per sync interval.
  if (actor.kind === 'user') deps.providers.syncInBackground(actor.userId);
  return actor;
}

/**
 * Runs an operation for an (already authenticated) caller: checks the declared roles, and for
 * writes opens the transaction, lets the operation work in it, appends the audit entry and
 * commits. Operations open to their own objects (`orSelf`) must call `ctx.authorize`; one that
 * does not fails closed. After a failed write, `afterRollback` work runs and refusals
 * (authentication, authorization) are audited in a transaction of their own.
 */
export async function runOperation<T>(
  deps: OperationDeps,
  spec: OperationSpec,
  request: {
    actor: Actor | undefined;
    sourceIp: string;
    origin: string;
    loginBinding?: string;
    log: Logger;
  },
  fn: (ctx: RequestContext, prepared: unknown) => Promise<T>,
  prepare?: (ctx: RequestContext) => Promise<unknown>,
): Promise<T> {
  const { actor } = request;
  const roles = typeof spec.auth === 'object' ? spec.auth.roles : undefined;
  const hasRole = !roles || (actor !== undefined && roles.some((r) => actor.roles.has(r)));
  const forbidden = () => {
    const { verb, object } = describeOperation(spec.name);
    return new ForbiddenError(verb, object, roles ?? []);
  };
  const orSelf = typeof spec.auth === 'object' && spec.auth.orSelf === true;
  if (!hasRole && !orSelf) {
    if (spec.writes) await auditRefusal(deps, spec, request, undefined, 'denied');
    throw forbidden();
  }

  let authorized = hasRole;
  let auditTarget: AuditTarget | undefined;
  let unchanged = false;
  const rollbackWork: Array<(db: Db) => Promise<void>> = [];
  const commitWork: Array<() => void> = [];
  const makeContext = (db: Db): RequestContext => ({
    db,
    clock: deps.clock,
    log: request.log,
    settings: deps.settings,
    tokens: deps.tokens,
    ssh: deps.ssh,
    changes: deps.changes,
    snapshots: deps.snapshots,
    presence: deps.presence,
    providers: deps.providers,
    expiry: deps.expiry,
    requestExpiry: deps.requestExpiry,
    webhook: deps.webhook,
    kubeAudit: deps.kubeAudit,
    actor,
    sourceIp: request.sourceIp,
    origin: request.origin,
    loginBinding: request.loginBinding,
    authorize(isSelf) {
      if (hasRole) return;
      if (!isSelf) throw forbidden();
      authorized = true;
    },
    audit(target) {
      auditTarget = target;
    },
    unchanged() {
      unchanged = true;
    },
    afterCommit(work) {
      commitWork.push(work);
    },
    afterRollback(work) {
      rollbackWork.push(work);
    },
  });
  const checkAuthorized = () => {
    if (!authorized)
      throw new Error(
        `operation ${spec.name} did not check whether the caller acts on their own objects`,
      );
  };

  // Work that must not hold a transaction open (calls to an identity provider) runs first.
  const prepared = prepare ? await prepare(makeContext(deps.readDb)) : undefined;
  if (!spec.writes) {
    const result = await fn(makeContext(deps.readDb), prepared);
    checkAuthorized();
    return result;
  }

  try {
    const result = await deps.db
      .transaction()
      .execute(async (tx) => {
        await lockAuditHead(tx);
        const result = await fn(makeContext(tx), prepared);
        checkAuthorized();
        if (!unchanged)
          await appendAudit(tx, auditEntry(deps, spec, request, auditTarget, 'success'));
        return result;
      })
      .finally(() => deps.changes.notify());
    for (const work of commitWork) work();
    return result;
  } catch (err) {
    for (const work of rollbackWork) await work(deps.db);
    const refused =
      err instanceof UnauthenticatedError ||
      err instanceof LoginRefusedError ||
      err instanceof ForbiddenError;
    // Refusals are audited when the caller is known or the operation named a target (a failed
    // login); anonymous noise against random endpoints is not.
    if (refused && (actor !== undefined || auditTarget !== undefined)) {
      await auditRefusal(
        deps,
        spec,
        request,
        auditTarget,
        err instanceof ForbiddenError ? 'denied' : 'failure',
      );
    }
    throw err;
  }
}

function auditEntry(
  deps: OperationDeps,
  spec: OperationSpec,
  request: { actor: Actor | undefined; sourceIp: string },
  target: AuditTarget | undefined,
  result: 'success' | 'denied' | 'failure',
) {
  const actor =
    target?.actor ??
    (request.actor ? { id: request.actor.userId, name: request.actor.name } : undefined);
  return {
    at: deps.clock.now(),
    actorId: actor?.id ?? null,
    actorName: actor?.name ?? 'anonymous',
    action: spec.name,
    targetKind: target?.kind ?? '',
    targetId: target?.id ?? null,
    targetName: target?.name ?? null,
    sourceIp: request.sourceIp,
    result,
    details: target?.details ?? {},
  };
}

async function auditRefusal(
  deps: OperationDeps,
  spec: OperationSpec,
  request: { actor: Actor | undefined; sourceIp: string; log: Logger },
  target: AuditTarget | undefined,
  result: 'denied' | 'failure',
): Promise<void> {
  try {
    await deps.db
      .transaction()
      .execute((tx) =>
        appendAudit(tx, auditEntry(deps, spec, request, target, result)).then(() => {}),
      );
  } catch (err) {
    request.log.error({ err }, 'could not write the audit entry for a refused request');
  }
}
