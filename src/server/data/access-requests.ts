import { expressionBuilder, sql, type Expression, type SqlBool } from 'kysely';
import { NotFoundError } from '../../shared/errors.js';
import type { AccessRequest, AccessRequestState, AccessReview, Page } from '../models.js';
import type { Db } from './db.js';
import type { Database } from './schema.js';
import { inList } from './id-list.js';
import { afterKey, toPage } from './pages.js';

function selectRequests(db: Db) {
  return db
    .selectFrom('accessRequests')
    .leftJoin('users', 'users.id', 'accessRequests.userId')
    .leftJoin('requestPolicies', 'requestPolicies.id', 'accessRequests.policyId')
    .selectAll('accessRequests')
    .select((eb) => eb.fn.coalesce('users.name', sql.lit('')).as('userName'))
    .select((eb) => eb.fn.coalesce('requestPolicies.name', sql.lit('')).as('policyName'));
}

type Row = Awaited<ReturnType<ReturnType<typeof selectRequests>['executeTakeFirstOrThrow']>>;

const num = (v: number | null) => (v === null ? null : Number(v));

function toRequest(row: Row, reviews: AccessReview[]): AccessRequest {
  return {
    id: row.id,
    userId: row.userId,
    userName: row.userName,
    policyId: row.policyId,
    policyName: row.policyName,
    privilege: row.privilege,
    resource: row.resource,
    duration: Number(row.duration),
    reason: row.reason,
    state: row.state,
    createdAt: Number(row.createdAt),
    expiresAt: Number(row.expiresAt),
    decidedAt: num(row.decidedAt),
    grantId: row.grantId,
    grantExpiresAt: num(row.grantExpiresAt),
    reviews,
  };
}

async function withReviews(db: Db, rows: Row[]): Promise<AccessRequest[]> {
  if (rows.length === 0) return [];
  const reviews = await db
    .selectFrom('accessRequestReviews')
    .selectAll()
    .where(
      inList(
        db,
        'requestId',
        rows.map((r) => r.id),
      ),
    )
    .orderBy('createdAt')
    .execute();
  const byRequest = new Map<string, AccessReview[]>();
  for (const r of reviews) {
    const list = byRequest.get(r.requestId) ?? [];
    list.push({
      reviewerId: r.reviewerId,
      reviewerName: r.reviewerName,
      decision: r.decision,
      comment: r.comment,
      createdAt: Number(r.createdAt),
    });
    byRequest.set(r.requestId, list);
  }
  return rows.map((row) => toRequest(row, byRequest.get(row.id) ?? []));
}

export interface NewAccessRequest {
  id: string;
  userId: string;
  policyId: string;
  privilege: string;
  resource: string;
  duration: number;
  reason: string;
  createdAt: number;
  expiresAt: number;
}

export async function createAccessRequest(db: Db, r: NewAccessRequest): Promise<void> {
  await db
    .insertInto('accessRequests')
    .values({ ...r, state: 'pending', decidedAt: null, grantId: null, grantExpiresAt: null })
    .execute();
}

