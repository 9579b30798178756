import { NotFoundError } from '../../shared/errors.js';
import type { ManagedBy, RequestPolicy, SubjectNames } from '../models.js';
import { translateDbError, type Db } from './db.js';
import type { RequestPoliciesTable } from './schema.js';

function toPolicy(row: RequestPoliciesTable): RequestPolicy {
  return {
    id: row.id,
    name: row.name,
    roles: JSON.parse(row.roles) as string[],
    resources: JSON.parse(row.resources) as string[],
    requesters: JSON.parse(row.requesters) as SubjectNames,
    approvers: JSON.parse(row.approvers) as SubjectNames,
    approvalsRequired: Number(row.approvalsRequired),
    maxDuration: Number(row.maxDuration),
    pendingExpiry: Number(row.pendingExpiry),
    reasonRequired: Number(row.reasonRequired) === 1,
    managedBy: row.managedBy,
    createdAt: Number(row.createdAt),
    updatedAt: Number(row.updatedAt),
  };
}

function toRow(p: RequestPolicy): RequestPoliciesTable {
  return {
    id: p.id,
    name: p.name,
    roles: JSON.stringify(p.roles),
    resources: JSON.stringify(p.resources),
    requesters: JSON.stringify(p.requesters),
    approvers: JSON.stringify(p.approvers),
    approvalsRequired: p.approvalsRequired,
    maxDuration: p.maxDuration,
    pendingExpiry: p.pendingExpiry,
    reasonRequired: p.reasonRequired ? 1 : 0,
    managedBy: p.managedBy,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

/** Every policy, by name: there are a handful, and each request checks them all. */
export async function listRequestPolicies(db: Db): Promise<RequestPolicy[]> {
  const rows = await db.selectFrom('requestPolicies').selectAll().orderBy('name').execute();
  return rows.map(toPolicy);
}

export async function getRequestPolicy(
  db: Db,
  by: { byId: string } | { byName: string },
): Promise<RequestPolicy> {
  const q = db.selectFrom('requestPolicies').selectAll();
  const row = await (
    'byId' in by ? q.where('id', '=', by.byId) : q.where('name', '=', by.byName)
  ).executeTakeFirst();
  if (!row) throw new NotFoundError('request policy');
  return toPolicy(row);
}

export async function createRequestPolicy(db: Db, p: RequestPolicy): Promise<void> {
  await db.insertInto('requestPolicies').values(toRow(p)).execute().catch(translateDbError);
}

/** Replaces a policy's rules (its id, name and creation stay). */
export async function updateRequestPolicy(db: Db, p: RequestPolicy): Promise<void> {
  const row = toRow(p);
  const result = await db
    .updateTable('requestPolicies')
    .set({
      roles: row.roles,
      resources: row.resources,
      requesters: row.requesters,
      approvers: row.approvers,
      approvalsRequired: row.approvalsRequired,
      maxDuration: row.maxDuration,
      pendingExpiry: row.pendingExpiry,
      reasonRequired: row.reasonRequired,
      managedBy: row.managedBy,
      updatedAt: row.updatedAt,
    })
    .where('id', '=', p.id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new NotFoundError('request policy');
}

export async function deleteRequestPolicy(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('requestPolicies').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new NotFoundError('request policy');
}

export async function listRequestPoliciesManagedBy(
  db: Db,
  managedBy: ManagedBy,
): Promise<RequestPolicy[]> {
  return (await listRequestPolicies(db)).filter((p) => p.managedBy === managedBy);
}
