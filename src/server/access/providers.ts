import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import {
  AppError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
  assertThat,
  type FieldError,
} from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { describeReference, type Secret } from '../../shared/secrets.js';
import type { Keyring } from '../crypto/keyring.js';
import { randomString } from '../crypto/random.js';
import { deleteAccessKeys, deleteAccessKeysOfProvider, getAccessKey } from '../data/access-keys.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { addGroupMembers, createGroup, getGroup, removeGroupMembers } from '../data/groups.js';
import * as data from '../data/providers.js';
import type { ProviderRow, ProviderUserRow } from '../data/providers.js';
import { createUser, findUser, getUser } from '../data/users.js';
import {
  OidcClient,
  classifyIdpError,
  defaultScopes,
  type IdpIdentity,
  type IdpSecrets,
  type IdpSettings,
} from '../idp/oidc.js';
import type { Page } from '../models.js';
import type { ChangeNotifier } from './changes.js';
import { actorOf, type RequestContext } from './context.js';
import { apiReferenceProblem } from './secret-references.js';
import { derivedFrom, issueSession, type Session } from './sessions.js';

export type { ProviderRow };

/** How long a started provider login or a device request stays usable. */
export const LOGIN_REQUEST_TTL_MS = 10 * 60_000;
/** Seconds a device waits between polls. */
export const DEVICE_POLL_INTERVAL_S = 2;
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Anyone may start a login; this bounds what anonymous callers can make the server store. */
const MAX_PENDING_REQUESTS = 10_000;
/** ...and what one address can take of it (an office behind one NAT logs in at nine). */
const MAX_PENDING_PER_ADDRESS = 200;

/**
 * Starting a login is open to anyone, so it is neither audited (the login itself is) nor allowed
 * to pile up without bound.
 */
