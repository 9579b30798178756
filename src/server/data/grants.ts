import { sql } from 'kysely';
import { NotFoundError } from '../../shared/errors.js';
import type { Grant, InfraRole, ManagedBy, Page, SubjectKind } from '../models.js';
import { recordChange } from './changes.js';
import type { Db } from './db.js';
import { inList } from './id-list.js';
import { afterKey, toPage } from './pages.js';
import { containsPattern, likeIgnoringCase } from './search.js';
import { compiledOnce } from './compiled.js';

export interface Subject {
  kind: SubjectKind;
  id: string;
}

interface ListGrantsOptions {
  /** Grants held by any of these subjects (a user, or a user and its groups). */
  bySubjects?: Subject[];
  byResource?: string;
  byPrivilege?: string;
  /** Grants of users only, or of groups only. */
  bySubjectKind?: SubjectKind;
  /** Grants whose user or group name contains this, ignoring case. */
  search?: string;
  /** Also count every grant the filters find (`total`). */
  count?: boolean;
  /** Grants on a destination: the destination itself and its namespaces. */
  byDestination?: string;
  /** Grants on any of these destinations (their namespaces included). */
  byDestinations?: string[];
  /** Grants held by any of these users or groups. */
  bySubjectIds?: string[];
  includeSystem?: boolean;
  /** Leave out grants that expired before this time. */
  activeAt: number;
  /** Cursor: `next` of the previous page. */
  after?: string;
  limit: number;
}

function joinSubjects(db: Db) {
  return db
    .selectFrom('grants')
    .leftJoin('users', (j) =>
      j.onRef('users.id', '=', 'grants.subjectId').on('grants.subjectKind', '=', 'user'),
    )
    .leftJoin('groups', (j) =>
      j.onRef('groups.id', '=', 'grants.subjectId').on('grants.subjectKind', '=', 'group'),
    );
}

type JoinedGrants = ReturnType<typeof joinSubjects>;

function withGrantColumns(q: JoinedGrants) {
  return q
    .select([
      'grants.id',
      'grants.subjectKind',
      'grants.subjectId',
      'grants.privilege',
      'grants.resource',
      'grants.destination',
      'grants.expiresAt',
      'grants.managedBy',
      'grants.createdBy',
      'grants.createdAt',
      'grants.requestId',
    ])
    .select((eb) => eb.fn.coalesce('users.name', 'groups.name', sql.lit('')).as('subjectName'));
}

function selectGrants(db: Db) {
  return withGrantColumns(joinSubjects(db));
}

interface GrantsShape {
  system: boolean;
  byResource: boolean;
  byPrivilege: boolean;
  bySubjectKind: boolean;
  search: boolean;
  byDestination: boolean;
  after: boolean;
}

interface GrantsParams {
  activeAt: number;
  resource: string | undefined;
  privilege: string | undefined;
  subjectKind: SubjectKind | undefined;
  pattern: string;
  destination: string | undefined;
  after: string;
  limit: number;
}

/** The grants a list's filters find, in no order; `narrow` adds filters built per request. */
function filterGrants(
  db: Db,
  p: GrantsParams,
  shape: GrantsShape,
  narrow: (q: JoinedGrants) => JoinedGrants = (q) => q,
) {
  let q = narrow(joinSubjects(db)).where((eb) =>
    eb.or([eb('grants.expiresAt', 'is', null), eb('grants.expiresAt', '>', p.activeAt)]),
  );
  if (!shape.system) q = q.where('grants.managedBy', '!=', 'system');
  if (shape.byResource) q = q.where('grants.resource', '=', p.resource!);
  if (shape.byPrivilege) q = q.where('grants.privilege', '=', p.privilege!);
  if (shape.bySubjectKind) q = q.where('grants.subjectKind', '=', p.subjectKind!);
  if (shape.search) {
    // The matching users and groups first (one scan of each table), then their grants by index.
    q = q.where((eb) =>
      eb.or([
        eb('grants.subjectId', 'in', (sub) =>
          sub
            .selectFrom('users')
            .select('users.id')
            .where(likeIgnoringCase(db, 'users.name', p.pattern)),
        ),
        eb('grants.subjectId', 'in', (sub) =>
          sub
            .selectFrom('groups')
            .select('groups.id')
            .where(likeIgnoringCase(db, 'groups.name', p.pattern)),
        ),
      ]),
    );
  }
  if (shape.byDestination) q = q.where('grants.destination', '=', p.destination!);
  return q;
}

function selectGrantsPage(
  db: Db,
  p: GrantsParams,
  shape: GrantsShape,
  narrow?: (q: JoinedGrants) => JoinedGrants,
) {
  let q = withGrantColumns(filterGrants(db, p, shape, narrow));
  if (shape.after) q = q.where('grants.id', '>', p.after);
  return q.orderBy('grants.id').limit(p.limit);
}

