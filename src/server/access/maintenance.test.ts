import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../../test/clock.js';
import { engines, openTestDb } from '../../../test/engines.js';
import { createLogger } from '../../shared/logger.js';
import { newId } from '../../shared/ids.js';
import { createAccessKey, listAccessKeys } from '../data/access-keys.js';
import { listAudit, verifyAudit } from '../data/audit.js';
import type { OpenDb } from '../data/db.js';
import { createGrant, listGrants } from '../data/grants.js';
import { findRemovedUserKey } from '../data/removed-user-keys.js';
import { createUser, deleteUser } from '../data/users.js';
import { removeExpired } from './maintenance.js';
import { Writable } from 'node:stream';

const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

for (const engine of engines) {
  describe(`removeExpired [${engine}]`, () => {
    let database: OpenDb;
    const clock = new TestClock();
    before(async () => {
      database = await openTestDb(engine);
    });
    after(() => database.close());

    it('removes expired grants (audited) and dead keys, and keeps the rest', async () => {
      const db = database.db;
      const now = clock.now();
      const user = await createUser(db, {
        id: newId('user'),
        name: 'sweep@example.com',
        managedBy: 'api',
        now,
      });
      const grant = (privilege: string, expiresAt: number | null) =>
        createGrant(db, {
          id: newId('grant'),
          subject: { kind: 'user', id: user.id },
          privilege,
          resource: 'prod',
          expiresAt,
          managedBy: 'api',
          createdBy: null,
          now,
        });
      await grant('soon', now + 1000);
      await grant('later', now + 60_000);
      await grant('forever', null);
      const key = (name: string, expiresAt: number, inactivityTimeout: number) =>
        createAccessKey(db, {
          id: newId('accessKey'),
          keyId: name.padEnd(10, 'x').slice(0, 10),
          secretHash: '00',
          name,
          userId: user.id,
          issuedVia: 'api',
          scopes: [],
          managedBy: 'api',
          now,
          expiresAt,
          inactivityTimeout,
        });
      await key('expiring', now + 1000, 0);
      await key('idle', now + 60_000, 500);
      await key('kept', now + 60_000, 0);

      clock.advance(1000);
      await removeExpired(db, clock, quiet);

      const grants = await listGrants(db, { activeAt: 0, limit: 100 });
      assert.deepEqual(grants.items.map((g) => g.privilege).sort(), ['forever', 'later']);
      const keys = await listAccessKeys(db, { includeExpired: true, now: clock.now(), limit: 100 });
      assert.deepEqual(
        keys.items.map((k) => k.name),
        ['kept'],
      );
      const audit = await listAudit(db, { limit: 10 });
      assert.equal(audit.items.length, 1);
      assert.equal(audit.items[0]!.action, 'expireGrant');
      assert.equal(audit.items[0]!.actorName, 'server');
      assert.equal(audit.items[0]!.targetName, 'user sweep@example.com: soon on prod');
      assert.deepEqual(await verifyAudit(db), { valid: true, checked: 1 });
    });

    it("keeps what identifies a removed user's live keys until each would have ended", async () => {
      const db = database.db;
      const now = clock.now();
      const user = await createUser(db, {
        id: newId('user'),
        name: 'removed@example.com',
        managedBy: 'api',
        now,
      });
      for (const [keyId, expiresAt] of [
        ['soon000000', now + 1000],
        ['later00000', now + 60_000],
        ['gone000000', now],
      ] as const) {
        await createAccessKey(db, {
          id: newId('accessKey'),
          keyId,
          secretHash: `hash-of-${keyId}`,
          name: keyId,
          userId: user.id,
          issuedVia: 'api',
          scopes: [],
          managedBy: 'api',
          now,
          expiresAt,
          inactivityTimeout: 0,
        });
      }
      await deleteUser(db, user.id, now);
      const kept = () =>
        db
          .selectFrom('removedUserKeys')
          .select('keyId')
          .orderBy('keyId')
          .execute()
          .then((rows) => rows.map((r) => r.keyId));
      assert.deepEqual(
        await kept(),
        ['later00000', 'soon000000'],
        'a key already ended is not kept',
      );
      assert.deepEqual(await findRemovedUserKey(db, 'soon000000', now), {
        secretHash: 'hash-of-soon000000',
      });
      clock.advance(1000);
      assert.equal(await findRemovedUserKey(db, 'soon000000', clock.now()), undefined);
      await removeExpired(db, clock, quiet);
      assert.deepEqual(await kept(), ['later00000']);
    });
  });
}