export async function getAccessRequest(db: Db, id: string): Promise<AccessRequest> {
  const row = await selectRequests(db).where('accessRequests.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('access request');
  return (await withReviews(db, [row]))[0]!;
}

interface AccessRequestFilters {
  byUserId?: string;
  /** Requests for this role on this resource. */
  byAccess?: { privilege: string; resource: string };
  /** Requests in any of these states as of `now`: past its deadline, a pending one is expired. */
  byStates?: { states: AccessRequestState[]; now: number };
  /** Requests under any of these policies. */
  byPolicyIds?: string[];
  /** Requests this user neither made nor reviewed yet. */
  notSeenBy?: string;
}

/** The filters as one condition on `access_requests`, or undefined when nothing can match. */
function matching(db: Db, opts: AccessRequestFilters): Expression<SqlBool> | undefined {
  if (opts.byPolicyIds?.length === 0 || opts.byStates?.states.length === 0) return undefined;
  const eb = expressionBuilder<Database, 'accessRequests'>();
  const all: Array<Expression<SqlBool>> = [];
  if (opts.byUserId !== undefined) all.push(eb('accessRequests.userId', '=', opts.byUserId));
  if (opts.byAccess !== undefined) {
    all.push(eb('accessRequests.privilege', '=', opts.byAccess.privilege));
    all.push(eb('accessRequests.resource', '=', opts.byAccess.resource));
  }
  if (opts.byStates !== undefined) {
    const { states, now } = opts.byStates;
    const pending = eb('accessRequests.state', '=', 'pending');
    all.push(
      eb.or(
        states.map((state) =>
          state === 'pending'
            ? eb.and([pending, eb('accessRequests.expiresAt', '>', now)])
            : state === 'expired'
              ? eb.or([
                  eb('accessRequests.state', '=', 'expired'),
                  eb.and([pending, eb('accessRequests.expiresAt', '<=', now)]),
                ])
              : eb('accessRequests.state', '=', state),
        ),
      ),
    );
  }
  if (opts.byPolicyIds !== undefined)
    all.push(inList(db, 'accessRequests.policyId', opts.byPolicyIds));
  if (opts.notSeenBy !== undefined) {
    all.push(eb('accessRequests.userId', '!=', opts.notSeenBy));
    all.push(
      eb.not(
        eb.exists(
          eb
            .selectFrom('accessRequestReviews')
            .select('accessRequestReviews.requestId')
            .whereRef('accessRequestReviews.requestId', '=', 'accessRequests.id')
            .where('accessRequestReviews.reviewerId', '=', opts.notSeenBy),
        ),
      ),
    );
  }
  return eb.and(all);
}

/** Newest first. */
export async function listAccessRequests(
  db: Db,
  opts: AccessRequestFilters & { after?: string; limit: number },
): Promise<Page<AccessRequest>> {
  const where = matching(db, opts);
  if (where === undefined) return { items: [] };
  let q = selectRequests(db).where(where);
  const after = afterKey(opts.after);
  if (after !== undefined) q = q.where('accessRequests.id', '<', after);
  const rows = await q
    .orderBy('accessRequests.id', 'desc')
    .limit(opts.limit + 1)
    .execute();
  const page = toPage(rows, opts.limit, (r) => r.id);
  return { ...page, items: await withReviews(db, page.items) };
}

/** How many requests the filters find. */
export async function countAccessRequests(db: Db, opts: AccessRequestFilters): Promise<number> {
  const where = matching(db, opts);
  if (where === undefined) return 0;
  const row = await db
    .selectFrom('accessRequests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(where)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Moves a request on from `from`; returns whether it was still there to move. */
export async function setAccessRequestState(
  db: Db,
  id: string,
  from: AccessRequestState,
  to: {
    state: AccessRequestState;
    decidedAt: number;
    grantId?: string;
    grantExpiresAt?: number;
  },
): Promise<boolean> {
  const result = await db
    .updateTable('accessRequests')
    .set({
      state: to.state,
      decidedAt: to.decidedAt,
      grantId: to.grantId ?? null,
      grantExpiresAt: to.grantExpiresAt ?? null,
    })
    .where('id', '=', id)
    .where('state', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function addAccessReview(
  db: Db,
  requestId: string,
  review: AccessReview,
): Promise<void> {
  await db
    .insertInto('accessRequestReviews')
    .values({ requestId, ...review })
    .execute();
}

/**
 * Marks the pending requests past their deadline expired; returns those this call moved. The
 * update is conditional on the state, so when replicas race each expiry is returned once.
 */
export async function expireAccessRequests(db: Db, now: number): Promise<AccessRequest[]> {
  const moved = await db
    .updateTable('accessRequests')
    .set({ state: 'expired', decidedAt: now })
    .where('state', '=', 'pending')
    .where('expiresAt', '<=', now)
    .returning('id')
    .execute();
  if (moved.length === 0) return [];
  const rows = await selectRequests(db)
    .where(
      inList(
        db,
        'accessRequests.id',
        moved.map((r) => r.id),
      ),
    )
    .execute();
  return withReviews(db, rows);
}

/** When the next pending request expires (after `now`), or undefined when none will. */
export async function nextAccessRequestExpiry(db: Db, now: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('accessRequests')
    .select((eb) => eb.fn.min('expiresAt').as('next'))
    .where('state', '=', 'pending')
    .where('expiresAt', '>', now)
    .executeTakeFirst();
  return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
}
