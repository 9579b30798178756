import type { InfraRole } from '../../api/roles.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Db } from '../data/db.js';
import type { ChangeNotifier } from './changes.js';
import type { KubeAuditStore } from './kube-audit-store.js';
import type { DestinationPresence } from './presence.js';
import type { ProviderService } from './provider-sync.js';
import type { AccessSnapshots } from './snapshots.js';
import type { SshAuthorities } from './ssh-authorities.js';
import type { TokenService } from './tokens.js';

/** The authenticated caller of a request. */
export interface Actor {
  userId: string;
  name: string;
  kind: 'user' | 'system';
  /** Row id of the access key (the session) the request came with. */
  accessKeyId: string;
  roles: ReadonlySet<InfraRole>;
  scopes: readonly string[];
}

/** Makes sure something with a deadline is handled on time (GrantExpiry, RequestExpiry). */
export interface ExpiryScheduler {
  /** Something expires at `at` (milliseconds). */
  schedule(at: number): void;
}

/** Sends an event to the configured webhook, if any, in the background. */
export interface WebhookNotifier {
  send(event: string, data: unknown): void;
}

/** Server settings the access layer applies. */
export interface AccessSettings {
  sessionDuration: number;
  sessionInactivityTimeout: number;
  passwordMinLength: number;
}

/** What an audit entry says was changed; set by the operation, written by the route wrapper. */
export interface AuditTarget {
  kind: string;
  id?: string | null;
  name?: string | null;
  /** Facts worth keeping (never secrets): the role granted, the members added... */
  details?: Record<string, unknown>;
  /** Who acted, when the operation establishes it (login: the user who logged in). */
  actor?: { id: string; name: string };
}

/**
 * What an operation needs to know about the request it serves. For requests that change
 * something, `db` is the request's transaction, so the change and its audit entry commit together.
 */
export interface RequestContext {
  db: Db;
  clock: Clock;
  log: Logger;
  settings: AccessSettings;
  actor: Actor | undefined;
  sourceIp: string;
  /** Signs destination tokens. */
  tokens: TokenService;
  /** Signs SSH certificates. */
  ssh: SshAuthorities;
  /** Wakes feed requests when access changes. */
  changes: ChangeNotifier;
  /** The feed's answers, read once per destination and change. */
  snapshots: AccessSnapshots;
  /** Records that connectors were in touch. */
  presence: DestinationPresence;
  /** Logins through identity providers and their group sync. */
  providers: ProviderService;
  /** Removes grants at their expiry: told of each grant made with one. */
  expiry: ExpiryScheduler;
  /** Expires pending access requests at their deadline: told of each request made. */
  requestExpiry: ExpiryScheduler;
  /** Tells an outside system about access requests (see WebhookSender). */
  webhook: WebhookNotifier;
  /** Seals exec recordings and exports Kubernetes audit events. */
  kubeAudit: KubeAuditStore;
  /** This server as the caller reached it (`https://host:port`), for links and redirect URIs. */
  origin: string;
  /** The browser's provider-login binding (a cookie), which ties a login to the browser that began it. */
  loginBinding: string | undefined;
  /**
   * For endpoints open to their own objects (`orSelf`): callers without the endpoint's role
   * pass only when `isSelf`. Every such operation must call this.
   */
  authorize(isSelf: boolean): void;
  audit(target: AuditTarget): void;
  /** The write changed nothing after all (a device still waiting): no audit entry. */
  unchanged(): void;
  /** Runs once the request's transaction committed (to tell the outside world). */
  afterCommit(fn: () => void): void;
  /** Runs after the request's transaction rolled back (to record a failed login, say). */
  afterRollback(fn: (db: Db) => Promise<void>): void;
}

/** The caller, for operations that require one (the route wrapper has already checked). */
export function actorOf(ctx: RequestContext): Actor {
  if (!ctx.actor) throw new TypeError('operation called without an authenticated actor');
  return ctx.actor;
}

/** Resolves `self` to the caller's id. */
export function resolveUserRef(ctx: RequestContext, ref: string): string {
  return ref === 'self' ? actorOf(ctx).userId : ref;
}
