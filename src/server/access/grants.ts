import { AppError, NotFoundError, ValidationError, assertThat } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import * as data from '../data/grants.js';
import type { Subject } from '../data/grants.js';
import { getGroup, isGroupMember, listGroupIdsOfUser } from '../data/groups.js';
import { getUser } from '../data/users.js';
import { boundDestination, type Grant, type Page } from '../models.js';
import { assertAdminRemains } from './admins.js';
import { actorOf, resolveUserRef, type RequestContext } from './context.js';
import { checkConnectorDestination, isConnectorKey } from './destinations.js';

interface ListGrantsInput {
  user?: string;
  group?: string;
  resource?: string;
  privilege?: string;
  kind?: 'user' | 'group';
  search?: string;
  destination?: string;
  showInherited?: boolean;
  showSystem?: boolean;
  after?: string;
  limit: number;
}

/**
 * Lists grants. Without a role, callers may list their own grants (`user=self`, with
 * `showInherited` for their groups') and those of groups they are in.
 */
export async function listGrants(
  ctx: RequestContext,
  input: ListGrantsInput,
): Promise<Page<Grant>> {
  const actor = actorOf(ctx);
  let subjects: Subject[] | undefined;
  if (input.user !== undefined) {
    const userId = resolveUserRef(ctx, input.user);
    ctx.authorize(userId === actor.userId);
    subjects = [{ kind: 'user', id: userId }];
    if (input.showInherited) {
      const groups = await listGroupIdsOfUser(ctx.db, userId);
      subjects.push(...groups.map((id) => ({ kind: 'group' as const, id })));
    }
  } else if (input.group !== undefined) {
    ctx.authorize(await isGroupMember(ctx.db, input.group, actor.userId));
    subjects = [{ kind: 'group', id: input.group }];
  } else {
    ctx.authorize(false);
  }
  // A connector key reads the grants of its own destination only.
  let byDestination = input.destination;
  if (isConnectorKey(actor)) {
    byDestination = boundDestination(actor.scopes) ?? '';
    checkConnectorDestination(actor, input.destination ?? byDestination);
  }
  return data.listGrants(ctx.db, {
    bySubjects: subjects,
    byResource: input.resource,
    byPrivilege: input.privilege,
    bySubjectKind: input.kind,
    search: input.search,
    count: true,
    byDestination,
    includeSystem: input.showSystem,
    activeAt: ctx.clock.now(),
    after: input.after,
    limit: input.limit,
  });
}

export async function getGrant(ctx: RequestContext, id: string): Promise<Grant> {
  const grant = await data.getGrant(ctx.db, { byId: id });
  const actor = actorOf(ctx);
  if (isConnectorKey(actor) && grant.resource.split('.')[0] !== boundDestination(actor.scopes))
    throw new NotFoundError('grant');
  return grant;
}

interface GrantInput {
  user?: string;
  userName?: string;
  group?: string;
  groupName?: string;
  privilege: string;
  resource: string;
  expiresAt?: string;
}

async function resolveSubject(
  ctx: RequestContext,
  g: GrantInput,
): Promise<Subject & { name: string }> {
  if (g.user !== undefined || g.userName !== undefined) {
    const user = await getUser(
      ctx.db,
      g.user !== undefined ? { byId: g.user } : { byName: g.userName! },
    ).catch((err: unknown) => {
      throw err instanceof NotFoundError
        ? new NotFoundError('user', `user ${g.user ?? g.userName} not found`)
        : err;
    });
    assertThat(
      user.kind === 'user',
      () =>
        new AppError(
          'bad_request',
          `${user.name} is a system user; grants to it are managed by the server`,
        ),
    );
    return { kind: 'user', id: user.id, name: user.name };
  }
  const group = await getGroup(
    ctx.db,
    g.group !== undefined ? { byId: g.group } : { byName: g.groupName! },
  ).catch((err: unknown) => {
    throw err instanceof NotFoundError
      ? new NotFoundError('group', `group ${g.group ?? g.groupName} not found`)
      : err;
  });
  return { kind: 'group', id: group.id, name: group.name };
}

