import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../../test/clock.js';
import { engines, openTestDb } from '../../../test/engines.js';
import { newId } from '../../shared/ids.js';
import { createLogger } from '../../shared/logger.js';
import { ANY_DESTINATION, latestChangeIndex, recordChange } from '../data/changes.js';
import type { OpenDb } from '../data/db.js';
import { createGrant } from '../data/grants.js';
import { addGroupMembers, createGroup } from '../data/groups.js';
import { recordRevokedSessions } from '../data/revoked-sessions.js';
import { createUser } from '../data/users.js';
import { ChangeNotifier } from './changes.js';
import { AccessSnapshots } from './snapshots.js';

const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

/** What a promise has come to so far, without waiting for it. */
async function peek<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

/** Fails instead of hanging when a promise never settles. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within 10 s`)), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

for (const engine of engines) {
  describe(`feed wake-ups [${engine}]`, () => {
    let database: OpenDb;
    let notifier: ChangeNotifier;
    const clock = new TestClock();

    /** Commits a change, as a write operation does, then tells the notifier. */
    const change = async (...destinations: string[]) => {
      await database.db
        .transaction()
        .execute((tx) => recordChange(tx, destinations, clock.now(), [{ kind: 'all' }]));
      notifier.notify();
    };

    before(async () => {
      database = await openTestDb(engine);
      notifier = new ChangeNotifier({ db: database.readDb, log: quiet });
      await notifier.start();
    });
    after(async () => {
      notifier.close();
      await database.close();
    });

    it('wake the waiters of the destination a change is at, and no other', async () => {
      const prod = notifier.subscribe('prod');
      const staging = notifier.subscribe('staging');
      const prodWoken = prod.wait(60_000);
      const stagingWoken = staging.wait(60_000);
      const woken = notifier.woken;
      await change('prod');
      assert.equal(
        await within(prodWoken, 'prod woken'),
        await latestChangeIndex(database.readDb, 'prod'),
      );
      assert.equal(await peek(stagingWoken), 'pending');
      assert.equal(notifier.woken - woken, 1);
      assert.equal(notifier.waiting, 1);
      staging.cancel();
      assert.equal(await stagingWoken, undefined);
      assert.equal(notifier.waiting, 0);
    });

    it('wake every waiter for a change that concerns every destination', async () => {
      const waits = ['prod', 'staging', 'dev'].map((d) => notifier.subscribe(d).wait(60_000));
      await change(ANY_DESTINATION);
      const index = await latestChangeIndex(database.readDb, ANY_DESTINATION);
      assert.deepEqual(await within(Promise.all(waits), 'all woken'), [index, index, index]);
    });

    it('give each waiter the newest index of its own destination', async () => {
      const prod = notifier.subscribe('prod').wait(60_000);
      const staging = notifier.subscribe('staging').wait(60_000);
      // One transaction: one read of the change log sees both.
      await database.db.transaction().execute(async (tx) => {
        await recordChange(tx, [ANY_DESTINATION], clock.now(), [{ kind: 'all' }]);
        await recordChange(tx, ['prod'], clock.now(), [{ kind: 'all' }]);
      });
      notifier.notify();
      const [p, s] = await within(Promise.all([prod, staging]), 'both woken');
      assert.equal(p, await latestChangeIndex(database.readDb, 'prod'));
      assert.equal(s, await latestChangeIndex(database.readDb, 'staging'));
      assert.ok(p! > s!);
    });

    it('do not miss a change committed between subscribing and waiting', async () => {
      const subscription = notifier.subscribe('prod');
      await change('prod');
      // The wait starts after the change was read and handled.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(
        await within(subscription.wait(60_000), 'woken'),
        await latestChangeIndex(database.readDb, 'prod'),
      );
    });

    it('read the log again for changes committed while it was being read', async () => {
      const prod = notifier.subscribe('prod').wait(60_000);
      const staging = notifier.subscribe('staging').wait(60_000);
      await database.db
        .transaction()
        .execute((tx) => recordChange(tx, ['prod'], clock.now(), [{ kind: 'all' }]));
      notifier.notify();
      // Committed as the first read is under way; its own notification finds a read running.
      await database.db
        .transaction()
        .execute((tx) => recordChange(tx, ['staging'], clock.now(), [{ kind: 'all' }]));
      notifier.notify();
      await within(Promise.all([prod, staging]), 'both woken');
    });

    it('hear of changes another server committed', async () => {
      // A second server's notifier on the same database: told by its LISTEN connection (here,
      // by hand) after this one committed.
      const other = new ChangeNotifier({ db: database.readDb, log: quiet });
      await other.start();
      try {
        const prod = other.subscribe('prod').wait(60_000);
        const staging = other.subscribe('staging').wait(60_000);
        await change('prod');
        other.notify();
        assert.equal(
          await within(prod, 'prod woken'),
          await latestChangeIndex(database.readDb, 'prod'),
        );
        assert.equal(await peek(staging), 'pending');
      } finally {
        other.close();
      }
    });

    it('end every wait when closed, and later ones at once', async () => {
      const closing = new ChangeNotifier({ db: database.readDb, log: quiet });
      await closing.start();
      const waiting = closing.subscribe('prod').wait(60_000);
      closing.close();
      assert.equal(await waiting, undefined);
      assert.equal(await closing.subscribe('prod').wait(60_000), undefined);
    });
  });

  describe(`feed answers [${engine}]`, () => {
    let database: OpenDb;
    let snapshots: AccessSnapshots;
    const clock = new TestClock();

    before(async () => {
      database = await openTestDb(engine);
      snapshots = new AccessSnapshots({ db: database.readDb, clock });
    });
    after(() => database.close());

    it('are read for many destinations at once, each with its own grants and users', async () => {
      const now = clock.now();
      const count = 300;
      await database.db.transaction().execute(async (tx) => {
        const group = await createGroup(tx, {
          id: newId('group'),
          name: 'ops',
          managedBy: 'api',
          now,
        });
        const shared = await createUser(tx, {
          id: newId('user'),
          name: 'shared@example.com',
          managedBy: 'api',
          now,
        });
        await addGroupMembers(tx, group.id, [shared.id], 'api', now);
        for (let i = 0; i < count; i++) {
          const user = await createUser(tx, {
            id: newId('user'),
            name: `user-${i}@example.com`,
            managedBy: 'api',
            now,
          });
          const grant = (subject: { kind: 'user' | 'group'; id: string }, resource: string) =>
            createGrant(tx, {
              id: newId('grant'),
              subject,
              privilege: 'view',
              resource,
              expiresAt: null,
              managedBy: 'api',
              createdBy: null,
              now,
            });
          await grant({ kind: 'user', id: user.id }, `d${i}`);
          await grant({ kind: 'group', id: group.id }, `d${i}.web`);
          if (i % 2 === 0) await grant({ kind: 'user', id: shared.id }, `d${i}`);
        }
      });
      const index = await latestChangeIndex(database.readDb, 'd0');
      const answers = await Promise.all(
        Array.from({ length: count }, (_, i) => snapshots.get(`d${i}`, index)),
      );
      answers.forEach((a, i) => {
        assert.deepEqual(
          a.grants.map((g) => [g.subjectName, g.resource]).sort(),
          [
            ['ops', `d${i}.web`],
            [`user-${i}@example.com`, `d${i}`],
            ...(i % 2 === 0 ? [['shared@example.com', `d${i}`]] : []),
          ].sort(),
        );
        assert.deepEqual(
          a.users.map((u) => [u.name, u.groups]),
          [
            ['shared@example.com', ['ops']],
            [`user-${i}@example.com`, []],
          ],
        );
      });
    });

    it('are read once for every request at the same destination and change', async () => {
      const index = await latestChangeIndex(database.readDb, 'd1');
      const [a, b] = await Promise.all([snapshots.get('d1', index), snapshots.get('d1', index)]);
      assert.equal(a, b);
      // Read afresh once they are out: a later request may come after a change.
      assert.notEqual(await snapshots.get('d1', index), a);
    });

    it('name sessions that ended up to the change asked for, even just read for an older one', async () => {
      const before = await latestChangeIndex(database.readDb, 'd2');
      assert.deepEqual((await snapshots.get('d2', before)).revokedSessions, []);
      await database.db
        .transaction()
        .execute((tx) =>
          recordRevokedSessions(tx, [{ id: 'ended-session', userId: 'u' }], clock.now()),
        );
      const after = await latestChangeIndex(database.readDb, 'd3');
      assert.ok(after > before);
      const answer = await snapshots.get('d3', after);
      assert.deepEqual(answer.revokedSessions, ['ended-session']);
      assert.equal(answer.updateIndex, after);
    });
  });
}
