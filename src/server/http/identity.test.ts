import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { createSignedInUser, startAdminServer, type SignedIn } from '../../../test/identity.js';
import { startTestServer, type TestServer } from '../../../test/server.js';
import { openDb } from '../data/db.js';

async function rejectsWith(promise: Promise<unknown>, status: number, message?: string | RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  });
}

for (const engine of engines) {
  describe(`users, groups, grants and keys [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let adminId: string;
    let alice: SignedIn;

    before(async () => {
      ({ server, admin, adminId } = await startAdminServer(engine, { clock }));
      alice = await createSignedInUser(server, admin, 'alice@example.com');
    });
    after(() => server.close());

    describe('users', () => {
      it('refuses a second user with the same name', async () => {
        await rejectsWith(
          admin.createUser({ name: 'ALICE@example.com' }),
          409,
          'another user already has that name',
        );
      });

      it('pages through users by name with a cursor', async () => {
        for (const n of ['pg-c', 'pg-a', 'pg-e', 'pg-b', 'pg-d'])
          await admin.createUser({ name: `${n}@page.test` });
        const names: string[] = [];
        let after: string | undefined;
        let pages = 0;
        do {
          const page = await admin.listUsers({ limit: 2, after });
          names.push(...page.items.map((u) => u.name));
          assert.equal(page.count, page.items.length);
          after = page.next;
          pages++;
        } while (after);
        const all = (await admin.listUsers({ limit: 1000 })).items.map((u) => u.name);
        assert.deepEqual(names, all);
        assert.deepEqual(all, [...all].sort());
        assert.ok(pages >= 4);
        assert.ok(!all.includes('connector'));
        assert.ok(
          (await admin.listUsers({ showSystem: true })).items.some((u) => u.name === 'connector'),
        );
      });

      it('filters by name, group and ids', async () => {
        const group = await admin.createGroup({ name: 'filter-group' });
        await admin.updateGroupUsers({ id: group.id, usersToAdd: [alice.id] });
        assert.deepEqual(
          (await admin.listUsers({ name: 'alice@example.com' })).items.map((u) => u.id),
          [alice.id],
        );
        assert.deepEqual(
          (await admin.listUsers({ group: group.id })).items.map((u) => u.id),
          [alice.id],
        );
        assert.deepEqual(
          (await admin.listUsers({ ids: [alice.id, adminId] })).items.map((u) => u.name),
          ['admin@example.com', 'alice@example.com'],
        );
      });

      it('deletes a user with their keys, memberships and grants', async () => {
        const victim = await createSignedInUser(server, admin, 'victim@example.com');
        const group = await admin.createGroup({ name: 'victims' });
        await admin.updateGroupUsers({ id: group.id, usersToAdd: [victim.id] });
        await admin.createGrant({ user: victim.id, privilege: 'edit', resource: 'prod' });
        const key = await admin.createAccessKey({ userID: victim.id, expiry: '1h' });
        await admin.deleteUser({ id: victim.id });
        await rejectsWith(admin.getUser({ id: victim.id }), 404, 'user not found');
        assert.equal((await admin.getGroup({ id: group.id })).totalUsers, 0);
        assert.deepEqual((await admin.listGrants({ user: victim.id })).items, []);
        // The holder of the removed user's session or key is told so (logging in cannot help)...
        const removed = {
          status: 401,
          code: 'user_removed',
          message: 'your Infra user was removed by an admin',
        };
        const refusal = async (promise: Promise<unknown>) =>
          promise.then(
            () => assert.fail('expected a refusal'),
            (err: ApiError) => ({ status: err.status, code: err.code, message: err.message }),
          );
        assert.deepEqual(await refusal(victim.client.getUser({ id: 'self' })), removed);
        const holder = server.client({ accessKey: key.accessKey });
        assert.deepEqual(await refusal(holder.getUser({ id: 'self' })), removed);
        assert.deepEqual(
          await refusal(server.client().login({ accessKey: key.accessKey })),
          removed,
        );
        // ...and only the holder: the key's id with another secret is just unauthenticated.
        const [keyId, secret] = key.accessKey.split('.') as [string, string];
        const forged = `${keyId}.${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
        const unauthenticated = {
          status: 401,
          code: 'unauthenticated',
          message: 'unauthenticated',
        };
        assert.deepEqual(
          await refusal(server.client({ accessKey: forged }).getUser({ id: 'self' })),
          unauthenticated,
        );
        // Once the key would have expired anyway, it is an unknown key like any other.
        clock.advance(3_600_000);
        assert.deepEqual(await refusal(holder.getUser({ id: 'self' })), unauthenticated);
      });

      it('refuses to delete yourself, the connector, or a config-declared user', async () => {
        await rejectsWith(admin.deleteUser({ id: adminId }), 400, /config file|yourself/);
        const other = await createSignedInUser(server, admin, 'second-admin@example.com', 'admin');
        await rejectsWith(
          other.client.deleteUser({ id: other.id }),
          400,
          'you cannot delete yourself',
        );
        await rejectsWith(
          other.client.deleteUser({ id: adminId }),
          400,
          /declared in the server's config file/,
        );
        const connector = (await admin.listUsers({ name: 'connector', showSystem: true }))
          .items[0]!;
        await rejectsWith(
          admin.deleteUser({ id: connector.id }),
          400,
          'connector is a system user and cannot be deleted',
        );
      });
    });

    describe('groups', () => {
      it('manages members and refuses unknown users without changing anything', async () => {
        const group = await admin.createGroup({ name: 'devs' });
        await rejectsWith(
          admin.createGroup({ name: 'devs' }),
          409,
          'another group already has that name',
        );
        const missing = 'usr_000000000000000000000zzz';
        await assert.rejects(
          admin.updateGroupUsers({ id: group.id, usersToAdd: [alice.id, missing] }),
          (err: ApiError) => {
            assert.equal(err.status, 400);
            assert.deepEqual(err.fieldErrors, [
              { field: 'usersToAdd', errors: [`no user with id ${missing}`] },
            ]);
            return true;
          },
        );
        assert.equal((await admin.getGroup({ id: group.id })).totalUsers, 0);
        const updated = await admin.updateGroupUsers({ id: group.id, usersToAdd: [alice.id] });
        assert.equal(updated.totalUsers, 1);
        // Members see their own groups; others do not.
        assert.equal((await alice.client.getGroup({ id: group.id })).name, 'devs');
        assert.ok(
          (await alice.client.listGroups({ userID: 'self' })).items.some((g) => g.id === group.id),
        );
        const bob = await createSignedInUser(server, admin, 'bob-groups@example.com');
        await rejectsWith(bob.client.getGroup({ id: group.id }), 403);
        await rejectsWith(bob.client.listGroups({ userID: alice.id }), 403);
        await admin.updateGroupUsers({ id: group.id, usersToRemove: [alice.id] });
        await rejectsWith(alice.client.getGroup({ id: group.id }), 403);
      });

      it('deletes a group with its grants', async () => {
        const group = await admin.createGroup({ name: 'doomed' });
        const grant = await admin.createGrant({
          group: group.id,
          privilege: 'view',
          resource: 'prod',
        });
        await admin.deleteGroup({ id: group.id });
        await rejectsWith(admin.getGrant({ id: grant.id }), 404);
      });
    });

    describe('grants', () => {
      it('returns the existing grant for a duplicate, with 200', async () => {
        const first = await admin.createGrant({
          user: alice.id,
          privilege: 'edit',
          resource: 'staging',
        });
        assert.equal(first.wasCreated, true);
        const again = await admin.createGrant({
          userName: 'alice@example.com',
          privilege: 'edit',
          resource: 'staging',
        });
        assert.equal(again.wasCreated, false);
        assert.equal(again.id, first.id);
        assert.equal(again.userName, 'alice@example.com');
        await rejectsWith(
          admin.createGrant({
            userName: 'ghost@example.com',
            privilege: 'edit',
            resource: 'staging',
          }),
          404,
          'user ghost@example.com not found',
        );
      });

      it('lists inherited grants and grants by destination', async () => {
        const team = await admin.createGroup({ name: 'team' });
        await admin.updateGroupUsers({ id: team.id, usersToAdd: [alice.id] });
        const viaGroup = await admin.createGrant({
          groupName: 'team',
          privilege: 'view',
          resource: 'prod.web',
        });
        const direct = await admin.createGrant({
          user: alice.id,
          privilege: 'logs',
          resource: 'prod',
        });
        await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'production' });
        const own = (await alice.client.listGrants({ user: 'self' })).items.map((g) => g.id);
        assert.ok(own.includes(direct.id) && !own.includes(viaGroup.id));
        const inherited = (
          await alice.client.listGrants({ user: 'self', showInherited: true })
        ).items.map((g) => g.id);
        assert.ok(inherited.includes(direct.id) && inherited.includes(viaGroup.id));
        const prod = (await admin.listGrants({ destination: 'prod' })).items.map((g) => g.resource);
        assert.deepEqual([...new Set(prod)].sort(), ['prod', 'prod.web']);
        assert.deepEqual(
          (await alice.client.listGrants({ group: team.id })).items.map((g) => g.id),
          [viaGroup.id],
        );
      });

      it('stops counting a grant at its expiry', async () => {
        const viewer = await createSignedInUser(server, admin, 'temp-viewer@example.com');
        await rejectsWith(
          admin.createGrant({
            user: viewer.id,
            privilege: 'view',
            resource: 'infra',
            expiresAt: new Date(clock.now() - 1000).toISOString(),
          }),
          400,
          'validation failed: expiresAt: must be in the future',
        );
        const grant = await admin.createGrant({
          user: viewer.id,
          privilege: 'view',
          resource: 'infra',
          expiresAt: new Date(clock.now() + 60_000).toISOString(),
        });
        assert.equal(grant.expiresAt, new Date(clock.now() + 60_000).toISOString());
        assert.ok((await viewer.client.listUsers()).items.length > 0);
        clock.advance(60_000);
        await rejectsWith(viewer.client.listUsers(), 403);
        assert.deepEqual((await admin.listGrants({ user: viewer.id })).items, []);
      });

      it('adds and removes in one transaction, all or nothing', async () => {
        const before = (await admin.listGrants({ user: alice.id })).items.length;
        await rejectsWith(
          admin.updateGrants({
            grantsToAdd: [
              { user: alice.id, privilege: 'exec', resource: 'prod' },
              { userName: 'ghost@example.com', privilege: 'exec', resource: 'prod' },
            ],
          }),
          404,
        );
        assert.equal((await admin.listGrants({ user: alice.id })).items.length, before);
        const result = await admin.updateGrants({
          grantsToAdd: [{ user: alice.id, privilege: 'exec', resource: 'prod' }],
          grantsToRemove: [
            { userName: 'alice@example.com', privilege: 'logs', resource: 'prod' },
            { userName: 'alice@example.com', privilege: 'never-granted', resource: 'prod' },
          ],
        });
        assert.equal(result.added.length, 1);
        assert.equal(result.removed.length, 1);
        assert.equal((await admin.listGrants({ user: alice.id })).items.length, before);
      });

      it('lets an admin give up the role while another admin remains', async () => {
        const other = await createSignedInUser(server, admin, 'solo-admin@example.com');
        const grant = await admin.createGrant({
          user: other.id,
          privilege: 'admin',
          resource: 'infra',
        });
        await other.client.deleteGrant({ id: grant.id });
        await rejectsWith(other.client.listUsers(), 403);
      });
    });

    describe('access keys', () => {
      it('creates, lists without secrets, and deletes keys by id and by name', async () => {
        const key = await alice.client.createAccessKey({
          name: 'laptop',
          expiry: '24h',
          inactivityTimeout: '1h',
        });
        assert.match(key.accessKey, /^[0-9A-Za-z]{10}\.[0-9A-Za-z]{24}$/);
        assert.equal(key.inactivityTimeout, '1h');
        assert.equal(key.userName, 'alice@example.com');
        await rejectsWith(
          alice.client.createAccessKey({ name: 'laptop' }),
          409,
          'another access key already has that name',
        );
        const listed = await alice.client.listAccessKeys({ userID: 'self' });
        assert.ok(listed.items.some((k) => k.name === 'laptop'));
        assert.equal(JSON.stringify(listed).includes(key.accessKey.split('.')[1]!), false);
        assert.equal(
          JSON.stringify(await admin.listAccessKeys({})).includes(key.accessKey.split('.')[1]!),
          false,
        );
        await alice.client.deleteAccessKeys({ name: 'laptop' });
        await rejectsWith(server.client({ accessKey: key.accessKey }).getUser({ id: 'self' }), 401);
        await rejectsWith(
          alice.client.deleteAccessKeys({ name: 'laptop' }),
          404,
          'no access key named laptop',
        );
        const second = await alice.client.createAccessKey({});
        await alice.client.deleteAccessKey({ id: second.id });
        await rejectsWith(
          server.client({ accessKey: second.accessKey }).getUser({ id: 'self' }),
          401,
        );
      });
    });

    describe('audit log', () => {
      it('records who changed what, from where, and refusals', async () => {
        const group = await admin.createGroup({ name: 'audited' });
        await rejectsWith(alice.client.createGroup({ name: 'not-allowed' }), 403);
        const page = await admin.listAudit({ limit: 2 });
        const [denied, created] = page.items;
        assert.deepEqual(
          { ...created!, at: undefined, hash: undefined, seq: undefined },
          {
            at: undefined,
            hash: undefined,
            seq: undefined,
            actor: { id: adminId, name: 'admin@example.com' },
            action: 'createGroup',
            target: { kind: 'group', id: group.id, name: 'audited' },
            sourceIp: '127.0.0.1',
            result: 'success',
            details: {},
          },
        );
        assert.equal(denied!.action, 'createGroup');
        assert.equal(denied!.result, 'denied');
        assert.deepEqual(denied!.actor, { id: alice.id, name: 'alice@example.com' });
        assert.ok(denied!.seq > created!.seq);
        assert.ok(page.next);
        const older = await admin.listAudit({ limit: 2, after: page.next });
        assert.ok(older.items[0]!.seq < created!.seq);
        const byTarget = await admin.listAudit({ target: group.id });
        assert.deepEqual(
          byTarget.items.map((e) => e.action),
          ['createGroup'],
        );
        const failedLogins = await admin.listAudit({ action: 'login' });
        assert.ok(failedLogins.items.every((e) => e.action === 'login'));
        assert.deepEqual(await admin.verifyAudit(), {
          valid: true,
          checked: (await admin.listAudit({ limit: 1 })).items[0]!.seq,
        });
      });

      it('is append-only, and verification finds a rewritten entry', async () => {
        const database = await openDb(server.config.db);
        try {
          await assert.rejects(
            sql`update audit_log set actor_name = 'someone else' where seq = 2`.execute(
              database.db,
            ),
            /append-only/,
          );
          await assert.rejects(
            sql`delete from audit_log where seq = 2`.execute(database.db),
            /append-only/,
          );
          // Someone with direct database access disables the guard and rewrites history.
          if (database.engine === 'postgres') {
            await sql`alter table audit_log disable trigger audit_log_append_only`.execute(
              database.db,
            );
          } else {
            await sql`drop trigger audit_log_no_update`.execute(database.db);
          }
          await sql`update audit_log set actor_name = 'someone else' where seq = 2`.execute(
            database.db,
          );
        } finally {
          await database.close();
        }
        const result = await admin.verifyAudit();
        assert.equal(result.valid, false);
        assert.equal(result.firstInvalidSeq, 2);
      });
    });
  });
}

