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
    return data.takeLoginRequest(this.#db, stateHash, this.#clock.now());
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
      if (link.refreshToken === null) continue;
      // Another request or replica is syncing this link already; using the same refresh token
      // twice could look like token theft to the provider and cost the user their sessions.
      if (!(await data.claimProviderUserSync(this.#db, link, now))) continue;
      const provider = await data.getProvider(this.#db, { byId: link.providerId });
      let identity: IdpIdentity;
      try {
        const refreshToken = await this.#keyring.openLatest(
          link.refreshToken,
          refreshTokenContext(link.providerId, userId),
        );
        identity = await this.oidc.refresh(
          this.settingsOf(provider),
          await this.secretsOf(provider),
          refreshToken,
          link.subject,
        );
      } catch (err) {
        const failure = classifyIdpError(err, `syncing ${link.email} with ${provider.name}`);
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
        continue;
      }
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
    }
    return 'current';
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