/** Creates a grant, or returns the identical one that exists (`created: false`). */
async function addGrant(
  ctx: RequestContext,
  input: GrantInput,
): Promise<{ grant: Grant; created: boolean }> {
  const now = ctx.clock.now();
  const subject = await resolveSubject(ctx, input);
  const expiresAt = input.expiresAt === undefined ? null : Date.parse(input.expiresAt);
  assertThat(
    expiresAt === null || expiresAt > now,
    () => new ValidationError([{ field: 'expiresAt', errors: ['must be in the future'] }]),
  );
  const created = await data.createGrant(ctx.db, {
    id: newId('grant', now),
    subject,
    privilege: input.privilege,
    resource: input.resource,
    expiresAt,
    managedBy: 'api',
    createdBy: actorOf(ctx).userId,
    now,
  });
  const grant = await data.findGrant(ctx.db, {
    subject,
    privilege: input.privilege,
    resource: input.resource,
  });
  if (expiresAt !== null) ctx.expiry.schedule(expiresAt);
  return { grant: grant!, created };
}

export async function createGrant(
  ctx: RequestContext,
  input: GrantInput,
): Promise<{ grant: Grant; created: boolean }> {
  const result = await addGrant(ctx, input);
  // Granting what exists changes nothing: the answer says so, and the log stays quiet.
  if (!result.created) ctx.unchanged();
  else ctx.audit({ kind: 'grant', id: result.grant.id, name: describe(result.grant) });
  return result;
}

function describe(g: Grant): string {
  return `${g.subjectKind} ${g.subjectName}: ${g.privilege} on ${g.resource}`;
}

function assertRemovable(g: Grant): void {
  assertThat(
    g.managedBy !== 'system',
    () => new AppError('bad_request', 'this grant belongs to the server and cannot be removed'),
  );
  assertThat(
    g.managedBy !== 'config',
    () =>
      new AppError(
        'bad_request',
        "this grant is declared in the server's config file; remove it there",
      ),
  );
}

export async function deleteGrant(ctx: RequestContext, id: string): Promise<void> {
  const grant = await data.getGrant(ctx.db, { byId: id });
  assertRemovable(grant);
  await data.deleteGrant(ctx.db, id, ctx.clock.now());
  await assertAdminRemains(ctx);
  ctx.audit({ kind: 'grant', id, name: describe(grant) });
}

/** Adds and removes grants in one transaction; removing a grant that does not exist is a no-op. */
export async function updateGrants(
  ctx: RequestContext,
  input: { grantsToAdd: GrantInput[]; grantsToRemove: Array<{ id: string } | GrantInput> },
): Promise<{ added: Grant[]; removed: string[] }> {
  const added: Grant[] = [];
  const created: string[] = [];
  for (const g of input.grantsToAdd) {
    const result = await addGrant(ctx, g);
    added.push(result.grant);
    if (result.created) created.push(result.grant.id);
  }
  const removed: string[] = [];
  for (const r of input.grantsToRemove) {
    let grant: Grant | undefined;
    if ('id' in r) {
      grant = await data.getGrant(ctx.db, { byId: r.id }).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
    } else {
      const subject = await resolveSubject(ctx, r);
      grant = await data.findGrant(ctx.db, {
        subject,
        privilege: r.privilege,
        resource: r.resource,
      });
    }
    if (!grant) continue;
    assertRemovable(grant);
    await data.deleteGrant(ctx.db, grant.id, ctx.clock.now());
    removed.push(grant.id);
  }
  if (removed.length > 0) await assertAdminRemains(ctx);
  if (created.length === 0 && removed.length === 0) ctx.unchanged();
  else ctx.audit({ kind: 'grant', details: { added: created, removed } });
  return { added, removed };
}
