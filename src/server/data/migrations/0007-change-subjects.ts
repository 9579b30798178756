import type { Kysely } from 'kysely';

// The change log says what changed, not only where: the access feed answers a connector with
// the state of what changed since its index instead of the whole state of its destination.
// `kind`: user, group (`subject` is its id), sessions (ended at `at`), destination (nothing a
// feed carries), or all (a snapshot; also every change recorded before this migration).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('changes')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('all'))
    .execute();
  await db.schema.alterTable('changes').addColumn('subject', 'text').execute();
}
