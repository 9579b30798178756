import type { Clock } from '../../shared/clock.js';
import { NotFoundError, ValidationError, type FieldError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { describeReference, type Secret } from '../../shared/secrets.js';
import type { Keyring } from '../crypto/keyring.js';
import { deleteAccessKeys } from '../data/access-keys.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { addGroupMembers, createGroup, getGroup, removeGroupMembers } from '../data/groups.js';
import * as data from '../data/providers.js';
import type { ProviderRow, ProviderUserRow } from '../data/providers.js';
import {
  PROVIDER_CLIENT_SECRET,
  PROVIDER_PRIVATE_CONFIG,
  PROVIDER_USER_REFRESH_TOKEN,
} from '../data/sealed-columns.js';
import { OidcClient, classifyIdpError } from '../idp/oidc.js';
import type { IdpIdentity, IdpSecrets, IdpSettings } from '../idp/provider.js';
import type { ChangeNotifier } from './changes.js';
import { apiReferenceProblem } from './secret-references.js';

/** Why a provider fails for all its users: no answer, Infra's client refused, secrets unread. */
type ProviderFailure = 'unreachable' | 'client_refused' | 'secrets';

/** How many users are re-checked with their providers at once, per replica. */
const RECHECK_CONCURRENCY = 4;
/** How many due users one round of re-checks takes. */
const RECHECK_BATCH = 200;
/** The least time between rounds, so a busy round never spins. */
const RECHECK_MIN_WAIT_MS = 250;
/** The longest a provider that does not answer is left alone before it is asked again. */
const BACKOFF_MAX_MS = 5 * 60_000;

function refreshTokenContext(providerId: string, userId: string): string {
  return PROVIDER_USER_REFRESH_TOKEN.context({ provider_id: providerId, user_id: userId });
}

/**
 * The server's side of its identity providers: their settings and secrets for one call, and the
 * sync that keeps users current with them (offboarding those a provider no longer knows).
 * Secrets are opened (or read from their storage) for one call and dropped (S7). Calls to a
 * provider happen outside database transactions, so a slow provider never holds the writer.
 */
export class ProviderService {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #changes: ChangeNotifier;
  readonly #resolveSecret: (setting: string, ref: string) => Promise<Secret>;
  readonly #syncIntervalMs: number;
  readonly #apiSecretReferences: readonly string[];
  readonly #inFlight = new Map<string, Promise<'current' | 'offboarded'>>();
  /** When each user was last looked at, so most requests skip the database entirely. */
  readonly #checkedAt = new Map<string, number>();
  /** Providers that stopped answering, by id: how often in a row, and when to ask again. */
  readonly #health = new Map<
    string,
    { failures: number; retryAt: number; cause: ProviderFailure }
  >();
  #recheck:
    | { stopped: boolean; timer: NodeJS.Timeout | undefined; running: Promise<void> | undefined }
    | undefined;
  readonly oidc: OidcClient;

  constructor(opts: {
    db: Db;
    keyring: Keyring;
    clock: Clock;
    log: Logger;
    changes: ChangeNotifier;
    resolveSecret: (setting: string, ref: string) => Promise<Secret>;
    syncIntervalMs: number;
    /** Patterns of the secret references the API may give (`apiSecretReferences`). */
    apiSecretReferences?: readonly string[];
    oidc?: OidcClient;
  }) {
    this.#db = opts.db;
    this.#keyring = opts.keyring;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#changes = opts.changes;
    this.#resolveSecret = opts.resolveSecret;
    this.#syncIntervalMs = opts.syncIntervalMs;
    this.#apiSecretReferences = opts.apiSecretReferences ?? [];
    this.oidc = opts.oidc ?? new OidcClient({ now: () => opts.clock.now() });
  }

  seal(value: string, context: string): string {
    return this.#keyring.seal(value, context);
  }

  settingsOf(p: ProviderRow): IdpSettings {
    return {
      kind: p.kind,
      issuer: p.issuer,
      clientId: p.clientId,
      scopes: p.scopes,
      groupsClaim: p.groupsClaim,
      apiUrl: p.config.apiUrl,
      domainAdminEmail: p.config.domainAdminEmail,
    };
  }

  /**
   * Refuses secret references an admin gives through the API unless the operator allowed them:
   * otherwise the API could send the server's own secrets to a token endpoint of its choosing.
   */
  checkApiReferences(input: { clientSecretRef?: string; serviceAccountKeyRef?: string }): void {
    const fieldErrors: FieldError[] = [];
    for (const field of ['clientSecretRef', 'serviceAccountKeyRef'] as const) {
      const ref = input[field];
      const problem =
        ref === undefined ? undefined : apiReferenceProblem(ref, this.#apiSecretReferences);
      if (problem) fieldErrors.push({ field, errors: [problem] });
    }
    if (fieldErrors.length > 0) throw new ValidationError(fieldErrors);
  }

  /** Opens or reads the provider's secrets for one call. */
  async secretsOf(p: ProviderRow): Promise<IdpSecrets> {
    // A reference stored through the API before the operator's rule existed is not read either.
    if (p.managedBy === 'api') {
      const refs = [p.clientSecretRef, p.config.serviceAccountKeyRef].filter((r) => r != null);
      for (const ref of refs) {
        const problem = apiReferenceProblem(ref, this.#apiSecretReferences);
        if (problem)
          throw new Error(
            `provider ${p.name}: the secret reference ${describeReference(ref)} is refused: ${problem}`,
          );
      }
    }
    let clientSecret: string;
    if (p.clientSecretRef !== null) {
      clientSecret = (
        await this.#resolveSecret(`providers.${p.name}.clientSecret`, p.clientSecretRef)
      ).reveal();
    } else {
      clientSecret = await this.#keyring.openLatest(
        p.clientSecret!,
        PROVIDER_CLIENT_SECRET.context({ id: p.id }),
      );
    }
    let serviceAccountKey: string | undefined;
    if (p.config.serviceAccountKeyRef) {
      serviceAccountKey = (
        await this.#resolveSecret(
          `providers.${p.name}.serviceAccountKey`,
          p.config.serviceAccountKeyRef,
        )
      ).reveal();
    } else if (p.privateConfig !== null) {
      const priv = JSON.parse(
        await this.#keyring.openLatest(
          p.privateConfig,
          PROVIDER_PRIVATE_CONFIG.context({ id: p.id }),
        ),
      ) as { serviceAccountKey?: string };
      serviceAccountKey = priv.serviceAccountKey;
    }
    return { clientSecret, serviceAccountKey };
  }

  /**
   * Takes a pending provider login out of the store (single use, so a failed login still spends
   * it). Outside any transaction, on the writer: the network half of a login reads through a
   * read-only connection.
   */
  async takeLoginRequest(stateHash: string): Promise<data.LoginRequestRow | undefined> {
    return data.takeLoginRequest(this.#db, stateHash);
  }

  /**
   * Brings a user up to date with the providers they came from, when the last sync is older than
   * the interval: a refused refresh ends all their sessions (offboarding); an unreachable
   * provider changes nothing. Concurrent calls for one user share one sync.
   */
  async syncUserIfDue(userId: string): Promise<'current' | 'offboarded'> {
    const now = this.#clock.now();
    const running = this.#inFlight.get(userId);
    if (running) return running;
    const checkedAt = this.#checkedAt.get(userId);
    if (checkedAt !== undefined && now - checkedAt < this.#syncIntervalMs) return 'current';
    this.#checkedAt.set(userId, now);
    const sync = this.#syncUser(userId, now).finally(() => this.#inFlight.delete(userId));
    this.#inFlight.set(userId, sync);
    return sync;
  }

  /** The same, for a request that should not wait: failures are logged. */
  syncInBackground(userId: string): void {
    const checkedAt = this.#checkedAt.get(userId);
    if (checkedAt !== undefined && this.#clock.now() - checkedAt < this.#syncIntervalMs) return;
    this.syncUserIfDue(userId).catch((err: unknown) =>
      this.#log.error({ err }, 'could not sync a user with their identity provider'),
    );
  }

  async #syncUser(userId: string, now: number): Promise<'current' | 'offboarded'> {
    const links = await data.listProviderUsersToSync(this.#db, userId, now - this.#syncIntervalMs);
    for (const link of links) {
      if ((await this.#syncLink(link, now)) === 'offboarded') return 'offboarded';
    }
    return 'current';
  }

  /**
   * Re-checks one link with its provider, unless another request or replica has claimed it or
   * the provider is backing off. Never throws for the provider's sake: a failing provider
   * changes nothing here.
   */
  async #syncLink(link: ProviderUserRow, now: number): Promise<'current' | 'offboarded'> {
    if (link.refreshToken === null) return 'current';
    const health = this.#health.get(link.providerId);
    if (health && health.retryAt > now) return 'current';
    // Another request or replica is syncing this link already; using the same refresh token
    // twice could look like token theft to the provider and cost the user their sessions.
    if (!(await data.claimProviderUserSync(this.#db, link, now))) return 'current';
    const provider = await data.getProvider(this.#db, { byId: link.providerId });
    let secrets: IdpSecrets;
    try {
      secrets = await this.secretsOf(provider);
    } catch (err) {
      this.#failed(provider, 'secrets', `reading its secrets: ${(err as Error).message}`);
      return 'current';
    }
    let identity: IdpIdentity;
    try {
      const refreshToken = await this.#keyring.openLatest(
        link.refreshToken,
        refreshTokenContext(link.providerId, link.userId),
      );
      identity = await this.oidc.refresh(
        this.settingsOf(provider),
        secrets,
        refreshToken,
        link.subject,
      );
    } catch (err) {
      const failure = classifyIdpError(err, `syncing ${link.email} with ${provider.name}`);
      // Not about this user: the provider is down, or refuses Infra itself.
      if (failure.failure === 'unreachable' || failure.problem === 'client_refused') {
        const cause = failure.failure === 'unreachable' ? 'unreachable' : 'client_refused';
        this.#failed(provider, cause, failure.message);
        return 'current';
      }
      this.#answered(provider);
      if (failure.failure === 'refused') {
        this.#log.warn(
          { provider: provider.name, user: link.email, reason: failure.message },
          'the identity provider refused the user: ending their sessions',
        );
        await this.#offboard(provider, link);
        return 'offboarded';
      }
      this.#log.error(
        { provider: provider.name, user: link.email, reason: failure.message },
        'could not sync a user with the identity provider; keeping what we know',
      );
      return 'current';
    }
    this.#answered(provider);
    if (identity.groupsError)
      this.#log.warn(
        { provider: provider.name, user: link.email, reason: identity.groupsError },
        'could not read groups; keeping the last known ones',
      );
    if (identity.refusedGroups.length > 0)
      this.#log.warn(
        { provider: provider.name, user: link.email, refused: identity.refusedGroups },
        REFUSED_GROUPS,
      );
    await this.#db.transaction().execute(async (tx) => {
      await lockAuditHead(tx);
      await linkProviderUser(tx, this, provider, link.userId, identity, now);
    });
    this.#changes.notify();
    return 'current';
  }

  /**
   * A provider failed for everyone (no answer, Infra's client refused, its secrets unreadable):
   * its users are not asked again until a back-off passes (doubling from the sync interval up to
   * BACKOFF_MAX_MS), then one user is asked as a probe. Logged when it starts failing or fails
   * another way, not for each user.
   */
  #failed(provider: ProviderRow, cause: ProviderFailure, reason: string): void {
    const now = this.#clock.now();
    const previous = this.#health.get(provider.id);
    // Others asked at the same time failed the same way: one failure, not several.
    if (previous && previous.retryAt > now) return;
    const failures = (previous?.failures ?? 0) + 1;
    const delay = Math.min(this.#syncIntervalMs * 2 ** (failures - 1), BACKOFF_MAX_MS);
    this.#health.set(provider.id, { failures, retryAt: now + delay, cause });
    if (previous?.cause !== cause)
      this.#log.error(
        { provider: provider.name, reason },
        `identity provider ${provider.name} is failing: its users keep their sessions and groups, and re-checks back off (up to ${BACKOFF_MAX_MS / 60_000} minutes) until it works again`,
      );
  }

  #answered(provider: ProviderRow): void {
    if (!this.#health.delete(provider.id)) return;
    this.#log.info(
      { provider: provider.name },
      `identity provider ${provider.name} works again: re-checks of its users resume`,
    );
  }

  /**
   * Re-checks every linked user with their provider once per sync interval, active or not: a
   * removal or a group change upstream takes effect here within the interval even for someone
   * who only runs kubectl. Wakes when the next link falls due. Replicas share the work through
   * the database (each link is claimed by one of them per interval).
   */
  start(): void {
    if (this.#recheck) return;
    this.#recheck = { stopped: false, timer: undefined, running: undefined };
    this.#scheduleRecheck(0);
  }

  /** Stops the re-checks and waits for one under way. */
  async stop(): Promise<void> {
    const recheck = this.#recheck;
    if (!recheck) return;
    recheck.stopped = true;
    clearTimeout(recheck.timer);
    await recheck.running;
  }

  #scheduleRecheck(delayMs: number): void {
    const recheck = this.#recheck!;
    if (recheck.stopped) return;
    recheck.timer = setTimeout(() => {
      recheck.running = this.#recheckDue().then(
        (next) => this.#scheduleRecheck(next),
        (err: unknown) => {
          this.#log.error({ err }, 'could not re-check users with their identity providers');
          this.#scheduleRecheck(this.#syncIntervalMs);
        },
      );
    }, delayMs);
    recheck.timer.unref();
  }

  /** One round of re-checks; returns how long to wait before the next. */
  async #recheckDue(): Promise<number> {
    const now = this.#clock.now();
    const paused = [...this.#health].filter(([, h]) => h.retryAt > now).map(([id]) => id);
    const due = await data.listProviderUsersDue(this.#db, {
      before: now - this.#syncIntervalMs,
      skipProviders: paused,
      limit: RECHECK_BATCH,
    });
    // A provider coming out of its back-off gets one probe; the rest wait for its answer.
    const probed = new Set<string>();
    const batch = due.filter((link) => {
      if (!this.#health.has(link.providerId)) return true;
      if (probed.has(link.providerId)) return false;
      probed.add(link.providerId);
      return true;
    });
    let next = 0;
    const worker = async () => {
      for (let link = batch[next++]; link !== undefined; link = batch[next++]) {
        if (this.#recheck?.stopped) return;
        await this.#syncLink(link, this.#clock.now()).catch((err: unknown) =>
          this.#log.error(
            { err, user: link!.email },
            'could not re-check a user with their identity provider',
          ),
        );
      }
    };
    await Promise.all(Array.from({ length: RECHECK_CONCURRENCY }, worker));
    if (due.length === RECHECK_BATCH || batch.length < due.length) return RECHECK_MIN_WAIT_MS;
    const after = this.#clock.now();
    const stillPaused = [...this.#health].filter(([, h]) => h.retryAt > after);
    const oldest = await data.oldestProviderUserSync(
      this.#db,
      stillPaused.map(([id]) => id),
    );
    const wakeAt = Math.min(
      oldest === undefined ? Infinity : oldest + this.#syncIntervalMs,
      ...stillPaused.map(([, h]) => h.retryAt),
    );
    return Math.max(RECHECK_MIN_WAIT_MS, Math.min(wakeAt - after, this.#syncIntervalMs));
  }

  /** The provider no longer knows the user: all sessions end, its groups go, connectors hear. */
  async #offboard(provider: ProviderRow, link: ProviderUserRow): Promise<void> {
    const now = this.#clock.now();
    await this.#db.transaction().execute(async (tx) => {
      await lockAuditHead(tx);
      const ended = await deleteAccessKeys(tx, { byUserId: link.userId }, now);
      await applyProviderGroups(tx, provider.id, link.userId, [], now);
      await data.deleteProviderUser(tx, provider.id, link.userId);
      await appendAudit(tx, {
        at: now,
        actorId: null,
        actorName: `provider:${provider.name}`,
        action: 'offboardUser',
        targetKind: 'user',
        targetId: link.userId,
        targetName: link.email,
        sourceIp: '',
        result: 'success',
        details: { provider: provider.name, sessionsEnded: ended.length },
      });
    });
    this.#changes.notify();
  }
}

