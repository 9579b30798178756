import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { TestClock } from '../../../test/clock.js';
import { engines, openTestDb } from '../../../test/engines.js';
import { newId } from '../../shared/ids.js';
import { latestChangeIndex, pruneChanges, recordChange } from '../data/changes.js';
import type { Db, OpenDb } from '../data/db.js';
import { createDestination } from '../data/destinations.js';
import { createGrant, deleteExpiredGrants, deleteGrant } from '../data/grants.js';
import { addGroupMembers, createGroup, removeGroupMembers } from '../data/groups.js';
import { recordRevokedSessions } from '../data/revoked-sessions.js';
import { createUser, deleteUser } from '../data/users.js';
import type { AccessChanges, DestinationAccess } from '../models.js';
import { PAGE_SIZE, decodeCursor, snapshotPage } from './feed.js';
import { AccessSnapshots } from './snapshots.js';

/** More than SQLite's 32,766 variables in one statement, if one were bound per user. */
const MANY = 33_000;

/** Inserts `count` users `big-<i>@example.com` (ids `usr_big<i>`), in one statement. */
async function insertUsers(db: Db, count: number, now: number): Promise<string[]> {
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${count})
    insert into users (id, name, kind, managed_by, created_at, updated_at)
    select 'usr_big' || i, 'big-' || i || '@example.com', 'user', 'api', ${now}, ${now} from n`.execute(
    db,
  );
  return Array.from({ length: count }, (_, i) => `usr_big${i + 1}`);
}

/** Gives each of those users `view` on `destination`, expiring at `expiresAt`. */
async function insertGrants(db: Db, count: number, destination: string, expiresAt: number) {
  await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${count})
    insert into grants (id, subject_kind, subject_id, privilege, resource, destination, expires_at, managed_by, created_at)
    select 'grt_big' || i, 'user', 'usr_big' || i, 'view', ${destination}, ${destination}, ${expiresAt}, 'api', 0 from n`.execute(
    db,
  );
}

/** The whole state by following a snapshot's pages. */
async function allPages(db: Db, first: AccessChanges, now: number) {
  assert.equal(first.kind, 'snapshot');
  const state = { ...first, grants: [...first.grants], users: [...first.users] };
  let page: AccessChanges = first;
  let pages = 1;
  while (page.kind === 'snapshot' && page.next !== null) {
    page = await snapshotPage(db, 'big', decodeCursor(page.next)!, now);
    assert.ok(page.grants.length + page.users.length <= PAGE_SIZE);
    assert.equal(page.updateIndex, first.updateIndex);
    state.grants.push(...page.grants);
    state.users.push(...page.users);
    pages++;
  }
  return { state, pages };
}

