import type { Clock } from '../../shared/clock.js';
import { AppError, ValidationError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { deleteAccessKeysByScope, deleteAccessKeysOfProvider } from '../data/access-keys.js';
import { lockAuditHead } from '../data/audit.js';
import type { Db } from '../data/db.js';
import { removeGroupMembers } from '../data/groups.js';
import * as data from '../data/providers.js';
import type { ProviderRow } from '../data/providers.js';
import { PROVIDER_CLIENT_SECRET, PROVIDER_PRIVATE_CONFIG } from '../data/sealed-columns.js';
import { classifyIdpError, defaultScopes } from '../idp/oidc.js';
import { keepDeactivations, listMembershipsBySource } from '../data/scim.js';
import {
  scimScope,
  scimSource,
  type Page,
  type Provider,
  type ProviderDetails,
  type ProviderKind,
} from '../models.js';
import type { RequestContext } from './context.js';
import type { ProviderService } from './provider-sync.js';

/** What an admin (or the config file) says about a provider. */
export interface ProviderInput {
  name: string;
  kind: ProviderKind;
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

/** Builds a stored provider from input, sealing secrets; those not given are kept from `current`. */
function providerRow(
  service: ProviderService,
  input: ProviderInput,
  ids: { id: string; now: number; managedBy: 'api' | 'config' },
  current?: ProviderRow,
): ProviderRow {
  let clientSecret: string | null = null;
  let clientSecretRef: string | null = null;
  if (input.clientSecretRef !== undefined) clientSecretRef = input.clientSecretRef;
  else if (input.clientSecret !== undefined)
    clientSecret = service.seal(input.clientSecret, PROVIDER_CLIENT_SECRET.context({ id: ids.id }));
  else if (current) ({ clientSecret, clientSecretRef } = current);
  let privateConfig = current?.privateConfig ?? null;
  let serviceAccountKeyRef = current?.config.serviceAccountKeyRef;
  if (input.serviceAccountKey !== undefined) {
    privateConfig = service.seal(
      JSON.stringify({ serviceAccountKey: input.serviceAccountKey }),
      PROVIDER_PRIVATE_CONFIG.context({ id: ids.id }),
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

/** What operations show of a stored provider: never its sealed secrets. */
function toProvider(p: ProviderRow): Provider {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind,
    issuer: p.issuer,
    clientId: p.clientId,
    clientSecretRef: p.clientSecretRef,
    scopes: p.scopes,
    groupsClaim: p.groupsClaim,
    apiUrl: p.config.apiUrl ?? null,
    domainAdminEmail: p.config.domainAdminEmail ?? null,
    serviceAccountKeySet: p.privateConfig !== null || p.config.serviceAccountKeyRef !== undefined,
    managedBy: p.managedBy,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

export async function listProviders(
  ctx: RequestContext,
  opts: { name?: string; after?: string; limit: number },
): Promise<Page<Provider>> {
  const page = await data.listProviders(ctx.db, {
    byName: opts.name,
    after: opts.after,
    limit: opts.limit,
  });
  return { ...page, items: page.items.map(toProvider) };
}

/** What an admin sees of a provider: also whether it lets Infra keep its users current. */
async function details(db: Db, p: ProviderRow): Promise<ProviderDetails> {
  const counts = await data.countProviderUsers(db, p.id);
  return {
    ...toProvider(p),
    linkedUsers: counts.linked,
    usersWithoutRefreshToken: counts.withoutRefreshToken,
  };
}

export async function getProvider(ctx: RequestContext, id: string): Promise<ProviderDetails> {
  return details(ctx.db, await data.getProvider(ctx.db, { byId: id }));
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
    // On the url field, so a form shows it next to the URL.
    const failure = classifyIdpError(err, 'the provider');
    throw new ValidationError([{ field: 'url', errors: [failure.message] }]);
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
): Promise<ProviderDetails> {
  checkKindFields(input);
  ctx.providers.checkApiReferences(input);
  const now = ctx.clock.now();
  const row = providerRow(ctx.providers, input, {
    id: newId('provider', now),
    now,
    managedBy: 'api',
  });
  await data.createProvider(ctx.db, row);
  ctx.audit({ kind: 'provider', id: row.id, name: row.name, details: { kind: row.kind } });
  return details(ctx.db, row);
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
): Promise<ProviderDetails> {
  checkKindFields(input);
  const current = await data.getProvider(ctx.db, { byId: id });
  assertNotDeclared(current, 'change');
  ctx.providers.checkApiReferences(input);
  const row = providerRow(
    ctx.providers,
    input,
    { id, now: ctx.clock.now(), managedBy: 'api' },
    current,
  );
  if (row.issuer !== current.issuer) await forgetProviderUsers(ctx.db, current, row.updatedAt);
  await data.updateProvider(ctx.db, row);
  ctx.audit({ kind: 'provider', id, name: row.name, details: { kind: row.kind } });
  return details(ctx.db, row);
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
  // What it provisioned through SCIM: its tokens and memberships end; the users and groups stay
  // (their SCIM records go with the provider's row). Whom it deactivated stays so: they left, and
  // a password or another provider must not let them back in.
  await deleteAccessKeysByScope(db, scimScope(p.id), now);
  await keepDeactivations(db, p);
  for (const [groupId, userIds] of await listMembershipsBySource(db, scimSource(p.id)))
    await removeGroupMembers(db, groupId, userIds, scimSource(p.id), now);
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
      const row = providerRow(
        service,
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
