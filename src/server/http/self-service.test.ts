/**
 * What the dashboard shows people about themselves and this server: the certificate to pin, the
 * session in use among their keys, and their own access (their grants and their groups').
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../api/errors.js';
import type { ApiClient } from '../../api/client.js';
import { engines } from '../../../test/engines.js';
import { createSignedInUser, startAdminServer, type SignedIn } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';

for (const engine of engines) {
  describe(`self-service [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let adminId: string;
    let alice: SignedIn;

    before(async () => {
      ({ server, admin, adminId } = await startAdminServer(engine));
      alice = await createSignedInUser(server, admin, 'alice@example.com');
    });
    after(() => server.close());

    it("gives anyone the fingerprint of the server's certificate", async () => {
      const settings = await server.client().getSettings();
      assert.deepEqual(settings.tls, {
        fingerprint: server.running.fingerprint,
        source: 'generated',
      });
      assert.match(settings.tls.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    });

    it('marks the key a request came with, and only that one', async () => {
      const other = await server.client().login({
        passwordCredentials: { name: alice.name, password: alice.password },
      });
      const otherClient = server.client({ accessKey: other.accessKey });
      const seenBy = async (client: ApiClient) =>
        (await client.listAccessKeys({ userID: 'self' })).items.filter((k) => k.current);
      const [fromFirst] = await seenBy(alice.client);
      const [fromOther] = await seenBy(otherClient);
      assert.ok(fromFirst && fromOther);
      assert.notEqual(fromFirst.id, fromOther.id);
      assert.equal((await seenBy(alice.client)).length, 1);
      // An admin listing someone else's keys holds none of them.
      const listed = await admin.listAccessKeys({ userID: alice.id });
      assert.ok(listed.items.length >= 2);
      assert.deepEqual(
        listed.items.filter((k) => k.current),
        [],
      );
    });

    it('lets a user list their own access, through groups too, and no one else’s', async () => {
      const oncall = await admin.createGroup({ name: 'oncall' });
      await admin.updateGroupUsers({ id: oncall.id, usersToAdd: [alice.id] });
      await admin.createGrant({ group: oncall.id, privilege: 'edit', resource: 'prod.web' });
      await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'staging' });
      await admin.createGrant({ user: adminId, privilege: 'admin', resource: 'prod' });

      const mine = await alice.client.listGrants({ user: 'self', showInherited: true });
      assert.deepEqual(
        mine.items.map((g) => [g.resource, g.privilege, g.groupName ?? g.userName]).sort(),
        [
          ['prod.web', 'edit', 'oncall'],
          ['staging', 'view', 'alice@example.com'],
        ],
      );
      const onProd = await alice.client.listGrants({
        user: 'self',
        showInherited: true,
        destination: 'prod',
      });
      assert.deepEqual(
        onProd.items.map((g) => g.resource),
        ['prod.web'],
      );
      await assert.rejects(
        alice.client.listGrants({ user: adminId }),
        (err) => err instanceof ApiError && err.status === 403,
      );
    });
  });
}
