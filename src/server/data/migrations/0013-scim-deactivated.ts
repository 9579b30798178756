import type { Kysely } from 'kysely';

// A provider's SCIM records go with the provider (0009 cascades), and with them the mark of the
// users it had deactivated: they would look active again, to be let in by a password or another
// provider. Removing a provider moves each such mark here (the provider's name, for the admin and
// the log); it stays until an admin removes the user.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('deactivated_by', 'text').execute();
}
