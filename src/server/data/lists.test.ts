import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engines, openTestDb } from '../../../test/engines.js';
import type { Page } from '../models.js';
import type { OpenDb } from './db.js';
import { createGrant, listGrants } from './grants.js';
import { addGroupMembers, createGroup } from './groups.js';
import { createUser, listUsers } from './users.js';

// The lists' queries are compiled once per shape and run with each call's values: the same
// shape asked twice with other values must answer for those values.

async function allPages<T>(
  read: (after: string | undefined) => Promise<Page<T>>,
  name: (item: T) => string,
): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  do {
    const page = await read(after);
    names.push(...page.items.map(name));
    after = page.next;
    assert.ok(names.length <= 20, 'the pages do not end');
  } while (after !== undefined);
  return names;
}

for (const engine of engines) {
  describe(`lists of users and grants [${engine}]`, () => {
    let database: OpenDb;
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];

    before(async () => {
      database = await openTestDb(engine);
      const { db } = database;
      for (const u of users)
        await createUser(db, {
          id: `usr_${u}`,
          name: `${u}@example.com`,
          managedBy: 'api',
          now: 1,
        });
      // The migrations make the system user `connector`.
      await createGroup(db, { id: 'grp_a', name: 'a', managedBy: 'api', now: 1 });
      await createGroup(db, { id: 'grp_b', name: 'b', managedBy: 'api', now: 1 });
      await addGroupMembers(db, 'grp_a', ['usr_u1', 'usr_u3'], 'api', 1);
      await addGroupMembers(db, 'grp_b', ['usr_u2'], 'api', 1);
      let n = 0;
      const grant = (subject: string, privilege: string, resource: string, expiresAt = null) =>
        createGrant(db, {
          id: `grt_${String(++n).padStart(2, '0')}`,
          subject: { kind: subject.startsWith('grp_') ? 'group' : 'user', id: subject },
          privilege,
          resource,
          expiresAt,
          managedBy: 'api',
          createdBy: null,
          now: 1,
        });
      await grant('usr_u1', 'view', 'prod');
      await grant('usr_u2', 'edit', 'prod.web');
      await grant('grp_a', 'view', 'staging');
      await grant('usr_u3', 'admin', 'infra');
      await grant('usr_u4', 'view', 'staging.db');
    });
    after(() => database?.close());

    it('answer each filter for the values asked, page after page', async () => {
      const db = database.readDb;
      const names = (p: Page<{ name: string }>) => p.items.map((u) => u.name);
      assert.deepEqual(
        await allPages(
          (a) => listUsers(db, { after: a, limit: 2 }),
          (u) => u.name,
        ),
        users.map((u) => `${u}@example.com`),
      );
      assert.deepEqual(names(await listUsers(db, { byName: 'u2@example.com', limit: 10 })), [
        'u2@example.com',
      ]);
      assert.deepEqual(names(await listUsers(db, { byName: 'u4@example.com', limit: 10 })), [
        'u4@example.com',
      ]);
      assert.deepEqual(names(await listUsers(db, { byGroupId: 'grp_a', limit: 10 })), [
        'u1@example.com',
        'u3@example.com',
      ]);
      assert.deepEqual(names(await listUsers(db, { byGroupId: 'grp_b', limit: 10 })), [
        'u2@example.com',
      ]);
      assert.deepEqual(names(await listUsers(db, { byName: 'connector', limit: 10 })), []);
      assert.deepEqual(
        names(await listUsers(db, { byName: 'connector', includeSystem: true, limit: 10 })),
        ['connector'],
      );
      assert.deepEqual(
        names(await listUsers(db, { byIds: ['usr_u5', 'usr_u1'], byGroupId: 'grp_a', limit: 10 })),
        ['u1@example.com'],
      );
    });

    it('list grants by destination, resource and privilege, page after page', async () => {
      const db = database.readDb;
      const ids = (p: Page<{ id: string }>) => p.items.map((g) => g.id);
      assert.deepEqual(
        await allPages(
          (a) => listGrants(db, { activeAt: 2, after: a, limit: 2 }),
          (g) => `${g.id} ${g.subjectName}`,
        ),
        [
          'grt_01 u1@example.com',
          'grt_02 u2@example.com',
          'grt_03 a',
          'grt_04 u3@example.com',
          'grt_05 u4@example.com',
        ],
      );
      const list = (o: Partial<Parameters<typeof listGrants>[1]>) =>
        listGrants(db, { activeAt: 2, limit: 10, ...o });
      assert.deepEqual(ids(await list({ byDestination: 'prod' })), ['grt_01', 'grt_02']);
      assert.deepEqual(ids(await list({ byDestination: 'staging' })), ['grt_03', 'grt_05']);
      assert.deepEqual(ids(await list({ byResource: 'staging.db' })), ['grt_05']);
      assert.deepEqual(ids(await list({ byPrivilege: 'view' })), ['grt_01', 'grt_03', 'grt_05']);
      assert.deepEqual(ids(await list({ byPrivilege: 'edit' })), ['grt_02']);
      assert.deepEqual(
        ids(await list({ bySubjects: [{ kind: 'group', id: 'grp_a' }], byDestination: 'staging' })),
        ['grt_03'],
      );
      assert.deepEqual(ids(await list({ byDestinations: ['infra', 'prod'] })), [
        'grt_01',
        'grt_02',
        'grt_04',
      ]);
      assert.deepEqual(ids(await list({ bySubjects: [] })), []);
    });
  });
}
