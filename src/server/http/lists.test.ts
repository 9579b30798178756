import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { engines } from '../../../test/engines.js';
import { rawRequest } from '../../../test/http.js';
import { startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';

// Lists that scale: search on the server, a real total, audit filters by name and its export,
// and only real changes in the audit log.

for (const engine of engines) {
  describe(`lists: search, totals, audit by name [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    const ids: Record<string, string> = {};

    before(async () => {
      ({ server, admin, adminKey } = await startAdminServer(engine));
      for (const name of [
        'alice@example.com',
        'Malice@example.com',
        'bob@example.com',
        'a_b@example.com',
        'axb@example.com',
      ])
        ids[name.toLowerCase()] = (await admin.createUser({ name })).id;
      ids.oncall = (await admin.createGroup({ name: 'OnCall' })).id;
      ids.devs = (await admin.createGroup({ name: 'developers' })).id;
      await admin.createGroup({ name: '50%off' });
      await admin.createGroup({ name: '50xoff' });
      for (const name of ['prod-web', 'prod-db', 'staging'])
        await admin.createDestination({
          name,
          uniqueID: name,
          connection: { url: 'https://k.example.com', ca: '' },
        });
      await admin.createGrant({
        user: ids['alice@example.com'],
        privilege: 'edit',
        resource: 'prod-web',
      });
      await admin.createGrant({ group: ids.oncall, privilege: 'view', resource: 'prod-db' });
      await admin.createGrant({ group: ids.oncall, privilege: 'view', resource: 'infra' });
      await admin.updateGroupUsers({ id: ids.oncall, usersToAdd: [ids['alice@example.com']!] });
    });
    after(() => server?.close());

    it('search users by any part of the email, ignoring case, _ taken literally', async () => {
      const names = async (search: string, limit = 100) => {
        const page = await admin.listUsers({ search, limit });
        return { names: page.items.map((u) => u.name), total: page.totalCount, count: page.count };
      };
      assert.deepEqual(await names('ALICE'), {
        names: ['alice@example.com', 'malice@example.com'],
        total: 2,
        count: 2,
      });
      // A page of one still counts every match.
      assert.deepEqual(await names('lice', 1), {
        names: ['alice@example.com'],
        total: 2,
        count: 1,
      });
      assert.deepEqual((await names('a_b')).names, ['a_b@example.com']);
      assert.deepEqual((await names('nobody')).names, []);
      // Without a search the total is every user (the config's admin and the five above).
      assert.equal((await admin.listUsers({ limit: 2 })).totalCount, 6);
    });

    it('show who each user is: roles on infra, groups, origin', async () => {
      const [alice] = (await admin.listUsers({ name: 'alice@example.com' })).items;
      assert.deepEqual(
        {
          infraRoles: alice!.infraRoles,
          groups: alice!.groups,
          totalGroups: alice!.totalGroups,
          origin: alice!.origin,
        },
        { infraRoles: ['view'], groups: ['OnCall'], totalGroups: 1, origin: 'local' },
      );
      const [adminUser] = (await admin.listUsers({ name: 'admin@example.com' })).items;
      assert.equal(adminUser!.origin, 'config');
      assert.deepEqual(adminUser!.infraRoles, ['admin']);
    });

    it('search groups and destinations by name, with totals', async () => {
      const groups = await admin.listGroups({ search: 'call' });
      assert.deepEqual(
        groups.items.map((g) => g.name),
        ['OnCall'],
      );
      assert.equal(groups.totalCount, 1);
      assert.equal((await admin.listGroups({})).totalCount, 4);
      assert.deepEqual(
        (await admin.listGroups({ search: '0%' })).items.map((g) => g.name),
        ['50%off'],
      );
      const clusters = await admin.listDestinations({ search: 'PROD', limit: 1 });
      assert.deepEqual(
        clusters.items.map((d) => d.name),
        ['prod-db'],
      );
      assert.equal(clusters.totalCount, 2);
      assert.ok(clusters.next);
    });

    it('filter grants by user or group name, kind, role and cluster', async () => {
      const grants = async (input: Parameters<ApiClient['listGrants']>[0]) => {
        const page = await admin.listGrants(input);
        return {
          grants: page.items.map(
            (g) => `${g.userName ?? g.groupName} ${g.privilege} ${g.resource}`,
          ),
          total: page.totalCount,
        };
      };
      assert.deepEqual(await grants({ search: 'ALICE' }), {
        grants: ['alice@example.com edit prod-web'],
        total: 1,
      });
      assert.deepEqual(await grants({ search: 'oncall', destination: 'prod-db' }), {
        grants: ['OnCall view prod-db'],
        total: 1,
      });
      assert.deepEqual((await grants({ kind: 'group', privilege: 'view' })).total, 2);
      assert.deepEqual((await grants({ kind: 'user', search: 'example' })).grants, [
        'admin@example.com admin infra',
        'alice@example.com edit prod-web',
      ]);
    });

    it('audit a repeated grant and a repeated membership once, and say nothing changed', async () => {
      const grant = { user: ids['bob@example.com']!, privilege: 'view', resource: 'staging' };
      const first = await admin.createGrant(grant);
      assert.equal(first.wasCreated, true);
      for (let i = 0; i < 2; i++) {
        const again = await admin.createGrant(grant);
        assert.equal(again.wasCreated, false);
        assert.equal(again.id, first.id);
      }
      const raw = await rawRequest(`${server.url}/api/grants`, {
        method: 'POST',
        ca: server.ca,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
        body: JSON.stringify(grant),
      });
      assert.equal(raw.status, 200);
      const grantEntries = await admin.listAudit({ action: 'createGrant', target: first.id });
      assert.equal(grantEntries.items.length, 1);

      const add = () =>
        admin.updateGroupUsers({ id: ids.devs!, usersToAdd: [ids['bob@example.com']!] });
      assert.deepEqual((await add()).usersAdded, [ids['bob@example.com']]);
      assert.deepEqual((await add()).usersAdded, []);
      const remove = () =>
        admin.updateGroupUsers({ id: ids.devs!, usersToRemove: [ids['bob@example.com']!] });
      assert.deepEqual((await remove()).usersRemoved, [ids['bob@example.com']]);
      assert.deepEqual((await remove()).usersRemoved, []);
      const memberEntries = await admin.listAudit({ action: 'updateGroupUsers', target: ids.devs });
      assert.deepEqual(
        memberEntries.items.map((e) => e.details),
        [
          { usersAdded: [], usersRemoved: [ids['bob@example.com']] },
          { usersAdded: [ids['bob@example.com']], usersRemoved: [] },
        ],
      );
      // A batch that only repeats what exists is not logged either.
      const before = (await admin.listAudit({ action: 'updateGrants' })).items.length;
      await admin.updateGrants({ grantsToAdd: [grant] });
      assert.equal((await admin.listAudit({ action: 'updateGrants' })).items.length, before);
    });

    it('filter the audit log by actor and target name', async () => {
      const byTarget = await admin.listAudit({ targetName: 'ALICE', action: 'createUser' });
      assert.deepEqual(
        byTarget.items.map((e) => e.target.name),
        ['malice@example.com', 'alice@example.com'],
      );
      const byActor = await admin.listAudit({ actorName: 'admin@', action: 'createGroup' });
      assert.deepEqual(
        byActor.items.map((e) => e.target.name),
        ['50xoff', '50%off', 'developers', 'OnCall'],
      );
      assert.deepEqual((await admin.listAudit({ actorName: 'bob' })).items, []);
      // % is a character like any other.
      assert.deepEqual(
        (await admin.listAudit({ targetName: '0%' })).items.map((e) => e.target.name),
        ['50%off'],
      );
    });

    it('export the filtered log as JSON lines and as CSV, defusing formulas', async () => {
      // A name a spreadsheet would run as a formula, with a comma and a quote in it.
      await admin.createGroup({ name: '=HYPERLINK("x",1)' });
      await admin.createGroup({ name: '-2+3' });
      const exported = async (query: string) => {
        const res = await rawRequest(`${server.url}/api/audit/export?${query}`, {
          ca: server.ca,
          headers: { authorization: `Bearer ${adminKey}` },
        });
        return res;
      };
      const jsonl = await exported('action=createGroup');
      assert.equal(jsonl.status, 200);
      assert.equal(jsonl.headers['content-type'], 'application/x-ndjson');
      assert.match(
        String(jsonl.headers['content-disposition']),
        /^attachment; filename="audit-.*\.jsonl"$/,
      );
      const entries = jsonl.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { target: { name: string } });
      assert.deepEqual(
        entries.map((e) => e.target.name),
        ['-2+3', '=HYPERLINK("x",1)', '50xoff', '50%off', 'developers', 'OnCall'],
      );

      const csv = await exported('format=csv&action=createGroup&targetName=%2B');
      assert.equal(csv.status, 200);
      assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
      const lines = csv.body.split('\r\n');
      assert.equal(
        lines[0],
        'seq,at,actor_id,actor_name,action,target_kind,target_id,target_name,source_ip,result,details,hash',
      );
      assert.equal(lines.length, 3);
      assert.equal(lines[2], '');
      const cells = lines[1]!.split(',');
      assert.equal(cells[3], 'admin@example.com');
      assert.equal(cells[7], "'-2+3");
      const formula = await exported('format=csv&targetName=HYPERLINK');
      assert.match(formula.body, /,"'=HYPERLINK\(""x"",1\)",/);
      // The export is for admins only, as the log is.
      assert.equal(
        (await rawRequest(`${server.url}/api/audit/export`, { ca: server.ca })).status,
        401,
      );
    });
  });
}