function countGrants(
  db: Db,
  p: GrantsParams,
  shape: GrantsShape,
  narrow?: (q: JoinedGrants) => JoinedGrants,
) {
  return filterGrants(db, p, shape, narrow).select((eb) =>
    eb.fn.countAll<number | string>().as('n'),
  );
}

const listGrantsQuery = compiledOnce(selectGrantsPage);
const countGrantsQuery = compiledOnce(countGrants);

export async function listGrants(db: Db, opts: ListGrantsOptions): Promise<Page<Grant>> {
  const after = afterKey(opts.after);
  const shape = {
    system: opts.includeSystem === true,
    byResource: opts.byResource !== undefined,
    byPrivilege: opts.byPrivilege !== undefined,
    bySubjectKind: opts.bySubjectKind !== undefined,
    search: opts.search !== undefined,
    byDestination: opts.byDestination !== undefined,
    after: after !== undefined,
  };
  const params = {
    activeAt: opts.activeAt,
    resource: opts.byResource,
    privilege: opts.byPrivilege,
    subjectKind: opts.bySubjectKind,
    pattern: containsPattern(opts.search ?? ''),
    destination: opts.byDestination,
    after: after ?? '',
    limit: opts.limit + 1,
  };
  const { bySubjects: subjects, byDestinations: destinations, bySubjectIds: ids } = opts;
  if (subjects?.length === 0 || destinations?.length === 0 || ids?.length === 0)
    return { items: [], ...(opts.count ? { total: 0 } : {}) };
  const countShape = { ...shape, after: false };
  let rows: Grant[];
  let counted: Array<{ n: number | string }> | undefined;
  if (subjects === undefined && destinations === undefined && ids === undefined) {
    rows = await listGrantsQuery(db, shape, params);
    if (opts.count) counted = await countGrantsQuery(db, countShape, params);
  } else {
    // The lists' lengths change the SQL text: built for each request.
    const narrow = (q: JoinedGrants): JoinedGrants => {
      let n = q;
      if (subjects !== undefined) {
        n = n.where((eb) =>
          eb.or(
            subjects.map((s) =>
              eb.and([eb('grants.subjectKind', '=', s.kind), eb('grants.subjectId', '=', s.id)]),
            ),
          ),
        );
      }
      // One variable per list, however long (id-list.ts).
      if (destinations !== undefined) n = n.where(inList(db, 'grants.destination', destinations));
      if (ids !== undefined) n = n.where(inList(db, 'grants.subjectId', ids));
      return n;
    };
    rows = await selectGrantsPage(db, params, shape, narrow).execute();
    if (opts.count) counted = await countGrants(db, params, countShape, narrow).execute();
  }
  const page = toPage(rows, opts.limit, (g) => g.id);
  return counted === undefined ? page : { ...page, total: Number(counted[0]?.n ?? 0) };
}

export async function getGrant(db: Db, by: { byId: string }): Promise<Grant> {
  const row = await selectGrants(db).where('grants.id', '=', by.byId).executeTakeFirst();
  if (!row) throw new NotFoundError('grant');
  return row;
}

export async function findGrant(
  db: Db,
  by: { subject: Subject; privilege: string; resource: string },
): Promise<Grant | undefined> {
  return selectGrants(db)
    .where('grants.subjectKind', '=', by.subject.kind)
    .where('grants.subjectId', '=', by.subject.id)
    .where('grants.privilege', '=', by.privilege)
    .where('grants.resource', '=', by.resource)
    .executeTakeFirst();
}

interface NewGrant {
  id: string;
  subject: Subject;
  privilege: string;
  resource: string;
  expiresAt: number | null;
  managedBy: ManagedBy;
  createdBy: string | null;
  /** The access request whose approval makes it. */
  requestId?: string;
  now: number;
}

/** Creates a grant unless the same (subject, privilege, resource) exists; returns whether it did. */
export async function createGrant(db: Db, g: NewGrant): Promise<boolean> {
  const result = await db
    .insertInto('grants')
    .values({
      id: g.id,
      subjectKind: g.subject.kind,
      subjectId: g.subject.id,
      privilege: g.privilege,
      resource: g.resource,
      destination: g.resource.split('.')[0]!,
      expiresAt: g.expiresAt,
      managedBy: g.managedBy,
      createdBy: g.createdBy,
      createdAt: g.now,
      requestId: g.requestId ?? null,
    })
    .onConflict((oc) =>
      oc.columns(['subjectKind', 'subjectId', 'privilege', 'resource']).doNothing(),
    )
    .executeTakeFirst();
  const created = Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  if (created) await recordChange(db, [g.resource.split('.')[0]!], g.now, [g.subject]);
  return created;
}

