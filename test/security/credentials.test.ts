import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AccessKey } from '../../src/api/access-keys.js';
import type { ApiClient } from '../../src/api/client.js';
import { ApiError } from '../../src/api/errors.js';
import { parseDuration } from '../../src/shared/duration.js';
import { TestClock } from '../clock.js';
import { engines } from '../engines.js';
import { ADMIN, ADMIN_CONFIG, createSignedInUser, startAdminServer } from '../identity.js';
import type { TestServer } from '../server.js';

// No credential may widen itself. The first block takes each kind of credential in turn and
// checks everything it could make or change: keys it creates, sessions it is exchanged for,
// device logins it approves, grants and destinations. The second follows derived credentials
// through their life: what one credential makes ends when its parent ends.

const HOUR = 3_600_000;
/** A connector key the config file of the widening tests declares, bound to `declared`. */
const DECLARED_CONNECTOR_KEY = 'cfgconnkey.abcdefghijklmnopqrstuvwx';

async function rejects(p: Promise<unknown>, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** A credential under test: its key and the user it speaks for. */
interface Credential {
  key: string;
  userId: string;
}

/**
 * A kind of credential, and what it may make: `made` (then within its own limits), or a
 * refusal saying why.
 */
interface Kind {
  kind: string;
  make(): Promise<Credential>;
  /** Keys it creates for itself. */
  keys: 'made' | RegExp;
  /** A session it is exchanged for (`infra login --key`). */
  exchange: 'made' | RegExp;
  /** A device login it approves. */
  device: 'made' | RegExp;
}

for (const engine of engines) {
  describe(`no credential widens itself [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let connectorId: string;
    let otherUserId: string;
    const destinations: Record<string, string> = {};

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, {
        clock,
        settings: { 'sessions.inactivityTimeout': '72h', 'sessions.duration': '720h' },
        configFile: `${ADMIN_CONFIG}connectors:\n  - destination: declared\n    accessKey: plaintext:${DECLARED_CONNECTOR_KEY}\n`,
      }));
      connectorId = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!.id;
      otherUserId = (await admin.createUser({ name: 'someone-else@example.com' })).id;
      for (const name of ['prod', 'other']) {
        const d = await admin.createDestination({
          name,
          uniqueID: `${name}-cluster`,
          connection: { url: `https://${name}.example.com`, ca: '' },
        });
        destinations[name] = d.id;
      }
    });
    after(() => server.close());

    const as = (key: string) => server.client({ accessKey: key });
    let users = 0;
    const signedIn = async () =>
      createSignedInUser(server, admin, `kind-${++users}@example.com`).then((u) => ({
        ...u,
        session: async () =>
          (
            await server
              .client()
              .login({ passwordCredentials: { name: u.name, password: u.password } })
          ).accessKey,
      }));
    const adminMade = async (userId: string) =>
      (await admin.createAccessKey({ userID: userId, expiry: '24h', inactivityTimeout: '2h' }))
        .accessKey;

    const kinds: Kind[] = [
      {
        kind: 'a session from a password login',
        make: async () => {
          const u = await signedIn();
          return { key: await u.session(), userId: u.id };
        },
        keys: 'made',
        exchange: 'made',
        device: 'made',
      },
      {
        kind: 'an access key an admin made for a user',
        make: async () => {
          const u = await admin.createUser({ name: `kind-${++users}@example.com` });
          return { key: await adminMade(u.id), userId: u.id };
        },
        keys: 'made',
        exchange: 'made',
        device: 'made',
      },
      {
        kind: 'a key made with a session',
        make: async () => {
          const u = await signedIn();
          const made = await as(await u.session()).createAccessKey({
            expiry: '12h',
            inactivityTimeout: '1h',
          });
          return { key: made.accessKey, userId: u.id };
        },
        keys: 'made',
        exchange: 'made',
        device: 'made',
      },
      {
        kind: 'a session exchanged from a key',
        make: async () => {
          const u = await admin.createUser({ name: `kind-${++users}@example.com` });
          const session = await server.client().login({ accessKey: await adminMade(u.id) });
          return { key: session.accessKey, userId: u.id };
        },
        keys: 'made',
        exchange: 'made',
        device: 'made',
      },
      {
        kind: 'a device session',
        make: async () => {
          const u = await signedIn();
          const device = await server.client().createDeviceRequest({});
          await as(await u.session()).approveDevice({ userCode: device.userCode });
          const status = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
          return { key: status.login!.accessKey, userId: u.id };
        },
        keys: 'made',
        exchange: 'made',
        device: 'made',
      },
      {
        kind: 'a connector key an admin bound to a destination',
        make: async () => {
          const key = await admin.createAccessKey({
            userID: connectorId,
            expiry: '24h',
            destination: 'prod',
          });
          return { key: key.accessKey, userId: connectorId };
        },
        keys: /this key cannot create access keys/,
        exchange: /system users cannot log in/,
        device: /system users cannot approve device logins/,
      },
      {
        kind: 'a connector key bound by its first registration',
        make: async () => {
          const key = (await admin.createAccessKey({ userID: connectorId, expiry: '24h' }))
            .accessKey;
          const edge = await as(key).createDestination({
            name: 'edge',
            uniqueID: 'edge-cluster',
            connection: { url: 'https://edge.example.com', ca: '' },
          });
          destinations.edge = edge.id;
          return { key, userId: connectorId };
        },
        keys: /this key cannot create access keys/,
        exchange: /system users cannot log in/,
        device: /system users cannot approve device logins/,
      },
      {
        kind: 'a connector key declared in the config file',
        make: async () => {
          const declared = await as(DECLARED_CONNECTOR_KEY).createDestination({
            name: 'declared',
            uniqueID: 'declared-cluster',
            connection: { url: 'https://declared.example.com', ca: '' },
          });
          destinations.declared = declared.id;
          return { key: DECLARED_CONNECTOR_KEY, userId: connectorId };
        },
        keys: /this key cannot create access keys/,
        exchange: /system users cannot log in/,
        device: /system users cannot approve device logins/,
      },
      {
        kind: 'a session that must change its one-time password first',
        make: async () => {
          const u = await admin.createUser({ name: `kind-${++users}@example.com` });
          const first = await server.client().login({
            passwordCredentials: { name: u.name, password: u.oneTimePassword },
          });
          return { key: first.accessKey, userId: u.id };
        },
        keys: /change your one-time password first/,
        exchange: /change your one-time password first/,
        device: /change your one-time password first/,
      },
    ];

    /** The stored record of a credential (sessions are `session-<id>`, keys `key-<id>`). */
    async function recordOf(c: Credential): Promise<AccessKey> {
      const keyId = c.key.split('.')[0]!;
      const found = (
        await admin.listAccessKeys({ userID: c.userId, showExpired: true })
      ).items.find((k) => k.name.endsWith(`-${keyId}`));
      assert.ok(found, `no record for ${keyId}`);
      return found;
    }

    const idle = (k: AccessKey) =>
      k.inactivityTimeout === null ? undefined : parseDuration(k.inactivityTimeout)!;

    /** A credential made from `parent` is no wider: same user and binding, no longer life. */
    async function assertWithin(parent: AccessKey, child: Credential, what: string) {
      const made = await recordOf(child);
      assert.equal(made.userID, parent.userID, what);
      assert.equal(made.destination, parent.destination, `${what}: the same destination`);
      assert.ok(Date.parse(made.expires) <= Date.parse(parent.expires), `${what}: expires later`);
      if (idle(parent) !== undefined) {
        assert.ok(
          idle(made) !== undefined && idle(made)! <= idle(parent)!,
          `${what}: idles longer`,
        );
      }
      await assertOwnScope(child, made, what);
    }

    /** It grants itself nothing, reaches no destination it holds no grant on, binds nothing new. */
    async function assertOwnScope(c: Credential, record: AccessKey, what: string) {
      const client = as(c.key);
      const refusedBy = async (p: Promise<unknown>, step: string) =>
        assert.rejects(p, (err: unknown) => {
          assert.ok(err instanceof ApiError, `${what}, ${step}: ${String(err)}`);
          assert.ok(
            [403, 400].includes(err.status),
            `${what}, ${step}: ${err.status} ${err.message}`,
          );
          return true;
        });
      await refusedBy(
        client.createGrant({ user: c.userId, privilege: 'admin', resource: 'infra' }),
        'grants itself admin',
      );
      await refusedBy(
        client.createGrant({ user: c.userId, privilege: 'cluster-admin', resource: 'other' }),
        'grants itself a cluster',
      );
      await refusedBy(client.createToken({ destination: 'other' }), 'a token for another cluster');
      await refusedBy(
        client.createDestination({
          name: `elsewhere-${++users}`,
          uniqueID: `elsewhere-${users}`,
          connection: { url: 'https://elsewhere.example.com', ca: '' },
        }),
        'registers another destination',
      );
      await refusedBy(
        client.updateDestination({
          id: destinations.other!,
          name: 'other',
          uniqueID: 'other-cluster',
          connection: { url: 'https://attacker.example.com', ca: '' },
        }),
        "re-points another cluster's destination",
      );
      if (record.destination !== null && destinations[record.destination]) {
        await refusedBy(
          client.updateDestination({
            id: destinations[record.destination]!,
            name: 'renamed',
            uniqueID: `${record.destination}-cluster`,
            connection: { url: `https://${record.destination}.example.com`, ca: '' },
          }),
          'renames its own destination',
        );
      }
    }

    for (const k of kinds) {
      it(k.kind, async () => {
        const c = await k.make();
        const parent = await recordOf(c);
        const client = as(c.key);
        const keysBefore = (await admin.listAccessKeys({ userID: c.userId })).items.length;

        // Keys it creates: never longer-lived, idler, bound elsewhere, or someone else's.
        const hoursLeft = Math.ceil((Date.parse(parent.expires) - clock.now()) / HOUR);
        if (k.keys !== 'made') {
          for (const attempt of [
            {},
            { expiry: '87600h' },
            { destination: 'prod' },
            { destination: 'other' },
            { userID: 'self', expiry: '1h' },
            { userID: c.userId },
            { userID: otherUserId },
          ]) {
            await rejects(client.createAccessKey(attempt), 403, k.keys);
          }
          assert.equal(
            (await admin.listAccessKeys({ userID: c.userId })).items.length,
            keysBefore,
            'no key was made',
          );
        } else {
          await rejects(
            client.createAccessKey({ expiry: `${hoursLeft + 1}h` }),
            400,
            /expiry: must be at most \d+h\d*m?: a key you create ends no later than the session/,
          );
          if (idle(parent) !== undefined) {
            await rejects(
              client.createAccessKey({ inactivityTimeout: `${idle(parent)! / HOUR + 1}h` }),
              400,
              /inactivityTimeout: must be at most \d+h/,
            );
          }
          await rejects(
            client.createAccessKey({ destination: 'prod' }),
            400,
            /destination: applies only to keys of the connector user/,
          );
          await rejects(client.createAccessKey({ userID: otherUserId }), 403);
          assert.equal(
            (await admin.listAccessKeys({ userID: c.userId })).items.length,
            keysBefore,
            'no key was made by a refused request',
          );
          const made = await client.createAccessKey({});
          await assertWithin(parent, { key: made.accessKey, userId: c.userId }, 'a key it made');
        }

        // A session it is exchanged for.
        const exchanged = server.client().login({ accessKey: c.key });
        if (k.exchange !== 'made') {
          await assert.rejects(exchanged, (err: unknown) => {
            assert.ok(err instanceof ApiError && [400, 403].includes(err.status), String(err));
            assert.match(err.message, k.exchange as RegExp);
            return true;
          });
        } else {
          const session = await exchanged;
          await assertWithin(parent, { key: session.accessKey, userId: c.userId }, 'its session');
        }

        // A device login it approves.
        const device = await server.client().createDeviceRequest({});
        const approved = client.approveDevice({ userCode: device.userCode });
        if (k.device !== 'made') {
          await rejects(approved, 403, k.device);
          const status = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
          assert.equal(status.login, undefined);
        } else {
          await approved;
          const status = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
          await assertWithin(
            parent,
            { key: status.login!.accessKey, userId: c.userId },
            'the device session it approved',
          );
        }

        // Its own grants and bindings.
        await assertOwnScope(c, parent, 'itself');
        assert.equal((await recordOf(c)).destination, parent.destination, 'its binding stays');
      });
    }
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

    it('a key made with a session ends when the session ends', async () => {
      const alice = await createSignedInUser(server, admin, 'alice@example.com');
      const session = await server.client().login({
        passwordCredentials: { name: alice.name, password: alice.password },
      });
      const made = await as(session.accessKey).createAccessKey({ name: 'ci' });
      // Unstated limits are the session's own (asking for more: see "no credential widens itself").
      assert.equal(made.expires, session.expires);
      assert.equal(made.inactivityTimeout, '72h');

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
