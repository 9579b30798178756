import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { ADMIN_CONFIG, createSignedInUser, startAdminServer } from '../../../test/identity.js';
import { startTestServer, type TestServer } from '../../../test/server.js';

// Callers are believed from memory once verified (access/authenticate.ts). The clock here never
// moves by itself, so nothing below is refused because a belief timed out: only because the
// change ended it.

async function refused(promise: Promise<unknown>, status: number) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    return true;
  });
}

for (const engine of engines) {
  describe(`revocation with callers remembered [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, { clock }));
    });
    after(() => server?.close());

    it('refuses a deleted key at the next request', async () => {
      const key = await admin.createAccessKey({ name: 'to-delete', expiry: '1h' });
      const client = server.client({ accessKey: key.accessKey });
      await client.getUser({ id: 'self' });
      await client.getUser({ id: 'self' });
      await admin.deleteAccessKey({ id: key.id });
      await refused(client.getUser({ id: 'self' }), 401);
    });

    it('refuses a key made from a session once the session is deleted', async () => {
      const user = await createSignedInUser(server, admin, 'derived@example.com');
      const derived = await user.client.createAccessKey({ name: 'derived', expiry: '1h' });
      const client = server.client({ accessKey: derived.accessKey });
      await client.getUser({ id: 'self' });
      const session = (await admin.listAccessKeys({ userID: user.id })).items.find(
        (k) => k.name !== 'derived',
      )!;
      await admin.deleteAccessKey({ id: session.id });
      await refused(client.getUser({ id: 'self' }), 401);
    });

    it('ends your other sessions at once when you change your password', async () => {
      const user = await createSignedInUser(server, admin, 'password@example.com');
      const other = await server
        .client()
        .login({ passwordCredentials: { name: user.name, password: user.password } });
      const otherClient = server.client({ accessKey: other.accessKey });
      await otherClient.getUser({ id: 'self' });
      await user.client.updateUser({
        id: 'self',
        password: 'a-new-password-for-me',
        oldPassword: user.password,
      });
      await refused(otherClient.getUser({ id: 'self' }), 401);
      await user.client.getUser({ id: 'self' });
    });

    it('refuses a removed user at the next request', async () => {
      const user = await createSignedInUser(server, admin, 'removed@example.com');
      await user.client.getUser({ id: 'self' });
      await admin.deleteUser({ id: user.id });
      await refused(user.client.getUser({ id: 'self' }), 401);
    });

    it('takes a role away at the next request, and gives one at once', async () => {
      const user = await createSignedInUser(server, admin, 'viewer@example.com');
      await refused(user.client.listUsers({}), 403);
      const grant = await admin.createGrant({
        user: user.id,
        privilege: 'view',
        resource: 'infra',
      });
      await user.client.listUsers({});
      await admin.deleteGrant({ id: grant.id });
      await refused(user.client.listUsers({}), 403);
    });

    it('takes a role away when its grant expires, however recently the caller was seen', async () => {
      const user = await createSignedInUser(server, admin, 'expiring@example.com');
      await admin.createGrant({
        user: user.id,
        privilege: 'view',
        resource: 'infra',
        expiresAt: new Date(clock.now() + 500).toISOString(),
      });
      await user.client.listUsers({});
      clock.advance(500);
      await refused(user.client.listUsers({}), 403);
    });

    it('refuses a key left idle past its timeout', async () => {
      const key = await admin.createAccessKey({
        name: 'idle-remembered',
        expiry: '1h',
        inactivityTimeout: '10m',
      });
      const client = server.client({ accessKey: key.accessKey });
      await client.getUser({ id: 'self' });
      clock.advance(10 * 60_000);
      await refused(client.getUser({ id: 'self' }), 401);
    });
  });
}

describe('revocation across replicas with callers remembered [postgres]', () => {
  it('refuses on one server a key deleted on another, without waiting for the belief to end', async () => {
    const clock = new TestClock();
    const { server: first, admin } = await startAdminServer('postgres', { clock });
    const second = await startTestServer({ replicaOf: first, configFile: ADMIN_CONFIG, clock });
    try {
      const key = await admin.createAccessKey({ name: 'replicated', expiry: '1h' });
      const elsewhere = second.client({ accessKey: key.accessKey });
      await elsewhere.getUser({ id: 'self' });
      await admin.deleteAccessKey({ id: key.id });
      // The other server hears of the change over LISTEN/NOTIFY, after the deletion answered.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const answer = await elsewhere.getUser({ id: 'self' }).then(
          () => 200,
          (err: unknown) => (err instanceof ApiError ? err.status : 0),
        );
        if (answer === 401) break;
        assert.equal(answer, 200);
        assert.ok(Date.now() < deadline, 'the other server still accepts the deleted key');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await second.close();
      await first.close();
    }
  });
});
