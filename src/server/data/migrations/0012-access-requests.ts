import type { Kysely } from 'kysely';

// Just-in-time access. Request policies say who may ask for which role on which resources and
// who approves; requests move from pending to approved, denied, expired or cancelled, and each
// review is kept. An approved request becomes a grant with an expiry that names its request, so
// a temporary grant says where it came from. Subjects in policies are names (users by email,
// groups by name), so the config file can declare policies before anyone has logged in.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('request_policies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('resources', 'text', (c) => c.notNull())
    .addColumn('requesters', 'text', (c) => c.notNull())
    .addColumn('approvers', 'text', (c) => c.notNull())
    .addColumn('approvals_required', 'integer', (c) => c.notNull())
    .addColumn('max_duration', 'bigint', (c) => c.notNull())
    .addColumn('pending_expiry', 'bigint', (c) => c.notNull())
    .addColumn('reason_required', 'integer', (c) => c.notNull())
    .addColumn('managed_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('access_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('privilege', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('duration', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('decided_at', 'bigint')
    .addColumn('grant_id', 'text')
    .addColumn('grant_expires_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('access_requests_user_id')
    .on('access_requests')
    .column('user_id')
    .execute();
  await db.schema
    .createIndex('access_requests_state')
    .on('access_requests')
    .columns(['state', 'expires_at'])
    .execute();
  await db.schema
    .createTable('access_request_reviews')
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('reviewer_id', 'text', (c) => c.notNull())
    .addColumn('reviewer_name', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('access_request_reviews_pkey', ['request_id', 'reviewer_id'])
    .execute();
  await db.schema.alterTable('grants').addColumn('request_id', 'text').execute();
}