export const REFUSED_GROUPS =
  'skipped group names from the identity provider that are not allowed as group names (see SECURITY.md)';

/**
 * Makes the user's memberships from one provider match `groups`: groups are found by name or
 * created; memberships from other sources (an admin, the config file) are never touched.
 */
async function applyProviderGroups(
  db: Db,
  providerId: string,
  userId: string,
  groups: string[],
  now: number,
): Promise<void> {
  const source = data.providerSource(providerId);
  // Group name → id, of the memberships this provider gave the user.
  const current = new Map(
    (await data.listProviderGroupsOfUser(db, providerId, userId)).map((g) => [g.name, g.id]),
  );
  const wanted = new Set(groups);
  for (const [name, id] of current) {
    if (!wanted.has(name)) await removeGroupMembers(db, id, [userId], source, now);
  }
  for (const name of wanted) {
    if (current.has(name)) continue;
    let groupId: string;
    try {
      groupId = (await getGroup(db, { byName: name })).id;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      groupId = (await createGroup(db, { id: newId('group', now), name, managedBy: 'api', now }))
        .id;
    }
    await addGroupMembers(db, groupId, [userId], source, now);
  }
}

/**
 * Ends what a user has through a provider, as a refused refresh does: every session and key
 * (connectors refuse their tokens within a second), the memberships the provider's logins gave,
 * and the link to the account (the next login through it makes a new one). For a SCIM
 * deactivation or deletion; returns how many credentials ended.
 */
