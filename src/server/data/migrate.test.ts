import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { engines, freshDatabase } from '../../../test/engines.js';
import { assertGolden } from '../../../test/golden.js';
import { dumpSchema } from '../../../test/schema-dump.js';
import { systemClock } from '../../shared/clock.js';
import { ConflictError } from '../../shared/errors.js';
import { openDb, translateDbError, type OpenDb } from './db.js';
import { migrate, migrationNames } from './migrate.js';
import { ensureSetting } from './settings.js';

for (const engine of engines) {
  describe(`migrations [${engine}]`, () => {
    let database: OpenDb;
    let dispose: () => Promise<void>;
    before(async () => {
      const fresh = await freshDatabase(engine);
      dispose = fresh.dispose;
      database = await openDb(fresh.config);
    });
    after(async () => {
      await database.close();
      await dispose();
    });

    it('migrates an empty database to the golden schema', async () => {
      assert.deepEqual(await migrate(database.db), migrationNames);
      assertGolden(
        path.join(import.meta.dirname, 'testdata', `schema.${engine}.sql`),
        await dumpSchema(database),
      );
    });

    it('does nothing the second time', async () => {
      const before = await dumpSchema(database);
      assert.deepEqual(await migrate(database.db), []);
      assert.equal(await dumpSchema(database), before);
    });

    it('refuses a database migrated by a newer version', async () => {
      await sql`insert into migrations (name, timestamp) values ('9999-from-the-future', '2030-01-01T00:00:00.000Z')`.execute(
        database.db,
      );
      await assert.rejects(migrate(database.db), {
        message:
          'the database was migrated by a newer version of infra (migration 9999-from-the-future); run that version or a later one',
      });
      await sql`delete from migrations where name = '9999-from-the-future'`.execute(database.db);
    });

    it('keeps the first value of a setting, and reports duplicates as conflicts', async () => {
      const first = await ensureSetting(database.db, 'installId', () => 'first', systemClock);
      const second = await ensureSetting(database.db, 'installId', () => 'second', systemClock);
      assert.equal(first, 'first');
      assert.equal(second, 'first');
      await assert.rejects(
        database.db
          .insertInto('settings')
          .values({ name: 'installId', value: 'x', updatedAt: 1 })
          .execute()
          .catch(translateDbError),
        (err: Error) => {
          assert.ok(err instanceof ConflictError);
          assert.equal(err.table, 'setting');
          assert.equal(err.column, 'name');
          assert.equal(err.message, 'another setting already has that name');
          return true;
        },
      );
    });
  });
}