/**
 * Hands a grant made through the API over to the config file that now declares it (it keeps its
 * id and history); returns whether there was one.
 */
export async function adoptGrant(
  db: Db,
  g: { subject: Subject; privilege: string; resource: string },
): Promise<boolean> {
  const adopted = await db
    .updateTable('grants')
    .set({ managedBy: 'config' })
    .where('managedBy', '=', 'api')
    .where('subjectKind', '=', g.subject.kind)
    .where('subjectId', '=', g.subject.id)
    .where('privilege', '=', g.privilege)
    .where('resource', '=', g.resource)
    .executeTakeFirst();
  return Number(adopted.numUpdatedRows) > 0;
}

export async function deleteGrant(db: Db, id: string, now: number): Promise<void> {
  const deleted = await db
    .deleteFrom('grants')
    .where('id', '=', id)
    .returning(['destination', 'subjectKind', 'subjectId'])
    .execute();
  if (deleted.length === 0) throw new NotFoundError('grant');
  for (const d of deleted)
    await recordChange(db, [d.destination], now, [{ kind: d.subjectKind, id: d.subjectId }]);
}

/**
 * Extends a temporary grant to `expiresAt` (never shortens it) for the request that asked again;
 * returns whether it changed.
 */
export async function extendGrant(
  db: Db,
  g: { id: string; expiresAt: number; requestId: string; now: number },
): Promise<boolean> {
  const updated = await db
    .updateTable('grants')
    .set({ expiresAt: g.expiresAt, requestId: g.requestId })
    .where('id', '=', g.id)
    .where('expiresAt', '<', g.expiresAt)
    .returning(['destination', 'subjectKind', 'subjectId'])
    .execute();
  for (const d of updated)
    await recordChange(db, [d.destination], g.now, [{ kind: d.subjectKind, id: d.subjectId }]);
  return updated.length > 0;
}

/** When the next grant expires (after `now`), or undefined when none will. */
export async function nextGrantExpiry(db: Db, now: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('grants')
    .select((eb) => eb.fn.min('expiresAt').as('next'))
    .where('expiresAt', '>', now)
    .executeTakeFirst();
  return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
}

/** Deletes grants whose expiry has passed; returns them. */
export async function deleteExpiredGrants(db: Db, now: number): Promise<Grant[]> {
  const expired = await selectGrants(db).where('grants.expiresAt', '<=', now).execute();
  if (expired.length > 0) {
    await db.deleteFrom('grants').where('expiresAt', '<=', now).execute();
    const byDestination = new Map<string, Map<string, SubjectKind>>();
    for (const g of expired) {
      const subjects = byDestination.get(g.destination) ?? new Map<string, SubjectKind>();
      byDestination.set(g.destination, subjects.set(g.subjectId, g.subjectKind));
    }
    for (const [destination, subjects] of byDestination)
      await recordChange(
        db,
        [destination],
        now,
        [...subjects].map(([id, kind]) => ({ kind, id })),
      );
  }
  return expired;
}

/** The roles a user holds on the Infra API, directly or through its groups. */
/**
 * The caller's roles on `infra` (held directly or through a group), and when the first of the
 * grants giving them expires (Infinity when none does).
 */
export async function listInfraRoles(
  db: Db,
  userId: string,
  now: number,
): Promise<{ roles: InfraRole[]; until: number }> {
  // Subject ids carry their kind (usr_, grp_), so one IN over the user and its groups reaches
  // every grant through the subject index, however many grants there are.
  const groups = await db
    .selectFrom('groupMembers')
    .select('groupId')
    .where('userId', '=', userId)
    .execute();
  const rows = await db
    .selectFrom('grants')
    .select(['privilege', 'expiresAt'])
    .where('subjectId', 'in', [userId, ...groups.map((g) => g.groupId)])
    .where('resource', '=', 'infra')
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]))
    .execute();
  const roles = new Set(rows.map((r) => r.privilege as InfraRole));
  const until = Math.min(
    ...rows.map((r) => (r.expiresAt === null ? Infinity : Number(r.expiresAt))),
  );
  return { roles: [...roles], until };
}

/** How many users hold `admin` on `infra`, directly or through a group. */
export async function countAdmins(db: Db, now: number): Promise<number> {
  const adminGrants = db
    .selectFrom('grants')
    .where('resource', '=', 'infra')
    .where('privilege', '=', 'admin')
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]));
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kind', '=', 'user')
    .where((eb) =>
      eb.or([
        eb('id', 'in', adminGrants.select('subjectId').where('subjectKind', '=', 'user')),
        eb(
          'id',
          'in',
          eb
            .selectFrom('groupMembers')
            .select('userId')
            .where(
              'groupId',
              'in',
              adminGrants.select('subjectId').where('subjectKind', '=', 'group'),
            ),
        ),
      ]),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
