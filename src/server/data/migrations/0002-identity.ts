import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../engine.js';

// Users, groups, grants, access keys, the audit log and login throttling: the identity and
// access model. Booleans are integers (0/1) and times are epoch milliseconds on both engines.
export async function up(db: Kysely<unknown>): Promise<void> {
  const now = Date.now();
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('user'))
    .addColumn('managed_by', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint')
    .execute();

  await db.schema
    .createTable('credentials')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('one_time', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('managed_by', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // A membership can come from several sources (an admin, the config file, an identity
  // provider); each source adds and removes only its own rows.
  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pkey', ['group_id', 'user_id', 'source'])
    .execute();
  await db.schema
    .createIndex('group_members_user_id')
    .on('group_members')
    .column('user_id')
    .execute();

  // destination is the part of resource before the first dot, kept so the grants of one
  // destination are an index range rather than a LIKE scan.
  await db.schema
    .createTable('grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject_kind', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('privilege', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('managed_by', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('grants_subject_privilege_resource', [
      'subject_kind',
      'subject_id',
      'privilege',
      'resource',
    ])
    .execute();
  await db.schema.createIndex('grants_subject_id').on('grants').column('subject_id').execute();
  await db.schema
    .createIndex('grants_destination')
    .on('grants')
    .columns(['destination', 'id'])
    .execute();
  await db.schema.createIndex('grants_expires_at').on('grants').column('expires_at').execute();

  await db.schema
    .createTable('access_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull().unique())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('issued_via', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('managed_by', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('inactivity_timeout', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('inactivity_deadline', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addUniqueConstraint('access_keys_user_id_name', ['user_id', 'name'])
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('actor_name', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_kind', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('target_name', 'text')
    .addColumn('source_ip', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('audit_log_actor_id')
    .on('audit_log')
    .columns(['actor_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('audit_log_target_id')
    .on('audit_log')
    .columns(['target_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('audit_log_action')
    .on('audit_log')
    .columns(['action', 'seq'])
    .execute();

  // The chain's head: one row, locked by each writer so appends are serialized across replicas.
  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  await sql`insert into audit_head (id, seq, hash) values (1, 0, ${'0'.repeat(64)})`.execute(db);

  // The log is append-only for everyone who reaches the database through the server.
  if (isPostgres(db)) {
    await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
      begin raise exception 'audit_log is append-only'; end $$`.execute(db);
    await sql`create trigger audit_log_append_only before update or delete on audit_log
      for each row execute function audit_log_append_only()`.execute(db);
  } else {
    for (const op of ['update', 'delete']) {
      await sql
        .raw(
          `create trigger audit_log_no_${op} before ${op} on audit_log begin select raise(abort, 'audit_log is append-only'); end`,
        )
        .execute(db);
    }
  }

  await db.schema
    .createTable('login_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('locked_until', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // The system user that connectors act as; it cannot be deleted or log in with a password.
  const connectorId = 'usr_000000000000000000000001';
  await sql`insert into users (id, name, kind, managed_by, created_at, updated_at)
    values (${connectorId}, 'connector', 'system', 'system', ${now}, ${now})`.execute(db);
  await sql`insert into grants (id, subject_kind, subject_id, privilege, resource, destination, managed_by, created_at)
    values ('gnt_000000000000000000000001', 'user', ${connectorId}, 'connector', 'infra', 'infra', 'system', ${now})`.execute(
    db,
  );
}
