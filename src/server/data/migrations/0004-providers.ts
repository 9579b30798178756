import type { Kysely } from 'kysely';

// Identity providers (OIDC: Okta, Azure AD, Google, any OIDC), the link between a user and a
// provider (subject, last known groups, the sealed refresh token), pending authorization-code
// logins (state, nonce, PKCE verifier: server-side, single use), and device-flow requests.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('providers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    // Exactly one is set: the sealed secret, or a secret reference read at each login.
    .addColumn('client_secret', 'text')
    .addColumn('client_secret_ref', 'text')
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('groups_claim', 'text', (c) => c.notNull())
    // Kind-specific settings as JSON (API base URL, Google's admin, secret references); a
    // secret given by value (Google's service account key) lives sealed in private_config.
    .addColumn('config', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('private_config', 'text')
    .addColumn('managed_by', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('provider_users')
    .addColumn('provider_id', 'text', (c) =>
      c.notNull().references('providers.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('groups', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('refresh_token', 'text')
    .addColumn('last_sync_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_users_pkey', ['provider_id', 'user_id'])
    .addUniqueConstraint('provider_users_provider_id_subject', ['provider_id', 'subject'])
    .execute();
  await db.schema
    .createIndex('provider_users_user_id')
    .on('provider_users')
    .column('user_id')
    .execute();

  await db.schema
    .createTable('login_requests')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('provider_id', 'text', (c) =>
      c.notNull().references('providers.id').onDelete('cascade'),
    )
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    // Hash of the cookie given to the browser that started a dashboard login (login CSRF).
    .addColumn('browser_binding', 'text')
    .addColumn('source_ip', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('device_requests')
    .addColumn('device_code_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_code', 'text', (c) => c.notNull().unique())
    .addColumn('approved_by', 'text', (c) => c.references('users.id').onDelete('cascade'))
    // The session that approved: the device's session ends no later than it, and goes with it.
    .addColumn('approved_key_id', 'text', (c) => c.references('access_keys.id').onDelete('cascade'))
    .addColumn('source_ip', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  // Which provider a session came through: deleting the provider ends those sessions.
  await db.schema.alterTable('access_keys').addColumn('provider_id', 'text').execute();
}