for (const engine of engines) {
  describe(`the last admin [${engine}]`, () => {
    it('cannot be removed by any route', async () => {
      const server = await startTestServer({ engine });
      try {
        const token = /setup\?token=([0-9A-Za-z]+)/.exec(server.logs.text)?.[1];
        assert.ok(token, 'the setup link is logged');
        const session = await server
          .client()
          .setup({ token, name: 'first@example.com', password: 'first-admin-password' });
        const admin = server.client({ accessKey: session.accessKey });
        const [own] = (await admin.listGrants({ user: 'self' })).items;
        const last =
          'this would leave nobody with the admin role on infra; grant admin to someone else first';
        await rejectsWith(admin.deleteGrant({ id: own!.id }), 400, last);
        await rejectsWith(admin.updateGrants({ grantsToRemove: [{ id: own!.id }] }), 400, last);

        // Admin through a group only: removing the membership or the group is refused too.
        const admins = await admin.createGroup({ name: 'admins' });
        await admin.updateGroupUsers({ id: admins.id, usersToAdd: [session.userID] });
        await admin.createGrant({ group: admins.id, privilege: 'admin', resource: 'infra' });
        await admin.deleteGrant({ id: own!.id });
        await rejectsWith(
          admin.updateGroupUsers({ id: admins.id, usersToRemove: [session.userID] }),
          400,
          last,
        );
        await rejectsWith(admin.deleteGroup({ id: admins.id }), 400, last);
        assert.equal((await admin.getGroup({ id: admins.id })).totalUsers, 1);
        assert.deepEqual(await admin.verifyAudit(), {
          valid: true,
          checked: (await admin.listAudit({ limit: 1 })).items[0]!.seq,
        });
      } finally {
        await server.close();
      }
    });
  });
}
