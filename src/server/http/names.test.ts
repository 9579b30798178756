/**
 * The rules for names (SECURITY.md, "Names"): names that hide characters, change text direction,
 * mix look-alike scripts in a word or claim a Kubernetes `system:` group are a 400 naming the
 * rule, and change nothing; names are stored in NFC; accented, non-Latin and path-like names
 * work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { engines } from '../../../test/engines.js';
import { startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';

async function refusedWith(call: Promise<unknown>, field: string, error: string | RegExp) {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 400, err.message);
    assert.equal(err.code, 'bad_request');
    const errors = err.fieldErrors?.find((f) => f.field === field)?.errors ?? [];
    assert.ok(
      errors.some((e) => (typeof error === 'string' ? e === error : error.test(e))),
      `${field}: ${JSON.stringify(err.fieldErrors)}`,
    );
    return true;
  });
}

const INVISIBLE = (cp: string) => `must not contain invisible or text-direction characters (${cp})`;
const RESERVED = 'must not start with system: (Kubernetes reserves those groups)';

for (const engine of engines) {
  describe(`names [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let userId: string;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine));
      userId = (await admin.createUser({ name: 'names@example.com' })).id;
    });
    after(() => server.close());

    const groupNames = async () =>
      (await admin.listGroups({ limit: 1000 })).items.map((g) => g.name).sort();

    it('refuses group names that hide characters, mix scripts or claim system:, changing nothing', async () => {
      const before = await groupNames();
      const grantsBefore = (await admin.listGrants({ limit: 1000 })).items.length;
      const cases: Array<[string, string | RegExp]> = [
        ['admins\u202Egpj.exe', INVISIBLE('U+202E')],
        ['ad\u200Bmins', INVISIBLE('U+200B')],
        ['ad\u200Cmins', INVISIBLE('U+200C')],
        ['ad\u200Dmins', INVISIBLE('U+200D')],
        ['ad\u2060mins', INVISIBLE('U+2060')],
        ['ad\uFEFFmins', INVISIBLE('U+FEFF')],
        ['ad\u2028mins', INVISIBLE('U+2028')],
        ['ad\u00A0mins', INVISIBLE('U+00A0')],
        ['admins\u3164', INVISIBLE('U+3164')],
        [
          '\u0430dmins',
          'must not mix Cyrillic and Latin letters in one word (one script per word)',
        ],
        ['ops-\u03BFps', 'must not mix Greek and Latin letters in one word (one script per word)'],
        ['system:masters', RESERVED],
        ['SYSTEM:Masters', RESERVED],
        ['System:nodes', RESERVED],
      ];
      for (const [name, error] of cases) {
        await refusedWith(admin.createGroup({ name }), 'name', error);
        await refusedWith(
          admin.createGrant({ groupName: name, privilege: 'view', resource: 'prod' }),
          'groupName',
          error,
        );
        await refusedWith(
          admin.updateGrants({
            grantsToAdd: [{ groupName: name, privilege: 'view', resource: 'prod' }],
          }),
          'grantsToAdd.0.groupName',
          error,
        );
      }
      await refusedWith(admin.listGroups({ name: 'ad\u200Bmins' }), 'name', INVISIBLE('U+200B'));
      assert.deepEqual(await groupNames(), before);
      assert.equal((await admin.listGrants({ limit: 1000 })).items.length, grantsBefore);
    });

    it('refuses user names that are not plain email addresses, and invisible filters', async () => {
      for (const name of [
        '\u0430dmin@example.com',
        'ad\u200Bmin@example.com',
        'admin@example.com\u202E',
      ]) {
        await refusedWith(admin.createUser({ name }), 'name', 'must be an email address');
      }
      await refusedWith(
        admin.listUsers({ name: 'names\u200B@example.com' }),
        'name',
        INVISIBLE('U+200B'),
      );
      assert.equal((await admin.listUsers({ name: 'names@example.com' })).count, 1);
    });

    it('stores names in NFC, so the same name in another form is the same group', async () => {
      const decomposed = 'e\u0301quipe-ops';
      const group = await admin.createGroup({ name: decomposed });
      assert.equal(group.name, '\u00E9quipe-ops');
      await assert.rejects(admin.createGroup({ name: '\u00E9quipe-ops' }), { status: 409 });
      assert.deepEqual(
        (await admin.listGroups({ name: decomposed })).items.map((g) => g.id),
        [group.id],
      );
      const grant = await admin.createGrant({
        groupName: decomposed,
        privilege: 'view',
        resource: 'prod',
      });
      assert.equal(grant.group, group.id);
      assert.equal(grant.groupName, '\u00E9quipe-ops');
    });

    it('accepts non-Latin and path-like names: they are never paths', async () => {
      for (const name of ['運用', 'Команда Platform', '../../etc/passwd', 'ops/on-call']) {
        const group = await admin.createGroup({ name });
        assert.equal(group.name, name);
        assert.equal((await admin.getGroup({ id: group.id })).name, name);
        assert.deepEqual(
          (await admin.listGroups({ name })).items.map((g) => g.id),
          [group.id],
        );
        await admin.updateGroupUsers({ id: group.id, usersToAdd: [userId] });
        await admin.createGrant({ groupName: name, privilege: 'view', resource: 'prod' });
      }
      assert.deepEqual(
        (await admin.listGroups({ userID: userId })).items.map((g) => g.name).sort(),
        ['../../etc/passwd', 'ops/on-call', 'Команда Platform', '運用'].sort(),
      );
    });
  });
}
