import { sql, type Kysely } from 'kysely';

// SCIM 2.0 provisioning. An identity provider pushes users and groups with a token bound to it;
// what it pushed is recorded per provider, so one provider's token never reaches another's
// resources or users nobody provisioned. A user belongs to at most one provider's SCIM (the
// primary key): a second provider naming the same user gets a uniqueness error. `active` = 0 is
// a deactivated user: no sessions, and every sign-in refused, until the provider reactivates
// them. `attributes` is the resource as the provider last wrote it (JSON, without id, meta and
// password), given back on reads so the provider sees no spurious differences; `version` is the
// resource's ETag. Groups record whether SCIM created them or took over an existing one of the
// same name (then deleting it through SCIM only lets it go). Provisioned memberships carry the
// source `scim:<provider id>`, apart from the `provider:<id>` ones a login's groups claim sets,
// so neither feed undoes the other.
export async function up(db: Kysely<unknown>): Promise<void> {
  const now = Date.now();
  await db.schema
    .createTable('scim_users')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('provider_id', 'text', (c) =>
      c.notNull().references('providers.id').onDelete('cascade'),
    )
    .addColumn('external_id', 'text')
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('attributes', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('scim_users_provider_id_external_id')
    .on('scim_users')
    .columns(['provider_id', 'external_id'])
    .execute();

  await db.schema
    .createTable('scim_groups')
    .addColumn('group_id', 'text', (c) =>
      c.primaryKey().references('groups.id').onDelete('cascade'),
    )
    .addColumn('provider_id', 'text', (c) =>
      c.notNull().references('providers.id').onDelete('cascade'),
    )
    .addColumn('external_id', 'text')
    .addColumn('created', 'integer', (c) => c.notNull())
    .addColumn('attributes', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('scim_groups_provider_id_external_id')
    .on('scim_groups')
    .columns(['provider_id', 'external_id'])
    .execute();

  // The system user SCIM tokens belong to; it has no role on infra, and its keys carry the
  // scope `scim:<provider id>`, which is all they may do.
  await sql`insert into users (id, name, kind, managed_by, created_at, updated_at)
    values ('usr_000000000000000000000002', 'scim', 'system', 'system', ${now}, ${now})`.execute(
    db,
  );
}
