import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../src/api/client.js';
import { ApiError } from '../../src/api/errors.js';
import { TestClock } from '../clock.js';
import { engines } from '../engines.js';
import { ADMIN, createSignedInUser, startAdminServer } from '../identity.js';
import type { TestServer } from '../server.js';

// No credential may widen itself: what one credential makes (a key created with a session, a
// session exchanged from a key, a device session a browser approved) ends when its parent ends
// and never lives or idles longer than it. A connector key makes nothing at all.

const HOUR = 3_600_000;

async function rejects(p: Promise<unknown>, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

for (const engine of engines) {
  describe(`derived credentials [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, {
        clock,
        settings: { 'sessions.inactivityTimeout': '72h', 'sessions.duration': '720h' },
      }));
    });
    after(() => server.close());

    const as = (key: string) => server.client({ accessKey: key });
    const works = (key: string) => as(key).getUser({ id: 'self' });
    const refused = (key: string) => rejects(works(key), 401);

    it('a connector key creates no access keys: not for its own or another destination, not unbound', async () => {
      const connectorId = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!
        .id;
      const prodKey = await admin.createAccessKey({
        userID: connectorId,
        name: 'prod-connector',
        expiry: '1h',
        destination: 'prod',
      });
      const connector = as(prodKey.accessKey);
      const before = (await admin.listAccessKeys({ userID: connectorId })).items.length;
      for (const attempt of [
        { destination: 'staging' },
        { destination: 'prod' },
        {},
        { userID: 'self', expiry: '87600h' },
        { userID: connectorId },
      ]) {
        await rejects(connector.createAccessKey(attempt), 403, /cannot create access keys/);
      }
      assert.equal((await admin.listAccessKeys({ userID: connectorId })).items.length, before);
      // Nor can it become a session of its own.
      await rejects(server.client().login({ accessKey: prodKey.accessKey }), 400, /system users/);
    });

    it('a key made with a session ends when the session ends, and cannot outlive it', async () => {
      const alice = await createSignedInUser(server, admin, 'alice@example.com');
      const session = await server.client().login({
        passwordCredentials: { name: alice.name, password: alice.password },
      });
      const made = await as(session.accessKey).createAccessKey({ name: 'ci' });
      // Unstated limits are the session's own.
      assert.equal(made.expires, session.expires);
      assert.equal(made.inactivityTimeout, '72h');
      // Asking for more than the session has left is refused, and changes nothing.
      await rejects(
        as(session.accessKey).createAccessKey({ name: 'long', expiry: '87600h' }),
        400,
        /expiry: must be at most 7\d\dh\d*m?: a key you create ends no later than the session/,
      );
      await rejects(
        as(session.accessKey).createAccessKey({ name: 'idle', inactivityTimeout: '100h' }),
        400,
        /inactivityTimeout: must be at most 72h/,
      );
      const names = (await admin.listAccessKeys({ userID: alice.id })).items.map((k) => k.name);
      assert.ok(!names.includes('long') && !names.includes('idle'));

      await works(made.accessKey);
      await as(session.accessKey).logout();
      await refused(made.accessKey);
      assert.ok(
        !(await admin.listAccessKeys({ userID: alice.id })).items.some((k) => k.name === 'ci'),
      );
    });

    it('a session exchanged from a key ends with the key and idles no longer than it', async () => {
      const bob = await admin.createUser({ name: 'bob@example.com' });
      const key = await admin.createAccessKey({
        userID: bob.id,
        name: 'bob-short',
        expiry: '24h',
        inactivityTimeout: '1m',
      });
      const session = await server.client().login({ accessKey: key.accessKey });
      const listed = (await admin.listAccessKeys({ userID: bob.id })).items.find(
        (k) => k.id !== key.id,
      )!;
      assert.equal(listed.inactivityTimeout, '1m');
      assert.ok(Date.parse(listed.expires) <= Date.parse(key.expires));

      await works(session.accessKey);
      await admin.deleteAccessKey({ id: key.id });
      await refused(session.accessKey);

      // Idle: the session idles out with its key's timeout, not the server's 72 h.
      const key2 = await admin.createAccessKey({
        userID: bob.id,
        name: 'bob-short-2',
        inactivityTimeout: '1m',
      });
      const session2 = await server.client().login({ accessKey: key2.accessKey });
      clock.advance(61_000);
      await refused(session2.accessKey);
    });

    it('a derived credential stops when its parent idles out, even while it is itself in use', async () => {
      const carol = await createSignedInUser(server, admin, 'carol@example.com');
      const session = await server.client().login({
        passwordCredentials: { name: carol.name, password: carol.password },
      });
      const made = await as(session.accessKey).createAccessKey({
        name: 'busy',
        inactivityTimeout: '48h',
      });
      // The child is used every day; the parent session is not used for 72 hours.
      for (let day = 0; day < 2; day++) {
        clock.advance(24 * HOUR);
        await works(made.accessKey);
      }
      clock.advance(24 * HOUR + 1000);
      await refused(session.accessKey);
      await refused(made.accessKey);
      // The admin's own session idled out too: sign in again for the next tests.
      const again = await server.client().login({ passwordCredentials: ADMIN });
      admin = as(again.accessKey);
    });

    it('a password change ends the other sessions and the keys they made; admin-made keys stay', async () => {
      const dave = await createSignedInUser(server, admin, 'dave@example.com');
      const login = () =>
        server.client().login({
          passwordCredentials: { name: dave.name, password: dave.password },
        });
      const mine = await login();
      const stolen = await login();
      const stolenKey = await as(stolen.accessKey).createAccessKey({ name: 'stolen' });
      const ownKey = await as(mine.accessKey).createAccessKey({ name: 'own' });
      const adminMade = await admin.createAccessKey({ userID: dave.id, name: 'from-admin' });
      const fromAdminMade = await server.client().login({ accessKey: adminMade.accessKey });

      const auditBefore = (await admin.listAudit({ action: 'updateUser' })).items.length;
      const newPassword = 'dave-second-password';
      await as(mine.accessKey).updateUser({
        id: 'self',
        password: newPassword,
        oldPassword: dave.password,
      });
      await refused(stolen.accessKey);
      await refused(stolenKey.accessKey);
      await refused(fromAdminMade.accessKey);
      await works(mine.accessKey);
      await works(ownKey.accessKey);
      await works(adminMade.accessKey);
      const entries = (await admin.listAudit({ action: 'updateUser' })).items;
      assert.equal(entries.length, auditBefore + 1, 'one audit entry for the change');
      assert.equal(entries[0]!.details.change, 'password');
      // dave's first session, the stolen one, the key made with it, the exchanged session.
      assert.equal(entries[0]!.details.credentialsEnded, 4);

      // An admin's reset ends every session and what they made; the admin's key stays.
      const again = await server.client().login({
        passwordCredentials: { name: dave.name, password: newPassword },
      });
      const againKey = await as(again.accessKey).createAccessKey({ name: 'again' });
      await admin.updateUser({ id: dave.id, password: 'reset-by-the-admin' });
      for (const k of [mine.accessKey, ownKey.accessKey, again.accessKey, againKey.accessKey]) {
        await refused(k);
      }
      await works(adminMade.accessKey);
    });

    it('a device session ends when the session that approved it ends', async () => {
      const erin = await createSignedInUser(server, admin, 'erin@example.com');
      const approver = await server.client().login({
        passwordCredentials: { name: erin.name, password: erin.password },
      });
      const device = await server.client().createDeviceRequest({});
      await as(approver.accessKey).approveDevice({ userCode: device.userCode });
      const status = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
      assert.ok(status.login);
      await works(status.login.accessKey);
      await as(approver.accessKey).logout();
      await refused(status.login.accessKey);
    });

    it('ended derived sessions reach the connectors as revoked', async () => {
      const frank = await createSignedInUser(server, admin, 'frank@example.com');
      await admin.createGrant({ user: frank.id, privilege: 'view', resource: 'feedcheck' });
      const parent = await server.client().login({
        passwordCredentials: { name: frank.name, password: frank.password },
      });
      const key = await as(parent.accessKey).createAccessKey({ name: 'kubectl' });
      const child = await server.client().login({ accessKey: key.accessKey });
      const childId = (await as(child.accessKey).listAccessKeys({ userID: 'self' })).items.find(
        (k) => k.issuedVia === 'key-exchange',
      )!.id;
      await as(parent.accessKey).logout();
      const feed = await admin.getAccessFeed({ destination: 'feedcheck' });
      assert.ok(feed.revokedSessions.includes(childId));
      assert.ok(feed.revokedSessions.includes(key.id));
    });

    it('logout refuses a key declared in the config file, as DELETE does', async () => {
      const declared = 'cfgkey0001.abcdefghijklmnopqrstuvwx';
      const started = await startAdminServer(engine, {
        configFile: `users:\n  - name: ${ADMIN.name}\n    password: plaintext:${ADMIN.password}\n    infraRole: admin\n    accessKey: plaintext:${declared}\n`,
      });
      try {
        const c = started.server.client({ accessKey: declared });
        await rejects(c.logout(), 400, /declared in the server's config file/);
        await c.getUser({ id: 'self' });
      } finally {
        await started.server.close();
      }
    });
  });
}