for (const engine of engines) {
  describe(`incremental access feed [${engine}]`, () => {
    let database: OpenDb;
    let snapshots: AccessSnapshots;
    const clock = new TestClock();
    const tx = <T>(fn: (db: Db) => Promise<T>) => database.db.transaction().execute(fn);
    const user = (name: string) =>
      tx((db) => createUser(db, { id: newId('user'), name, managedBy: 'api', now: clock.now() }));
    const grant = (subject: { kind: 'user' | 'group'; id: string }, resource: string) =>
      tx(async (db) => {
        const id = newId('grant');
        await createGrant(db, {
          id,
          subject,
          privilege: 'view',
          resource,
          expiresAt: null,
          managedBy: 'api',
          createdBy: null,
          now: clock.now(),
        });
        return id;
      });
    const index = (destination: string) => latestChangeIndex(database.readDb, destination);
    const changesSince = async (destination: string, after: number) =>
      snapshots.changes(destination, after, await index(destination));

    before(async () => {
      database = await openTestDb(engine);
      snapshots = new AccessSnapshots({ db: database.readDb, clock });
      await tx((db) =>
        createDestination(db, {
          id: newId('destination'),
          name: 'prod',
          uniqueId: 'prod',
          connectionUrl: 'https://prod.example.com',
          connectionCa: '',
          connectionMode: 'direct',
          namespaces: [],
          roles: ['view'],
          version: '1',
          now: clock.now(),
        }),
      );
    });
    after(() => database.close());

    it(`serves ${MANY} users with grants on one destination, and their removal, in full and in pages`, async () => {
      const now = clock.now();
      const ids = await tx(async (db) => {
        const ids = await insertUsers(db, MANY, now);
        await insertGrants(db, MANY, 'big', now + 60_000);
        return ids;
      });
      const group = await tx((db) =>
        createGroup(db, { id: newId('group'), name: 'everyone', managedBy: 'api', now }),
      );
      // What a provider's sync does for a large group: every member at once.
      await tx((db) => addGroupMembers(db, group.id, ids, 'api', now));
      await grant({ kind: 'group', id: group.id }, 'big.web');

      const full: DestinationAccess = await snapshots.get('big', await index('big'));
      assert.equal(full.grants.length, MANY + 1);
      assert.equal(full.users.length, MANY);
      assert.deepEqual(
        full.users.find((u) => u.id === 'usr_big1'),
        {
          id: 'usr_big1',
          name: 'big-1@example.com',
          groups: ['everyone'],
        },
      );

      const { state, pages } = await allPages(
        database.readDb,
        await snapshots.changes('big', undefined, await index('big')),
        now,
      );
      assert.equal(pages, Math.ceil((2 * MANY + 1) / PAGE_SIZE));
      assert.deepEqual(state.grants.map((g) => g.id).sort(), full.grants.map((g) => g.id).sort());
      assert.deepEqual(
        [...state.users].sort((a, b) => (a.id < b.id ? -1 : 1)),
        [...full.users].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );

      // Every membership and every grant ends: nobody is left.
      const before = await index('big');
      await tx((db) => removeGroupMembers(db, group.id, ids, 'api', now));
      clock.advance(120_000);
      assert.equal((await tx((db) => deleteExpiredGrants(db, clock.now()))).length, MANY);
      const emptied = await snapshots.changes('big', before, await index('big'));
      // Too much changed for a delta: a snapshot, with the group's grant only.
      assert.equal(emptied.kind, 'snapshot');
      assert.equal(emptied.grants.length, 1);
      assert.deepEqual(emptied.users, []);
    });

    it('answers a change with what changed: grants, access, memberships, ended sessions', async () => {
      const alice = await user('alice@example.com');
      const bob = await user('bob@example.com');
      const start = await index('prod');

      const aliceGrant = await grant({ kind: 'user', id: alice.id }, 'prod');
      let d = await changesSince('prod', start);
      assert.equal(d.kind, 'delta');
      assert.ok(d.kind === 'delta');
      assert.deepEqual(d.subjects, [alice.id]);
      assert.deepEqual(
        d.grants.map((g) => g.id),
        [aliceGrant],
      );
      assert.deepEqual(d.users, [{ id: alice.id, name: 'alice@example.com', groups: [] }]);
      assert.deepEqual(d.usersWithoutAccess, []);
      assert.equal(d.updateIndex, await index('prod'));

      // A grant elsewhere is no change here.
      let at = d.updateIndex;
      await grant({ kind: 'user', id: bob.id }, 'staging');
      assert.equal(await index('prod'), at);

      // A group's grant gives its members access; a new member is only that member's change.
      const ops = await tx((db) =>
        createGroup(db, { id: newId('group'), name: 'ops', managedBy: 'api', now: clock.now() }),
      );
      await tx((db) => addGroupMembers(db, ops.id, [alice.id], 'api', clock.now()));
      const opsGrant = await grant({ kind: 'group', id: ops.id }, 'prod.web');
      d = await changesSince('prod', at);
      assert.ok(d.kind === 'delta');
      // Joining a group without grants here was no change here; the group's grant is.
      assert.deepEqual(d.subjects, [ops.id]);
      assert.deepEqual(
        d.grants.map((g) => g.id),
        [opsGrant],
      );
      assert.deepEqual(d.users, [{ id: alice.id, name: 'alice@example.com', groups: ['ops'] }]);
      at = d.updateIndex;
      await tx((db) => addGroupMembers(db, ops.id, [bob.id], 'api', clock.now()));
      d = await changesSince('prod', at);
      assert.ok(d.kind === 'delta');
      assert.deepEqual(d.subjects, [bob.id]);
      assert.deepEqual(d.grants, []);
      assert.deepEqual(d.users, [{ id: bob.id, name: 'bob@example.com', groups: ['ops'] }]);
      assert.ok(JSON.stringify(d).length < 1000);

      // Removed from the group, bob has nothing left here; alice keeps her own grant.
      at = d.updateIndex;
      await tx((db) => removeGroupMembers(db, ops.id, [bob.id], 'api', clock.now()));
      await tx((db) => deleteGrant(db, opsGrant, clock.now()));
      d = await changesSince('prod', at);
      assert.ok(d.kind === 'delta');
      assert.deepEqual(d.grants, []);
      assert.deepEqual(d.users, [{ id: alice.id, name: 'alice@example.com', groups: [] }]);
      assert.deepEqual(d.usersWithoutAccess, [bob.id]);

      // An ended session and a removed user reach every destination.
      at = d.updateIndex;
      await tx((db) =>
        recordRevokedSessions(
          db,
          [
            { id: 'bobs-session', userId: bob.id },
            { id: 'alices-session', userId: alice.id },
          ],
          clock.now(),
        ),
      );
      await tx((db) => deleteUser(db, alice.id, clock.now()));
      d = await changesSince('prod', at);
      assert.ok(d.kind === 'delta');
      assert.deepEqual(d.revokedSessions.sort(), ['alices-session', 'bobs-session']);
      assert.deepEqual(d.removedUsers, [alice.id]);
      assert.deepEqual(d.usersWithoutAccess, [alice.id]);
      assert.deepEqual(d.subjects, [alice.id]);
      assert.deepEqual(d.grants, []);
    });

    it('answers with a snapshot after a change to everything, a gap, or an index from elsewhere', async () => {
      const carol = await user('carol@example.com');
      await grant({ kind: 'user', id: carol.id }, 'prod');
      const at = await index('prod');
      // A rename moves every grant: no delta can say it.
      await tx((db) => recordChange(db, ['prod'], clock.now(), [{ kind: 'all' }]));
      let answer = await changesSince('prod', at);
      assert.equal(answer.kind, 'snapshot');
      assert.equal(answer.updateIndex, await index('prod'));
      assert.ok(answer.users.some((u) => u.id === carol.id));

      // The log is pruned past the connector's index.
      const old = await index('prod');
      await grant({ kind: 'user', id: carol.id }, 'prod.web');
      clock.advance(1000);
      await grant({ kind: 'user', id: carol.id }, 'prod.db');
      await tx((db) => pruneChanges(db, clock.now()));
      answer = await changesSince('prod', old);
      assert.equal(answer.kind, 'snapshot');
      assert.equal(answer.updateIndex, await index('prod'));

      // An index past the log's end: the connector followed another database.
      answer = await snapshots.changes('prod', 1_000_000_000, await index('prod'));
      assert.equal(answer.kind, 'snapshot');
    });
  });
}