async function admitPendingRequest(ctx: RequestContext): Promise<void> {
  ctx.unchanged();
  const now = ctx.clock.now();
  const pending = await data.countPendingRequests(ctx.db, now, ctx.sourceIp);
  // A place frees up when the oldest pending request expires (or sooner, when one finishes).
  const retryAfter = (expiry = now + LOGIN_REQUEST_TTL_MS) =>
    Math.max(1, Math.ceil((expiry - now) / 1000));
  if (pending.fromAddress >= MAX_PENDING_PER_ADDRESS)
    throw new RateLimitedError(
      retryAfter(pending.firstExpiryFromAddress),
      'too many logins started from your address are waiting to be finished; try again in a few minutes',
    );
  if (pending.all >= MAX_PENDING_REQUESTS)
    throw new RateLimitedError(
      retryAfter(pending.firstExpiry),
      'too many logins are waiting to be finished; try again in a few minutes',
    );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function hashesEqual(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

// Associated data of sealed values: the same as in data/sealed-columns.ts, which re-seals them
// when the data key rotates.
function sealContext(providerId: string, column: 'client_secret' | 'private_config'): string {
  return `providers.${column}:${providerId}`;
}

function refreshTokenContext(providerId: string, userId: string): string {
  return `provider_users.refresh_token:${providerId}/${userId}`;
}

/** What an admin (or the config file) says about a provider. */
export interface ProviderInput {
  name: string;
  kind: ProviderRow['kind'];
  url: string;
  clientID: string;
  clientSecret?: string;
  clientSecretRef?: string;
  scopes?: string[];
  groupsClaim?: string;
  apiURL?: string;
  domainAdminEmail?: string;
  serviceAccountKey?: string;
  serviceAccountKeyRef?: string;
}

/**
 * Logins through identity providers and the group sync that keeps users current with them.
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
        sealContext(p.id, 'client_secret'),
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
        await this.#keyring.openLatest(p.privateConfig, sealContext(p.id, 'private_config')),
      ) as { serviceAccountKey?: string };
      serviceAccountKey = priv.serviceAccountKey;
    }
    return { clientSecret, serviceAccountKey };
  }

  /** Builds a stored provider from input; secrets not given are kept from `current`. */
  toRow(
    input: ProviderInput,
    ids: { id: string; now: number; managedBy: 'api' | 'config' },
    current?: ProviderRow,
  ): ProviderRow {
    let clientSecret: string | null = null;
    let clientSecretRef: string | null = null;
    if (input.clientSecretRef !== undefined) clientSecretRef = input.clientSecretRef;
    else if (input.clientSecret !== undefined)
      clientSecret = this.seal(input.clientSecret, sealContext(ids.id, 'client_secret'));
    else if (current) ({ clientSecret, clientSecretRef } = current);
    let privateConfig = current?.privateConfig ?? null;
    let serviceAccountKeyRef = current?.config.serviceAccountKeyRef;
    if (input.serviceAccountKey !== undefined) {
      privateConfig = this.seal(
        JSON.stringify({ serviceAccountKey: input.serviceAccountKey }),
        sealContext(ids.id, 'private_config'),
      );
      serviceAccountKeyRef = undefined;
    } else if (input.serviceAccountKeyRef !== undefined) {
      privateConfig = null;
      serviceAccountKeyRef = input.serviceAccountKeyRef;
    }
    return {
      id: ids.id,
      name: input.name,
      kind: input.kind,
      issuer: input.url.replace(/\/+$/, ''),
      clientId: input.clientID,
      clientSecret,
      clientSecretRef,
      scopes: input.scopes ?? defaultScopes(input.kind),
      groupsClaim: input.groupsClaim ?? 'groups',
      config: {
        ...(input.apiURL !== undefined && { apiUrl: input.apiURL.replace(/\/+$/, '') }),
        ...(input.domainAdminEmail !== undefined && { domainAdminEmail: input.domainAdminEmail }),
        ...(serviceAccountKeyRef !== undefined && { serviceAccountKeyRef }),
      },
      privateConfig,
      managedBy: ids.managedBy,
      createdAt: current?.createdAt ?? ids.now,
      updatedAt: ids.now,
    };
  }

  /** Takes a pending login out of the store (single use), outside any transaction. */
  async takeLoginRequest(state: string): Promise<data.LoginRequestRow | undefined> {
    return data.takeLoginRequest(this.#db, sha256(state), this.#clock.now());
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

const REFUSED_GROUPS =
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

/** Records what the provider said about the user: the link, the sealed refresh token, groups. */
async function linkProviderUser(
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

// --- operations ---

export async function listProviders(
  ctx: RequestContext,
  opts: { name?: string; after?: string; limit: number },
): Promise<Page<ProviderRow>> {
  return data.listProviders(ctx.db, { byName: opts.name, after: opts.after, limit: opts.limit });
}

export async function getProvider(ctx: RequestContext, id: string): Promise<ProviderRow> {
  return data.getProvider(ctx.db, { byId: id });
}

/** Network work before the transaction: the issuer must answer with a valid discovery document. */
export async function checkProvider(
  ctx: RequestContext,
  input: { url: string; clientID: string; clientSecretRef?: string; serviceAccountKeyRef?: string },
) {
  // Refused references are refused before the server contacts anything on their behalf.
  ctx.providers.checkApiReferences(input);
  try {
    await ctx.providers.oidc.check(input.url.replace(/\/+$/, ''), input.clientID);
  } catch (err) {
    const failure = classifyIdpError(err, 'the provider');
    throw new AppError('bad_request', `url: ${failure.message}`, { cause: err });
  }
}

function checkKindFields(input: ProviderInput): void {
  const google = input.kind === 'google';
  assertThat(
    google ||
      (input.domainAdminEmail === undefined &&
        input.serviceAccountKey === undefined &&
        input.serviceAccountKeyRef === undefined),
    () =>
      new AppError(
        'bad_request',
        'domainAdminEmail and serviceAccountKey apply only to google providers',
      ),
  );
  assertThat(
    input.serviceAccountKey === undefined || input.serviceAccountKeyRef === undefined,
    () => new AppError('bad_request', 'give serviceAccountKey or serviceAccountKeyRef, not both'),
  );
  assertThat(
    input.kind === 'azure' || google || input.apiURL === undefined,
    () => new AppError('bad_request', 'apiURL applies only to azure and google providers'),
  );
}

export async function createProvider(
  ctx: RequestContext,
  input: ProviderInput,
): Promise<ProviderRow> {
  checkKindFields(input);
  ctx.providers.checkApiReferences(input);
  const now = ctx.clock.now();
  const row = ctx.providers.toRow(input, { id: newId('provider', now), now, managedBy: 'api' });
  await data.createProvider(ctx.db, row);
  ctx.audit({ kind: 'provider', id: row.id, name: row.name, details: { kind: row.kind } });
  return row;
}

function assertNotDeclared(p: ProviderRow, change: string): void {
  assertThat(
    p.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        `provider ${p.name} is declared in the server's config file; ${change} it there`,
      ),
  );
}

export async function updateProvider(
  ctx: RequestContext,
  id: string,
  input: ProviderInput,
): Promise<ProviderRow> {
  checkKindFields(input);
  const current = await data.getProvider(ctx.db, { byId: id });
  assertNotDeclared(current, 'change');
  ctx.providers.checkApiReferences(input);
  const row = ctx.providers.toRow(input, { id, now: ctx.clock.now(), managedBy: 'api' }, current);
  if (row.issuer !== current.issuer) await forgetProviderUsers(ctx.db, current, row.updatedAt);
  await data.updateProvider(ctx.db, row);
  ctx.audit({ kind: 'provider', id, name: row.name, details: { kind: row.kind } });
  return row;
}

/** Removes a provider: the sessions that came through it end and the groups it synced go. */
export async function deleteProvider(ctx: RequestContext, id: string): Promise<void> {
  const p = await data.getProvider(ctx.db, { byId: id });
  assertNotDeclared(p, 'remove');
  await removeProvider(ctx.db, p, ctx.clock.now());
  ctx.audit({ kind: 'provider', id, name: p.name });
}

/** Removes a provider (the API, or the config file no longer declaring it). */
async function removeProvider(db: Db, p: ProviderRow, now: number): Promise<void> {
  await forgetProviderUsers(db, p, now);
  await data.deleteProvider(db, p.id);
}

/**
 * Ends what came through a provider: its sessions, the memberships it gave, the links to its
 * accounts. For a removed provider, and for one whose issuer changed (a subject is only unique
 * at one issuer, so the old links could match someone else at the new one).
 */
async function forgetProviderUsers(db: Db, p: ProviderRow, now: number): Promise<void> {
  await deleteAccessKeysOfProvider(db, p.id, now);
  for (const [groupId, userIds] of await data.listProviderMemberships(db, p.id))
    await removeGroupMembers(db, groupId, userIds, data.providerSource(p.id), now);
  await data.deleteProviderUsers(db, p.id);
}

const LOOPBACK_CALLBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})\/callback$/;

/** The redirect URIs a provider must accept: the dashboard's and the CLI's loopback one. */
export function redirectUris(origin: string): string[] {
  return [`${origin}/login/callback`, 'http://127.0.0.1/callback'];
}

/**
 * Where a login may return to: this server's dashboard callback, or a loopback listener of the
 * CLI (RFC 8252: any port). Anything else could carry the code to someone else.
 */
function checkRedirect(ctx: RequestContext, redirectUrl: string): void {
  const loopback = LOOPBACK_CALLBACK.exec(redirectUrl);
  const ok =
    redirectUrl === `${ctx.origin}/login/callback` ||
    (loopback !== null && Number(loopback[2]) > 0 && Number(loopback[2]) < 65536);
  assertThat(
    ok,
    () =>
      new AppError(
        'bad_request',
        `redirectURL: must be ${ctx.origin}/login/callback or http://127.0.0.1:<port>/callback`,
      ),
  );
}

/** A provider login about to start: built outside the transaction (discovery may be needed). */
export interface PreparedProviderLogin {
  provider: ProviderRow;
  redirectUrl: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  authorizationUrl: string;
}

/** The network half of starting a login: PKCE, state and nonce, and the provider's URL. */
export async function prepareProviderLogin(
  ctx: RequestContext,
  input: { id: string; redirectURL: string },
): Promise<PreparedProviderLogin> {
  checkRedirect(ctx, input.redirectURL);
  const provider = await data.getProvider(ctx.db, { byId: input.id });
  const state = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  const codeVerifier = randomBytes(48).toString('base64url');
  let url: URL;
  try {
    url = await ctx.providers.oidc.authorizationUrl(ctx.providers.settingsOf(provider), {
      redirectUri: input.redirectURL,
      state,
      nonce,
      codeVerifier,
    });
  } catch (err) {
    throw new AppError('upstream_failed', classifyIdpError(err, provider.name).message);
  }
  return {
    provider,
    redirectUrl: input.redirectURL,
    state,
    nonce,
    codeVerifier,
    authorizationUrl: url.href,
  };
}

/** Starts an authorization-code login: state, nonce and PKCE verifier kept on the server. */
export async function startProviderLogin(
  ctx: RequestContext,
  prepared: PreparedProviderLogin,
): Promise<{ authorizationUrl: string; expiresAt: number; browserBinding?: string }> {
  await admitPendingRequest(ctx);
  const expiresAt = ctx.clock.now() + LOGIN_REQUEST_TTL_MS;
  // A dashboard login must finish in the browser that began it: otherwise someone could send a
  // victim the callback link of their own sign-in and have the victim's browser use their account.
  const browserBinding =
    prepared.redirectUrl === `${ctx.origin}/login/callback`
      ? randomBytes(32).toString('base64url')
      : undefined;
  await data.createLoginRequest(ctx.db, {
    stateHash: sha256(prepared.state),
    providerId: prepared.provider.id,
    redirectUri: prepared.redirectUrl,
    nonce: prepared.nonce,
    codeVerifier: prepared.codeVerifier,
    browserBinding: browserBinding === undefined ? null : sha256(browserBinding),
    sourceIp: ctx.sourceIp,
    expiresAt,
  });
  return { authorizationUrl: prepared.authorizationUrl, expiresAt, browserBinding };
}

/** The outcome of the network half of a provider login, handed to the transactional half. */
export type ProviderLoginResult =
  | { ok: true; provider: ProviderRow; identity: IdpIdentity }
  | { ok: false; error: AppError; provider?: ProviderRow };

/**
 * The network half of a provider login, run outside the transaction: take the pending login
 * (single use), exchange the code, verify the ID token, read email and groups.
 */
export async function exchangeProviderLogin(
  ctx: RequestContext,
  callback: { state: string; code: string },
): Promise<ProviderLoginResult> {
  const request = await ctx.providers.takeLoginRequest(callback.state);
  if (!request)
    return {
      ok: false,
      error: new UnauthenticatedError('this provider login is unknown or expired; start again'),
    };
  if (
    request.browserBinding !== null &&
    !hashesEqual(request.browserBinding, sha256(ctx.loginBinding ?? ''))
  )
    return {
      ok: false,
      error: new UnauthenticatedError(
        'this sign-in was started in another browser; start it again here',
      ),
    };
  let provider: ProviderRow;
  try {
    provider = await data.getProvider(ctx.db, { byId: request.providerId });
  } catch {
    return { ok: false, error: new UnauthenticatedError('the provider of this login was removed') };
  }
  let secrets: IdpSecrets;
  try {
    secrets = await ctx.providers.secretsOf(provider);
  } catch (err) {
    // The server's own configuration: the log says which reference failed; the caller only
    // learns that it is not their fault.
    ctx.log.error(
      { provider: provider.name, reason: (err as Error).message },
      "cannot read the provider's secrets",
    );
    const error = new AppError(
      'unavailable',
      `signing in through ${provider.name} is misconfigured on this server; tell an admin (the server log says why)`,
    );
    return { ok: false, error, provider };
  }
  try {
    const identity = await ctx.providers.oidc.exchange(
      ctx.providers.settingsOf(provider),
      secrets,
      { redirectUri: request.redirectUri, code: callback.code, state: callback.state },
      { nonce: request.nonce, codeVerifier: request.codeVerifier },
    );
    return { ok: true, provider, identity };
  } catch (err) {
    const failure = classifyIdpError(err, `login through ${provider.name}`);
    ctx.log.warn({ provider: provider.name, reason: failure.message }, 'provider login failed');
    const error =
      failure.failure === 'unreachable'
        ? new AppError('upstream_failed', `${provider.name} did not answer; try again shortly`)
        : new UnauthenticatedError(`${provider.name} refused the login: ${failure.message}`);
    return { ok: false, error, provider };
  }
}

/** The transactional half: find or create the user, link them, sync groups, start a session. */
export async function loginWithProvider(
  ctx: RequestContext,
  result: ProviderLoginResult,
): Promise<Session> {
  if (!result.ok) {
    ctx.audit({
      kind: 'provider',
      id: result.provider?.id ?? null,
      name: result.provider?.name ?? null,
      details: { method: 'provider' },
    });
    throw result.error;
  }
  const { provider, identity } = result;
  const now = ctx.clock.now();
  // An account seen before is the user it was linked to, whatever its email says now (emails
  // change; the subject does not).
  const bySubject = await data.findProviderUser(ctx.db, {
    providerId: provider.id,
    subject: identity.subject,
  });
  let user = bySubject
    ? await getUser(ctx.db, { byId: bySubject.userId })
    : await findUser(ctx.db, { byName: identity.email });
  assertThat(
    user === undefined || user.kind === 'user',
    () => new UnauthenticatedError('system users cannot log in'),
  );
  if (!bySubject && user) {
    // Taking over an existing user (a local admin, someone from another provider) needs the
    // provider to vouch for the address, and the user must not be linked here to someone else.
    assertThat(
      identity.emailVerified,
      () =>
        new UnauthenticatedError(
          `${provider.name} does not say ${identity.email} is verified, so it cannot sign in as the existing user of that name`,
        ),
    );
    const linked = await data.findProviderUser(ctx.db, {
      providerId: provider.id,
      userId: user.id,
    });
    assertThat(
      linked === undefined,
      () =>
        new UnauthenticatedError(
          `${identity.email} is linked to another account at ${provider.name}`,
        ),
    );
  }
  user ??= await createUser(ctx.db, {
    id: newId('user', now),
    name: identity.email,
    managedBy: 'api',
    now,
  });
  if (identity.refreshToken === undefined)
    ctx.log.warn(
      { provider: provider.name },
      'the provider issued no refresh token (add the offline_access scope): groups are synced only at login',
    );
  if (identity.groupsError)
    ctx.log.warn(
      { provider: provider.name, reason: identity.groupsError },
      'could not read groups',
    );
  if (identity.refusedGroups.length > 0)
    ctx.log.warn({ provider: provider.name, refused: identity.refusedGroups }, REFUSED_GROUPS);
  await linkProviderUser(ctx.db, ctx.providers, provider, user.id, identity, now);
  ctx.audit({
    kind: 'user',
    id: user.id,
    name: user.name,
    actor: user,
    details: { method: 'provider', provider: provider.name },
  });
  return issueSession(ctx.db, user, {
    issuedVia: 'provider',
    providerId: provider.id,
    now,
    expiresAt: now + ctx.settings.sessionDuration,
    inactivityTimeout: ctx.settings.sessionInactivityTimeout,
  });
}

// --- device flow ---

function normalizeUserCode(code: string): string {
  const letters = code.replace('-', '');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

export async function createDeviceRequest(ctx: RequestContext): Promise<{
  deviceCode: string;
  userCode: string;
  verificationUrl: string;
  expiresAt: number;
}> {
  await admitPendingRequest(ctx);
  const now = ctx.clock.now();
  const deviceCode = randomBytes(32).toString('base64url');
  const userCode = normalizeUserCode(randomString(8, USER_CODE_ALPHABET));
  const expiresAt = now + LOGIN_REQUEST_TTL_MS;
  await data.createDeviceRequest(ctx.db, {
    deviceCodeHash: sha256(deviceCode),
    userCode,
    approvedBy: null,
    approvedKeyId: null,
    sourceIp: ctx.sourceIp,
    expiresAt,
    createdAt: now,
  });
  return { deviceCode, userCode, verificationUrl: `${ctx.origin}/device`, expiresAt };
}

/**
 * A device polls: pending until a browser approves, then the approver's session, once. A pending
 * poll changes nothing (and is not audited).
 */
export async function getDeviceStatus(
  ctx: RequestContext,
  deviceCode: string,
): Promise<Session | undefined> {
  const hash = sha256(deviceCode);
  const request = await data.findDeviceRequest(ctx.db, hash);
  assertThat(
    request !== undefined && request.expiresAt > ctx.clock.now(),
    () =>
      new AppError(
        'expired',
        'this device login is unknown, used or expired (codes last 10 minutes); start again',
      ),
  );
  if (request.approvedBy === null) {
    ctx.unchanged();
    return undefined;
  }
  // Whoever deletes it first gets the session; a second poll finds nothing.
  if (!(await data.deleteDeviceRequest(ctx.db, hash)))
    throw new AppError('expired', 'this device login was already used; start again');
  const user = await getUser(ctx.db, { byId: request.approvedBy });
  // The approving session still exists (the request would have gone with it): the device's is
  // made from it, so it ends with it, lasts and idles no longer, and keeps its provider.
  const approver = await getAccessKey(ctx.db, { byId: request.approvedKeyId! });
  const now = ctx.clock.now();
  ctx.audit({
    kind: 'user',
    id: user.id,
    name: user.name,
    actor: user,
    details: { method: 'device', userCode: request.userCode },
  });
  return issueSession(ctx.db, user, {
    issuedVia: 'device',
    now,
    ...derivedFrom(approver, {
      expiresAt: now + ctx.settings.sessionDuration,
      inactivityTimeout: ctx.settings.sessionInactivityTimeout,
    }),
  });
}

/** A signed-in browser approves a device login as its own user. */
export async function approveDevice(ctx: RequestContext, userCode: string): Promise<void> {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user',
    () => new AppError('forbidden', 'system users cannot approve device logins'),
  );
  const code = normalizeUserCode(userCode);
  const approved = await data.approveDeviceRequest(
    ctx.db,
    code,
    { userId: actor.userId, keyId: actor.accessKeyId },
    ctx.clock.now(),
  );
  assertThat(
    approved,
    () =>
      new NotFoundError(
        'device login',
        `no device is waiting for code ${code}; codes last 10 minutes and work once`,
      ),
  );
  ctx.audit({ kind: 'deviceRequest', name: code, details: { approvedFor: actor.name } });
}

/**
 * Makes the providers declared in the config file exist as declared (taking over one of the
 * same name made through the API) and removes declared ones that left the file.
 */
export async function reconcileProviders(
  db: Db,
  service: ProviderService,
  clock: Clock,
  log: Logger,
  declared: ProviderInput[],
): Promise<void> {
  const now = clock.now();
  await db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    const existing = new Map((await data.listAllProviders(tx)).map((p) => [p.name, p]));
    for (const input of declared) {
      checkKindFields(input);
      const current = existing.get(input.name);
      const row = service.toRow(
        input,
        { id: current?.id ?? newId('provider', now), now, managedBy: 'config' },
        current,
      );
      if (current && row.issuer !== current.issuer) await forgetProviderUsers(tx, current, now);
      if (current) await data.updateProvider(tx, row);
      else await data.createProvider(tx, row);
    }
    const names = new Set(declared.map((p) => p.name));
    for (const p of existing.values()) {
      if (p.managedBy === 'config' && !names.has(p.name)) {
        log.info({ provider: p.name }, 'removing a provider no longer in the config file');
        await removeProvider(tx, p, now);
      }
    }
  });
}