export async function endProviderAccess(
  db: Db,
  providerId: string,
  userId: string,
  now: number,
): Promise<number> {
  const ended = await deleteAccessKeys(db, { byUserId: userId }, now);
  await applyProviderGroups(db, providerId, userId, [], now);
  await data.deleteProviderUser(db, providerId, userId);
  return ended.length;
}

/** Records what the provider said about the user: the link, the sealed refresh token, groups. */
export async function linkProviderUser(
  db: Db,
  service: ProviderService,
  provider: ProviderRow,
  userId: string,
  identity: IdpIdentity,
  now: number,
): Promise<void> {
  const existing = await data.findProviderUser(db, { providerId: provider.id, userId });
  const groups = identity.groups ?? existing?.groups ?? [];
  await data.saveProviderUser(db, {
    providerId: provider.id,
    userId,
    subject: identity.subject,
    email: identity.email,
    groups,
    refreshToken:
      identity.refreshToken === undefined
        ? (existing?.refreshToken ?? null)
        : service.seal(identity.refreshToken, refreshTokenContext(provider.id, userId)),
    lastSyncAt: now,
    createdAt: existing?.createdAt ?? now,
  });
  if (identity.groups !== undefined)
    await applyProviderGroups(db, provider.id, userId, identity.groups, now);
}
