import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  SignJWT,
  UnsecuredJWT,
  createLocalJWKSet,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import pg from 'pg';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { rawRequest } from '../../../test/http.js';
import {
  ADMIN_CONFIG,
  createSignedInUser,
  startAdminServer,
  type SignedIn,
} from '../../../test/identity.js';
import { startTestServer, type TestServer } from '../../../test/server.js';
import { pgConnection } from '../data/db.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

async function rejectsWith(promise: Promise<unknown>, status: number, message?: string | RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  });
}

interface Feed {
  updateIndex: number;
  grants: Array<{
    id: string;
    privilege: string;
    resource: string;
    userName?: string;
    groupName?: string;
  }>;
  users: Array<{ id: string; name: string; groups: string[] }>;
  revokedSessions: string[];
}

for (const engine of engines) {
  describe(`destinations, tokens and the access feed [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let connector: ApiClient;
    let connectorKey: string;
    let connectorId: string;
    let alice: SignedIn;

    const feed = async (query: string) => {
      const res = await rawRequest(`${server.url}/api/feed?${query}`, {
        ca: server.ca,
        headers: { authorization: `Bearer ${connectorKey}` },
      });
      return {
        status: res.status,
        body: res.status === 200 ? res.json<Feed>() : undefined,
        raw: res.body,
      };
    };

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, { clock }));
      const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      connectorId = connectorUser.id;
      connectorKey = (
        await admin.createAccessKey({
          userID: connectorUser.id,
          name: 'prod-connector',
          expiry: '8760h',
        })
      ).accessKey;
      connector = server.client({ accessKey: connectorKey });
      alice = await createSignedInUser(server, admin, 'alice@example.com');
    });
    after(() => server.close());

    describe('destinations', () => {
      it('are registered and updated by a connector', async () => {
        const created = await connector.createDestination({
          name: 'prod',
          uniqueID: 'cluster-ca-sha256-1',
          connection: { url: 'https://prod.example.com:8443', ca: CA },
          namespaces: ['web', 'default', 'web'],
          roles: ['view', 'edit'],
          version: '0.1.0',
        });
        assert.deepEqual(
          { ...created, id: undefined },
          {
            id: undefined,
            name: 'prod',
            uniqueID: 'cluster-ca-sha256-1',
            kind: 'kubernetes',
            ssh: { address: '', hostKey: '' },
            connection: { mode: 'direct', url: 'https://prod.example.com:8443', ca: CA },
            namespaces: ['default', 'web'],
            roles: ['edit', 'view'],
            version: '0.1.0',
            lastSeen: new Date(clock.now()).toISOString(),
            connected: true,
            tunnel: { connected: false, since: null, replicas: [] },
            created: new Date(clock.now()).toISOString(),
            updated: new Date(clock.now()).toISOString(),
          },
        );
        await rejectsWith(
          connector.createDestination({
            name: 'prod',
            uniqueID: 'other',
            connection: { url: 'https://x.example.com', ca: '' },
          }),
          409,
          'another destination already has that name',
        );
        await rejectsWith(
          connector.createDestination({
            name: 'bad.name',
            uniqueID: 'x',
            connection: { url: 'http://x', ca: '' },
          }),
          400,
        );
        // Direct mode needs the connector's URL; tunnel mode has none.
        await rejectsWith(
          connector.createDestination({
            name: 'other',
            uniqueID: 'x',
            connection: { mode: 'direct', url: '', ca: '' },
          }),
          400,
          'validation failed: connection.url: url is required in direct mode',
        );
        const updated = await connector.updateDestination({
          id: created.id,
          name: 'prod',
          uniqueID: 'cluster-ca-sha256-1',
          connection: { url: 'https://prod.example.com:9443', ca: CA },
          namespaces: ['web'],
          roles: ['view'],
          version: '0.1.1',
        });
        assert.equal(updated.connection.url, 'https://prod.example.com:9443');
        await rejectsWith(
          connector.updateDestination({
            id: created.id,
            name: 'prod',
            uniqueID: 'someone-else',
            connection: updated.connection,
          }),
          403,
          'destination prod belongs to another cluster (a different uniqueID)',
        );
        clock.advance(3 * 60_000);
        assert.equal((await admin.getDestination({ id: created.id })).connected, false);
      });

      it('bind each connector key to the one destination it registers', async () => {
        const staging = {
          name: 'staging',
          uniqueID: 'cluster-2',
          connection: { url: 'https://staging.example.com', ca: '' },
        };
        // The prod connector's key registered prod: it is bound there.
        const prodKey = (await admin.listAccessKeys({ userID: connectorId })).items.find(
          (k) => k.name === 'prod-connector',
        );
        assert.equal(prodKey?.destination, 'prod');
        await rejectsWith(
          connector.createDestination(staging),
          403,
          /this connector key is for destination prod, not staging/,
        );
        await rejectsWith(connector.getAccessFeed({ destination: 'staging' }), 403);
        assert.deepEqual(
          (await connector.listDestinations()).items.map((d) => d.name),
          ['prod'],
          'a bound key sees its own destination only',
        );

        const keyFor = async (name: string, destination?: string) =>
          server.client({
            accessKey: (
              await admin.createAccessKey({ userID: connectorId, name, expiry: '1h', destination })
            ).accessKey,
          });
        // A fresh key claims a destination nobody holds, and cannot take one somebody does.
        const stagingConnector = await keyFor('staging-connector');
        // A key follows the feed of its own destination only, once registered.
        await rejectsWith(
          stagingConnector.getAccessFeed({ destination: 'staging' }),
          403,
          /has registered no destination yet/,
        );
        await stagingConnector.createDestination(staging);
        await stagingConnector.getAccessFeed({ destination: 'staging' });
        // Nor read another cluster's registration or grants.
        await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'staging' });
        const stagingDestination = (await admin.listDestinations({ name: 'staging' })).items[0]!;
        await rejectsWith(connector.getDestination({ id: stagingDestination.id }), 403);
        await rejectsWith(connector.listGrants({ destination: 'staging' }), 403);
        const visible = await connector.listGrants({});
        assert.ok(visible.items.every((g) => g.resource.split('.')[0] === 'prod'));
        const stagingGrant = (await admin.listGrants({ destination: 'staging' })).items[0]!;
        await rejectsWith(connector.getGrant({ id: stagingGrant.id }), 404);
        await admin.deleteGrant({ id: stagingGrant.id });
        const intruder = await keyFor('intruder');
        const prod = (await admin.listDestinations({ name: 'prod' })).items[0]!;
        await rejectsWith(
          intruder.updateDestination({
            id: prod.id,
            name: 'prod',
            uniqueID: prod.uniqueID,
            connection: { url: 'https://attacker.example.com', ca: '' },
          }),
          403,
          /destination prod belongs to another connector key/,
        );
        assert.equal(
          (await admin.getDestination({ id: prod.id })).connection.url,
          prod.connection.url,
        );
        // A replacement key an admin made for prod may update it.
        const replacement = await keyFor('prod-connector-2', 'prod');
        await replacement.updateDestination({
          id: prod.id,
          name: 'prod',
          uniqueID: prod.uniqueID,
          connection: prod.connection,
          namespaces: prod.namespaces,
          roles: prod.roles,
          version: prod.version,
        });
        await rejectsWith(
          admin.createAccessKey({ userID: alice.id, destination: 'prod' }),
          400,
          /destination: applies only to keys of the connector user/,
        );
        // An admin renaming a destination takes its keys along.
        const d = (await admin.listDestinations({ name: 'staging' })).items[0]!;
        const rename = (name: string) =>
          admin.updateDestination({
            id: d.id,
            name,
            uniqueID: d.uniqueID,
            connection: d.connection,
            namespaces: d.namespaces,
            roles: d.roles,
            version: d.version,
          });
        await rename('stage');
        const moved = (await admin.listAccessKeys({ userID: connectorId })).items.find(
          (k) => k.name === 'staging-connector',
        );
        assert.equal(moved?.destination, 'stage');
        await stagingConnector.getAccessFeed({ destination: 'stage' });
        await rename('staging');
      });

      it('are visible to users who may reach them, all of them to admins', async () => {
        assert.deepEqual(
          (await admin.listDestinations()).items.map((d) => d.name),
          ['prod', 'staging'],
        );
        assert.deepEqual((await alice.client.listDestinations()).items, []);
        await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod.web' });
        assert.deepEqual(
          (await alice.client.listDestinations()).items.map((d) => d.name),
          ['prod'],
        );
        const staging = (await admin.listDestinations({ name: 'staging' })).items[0]!;
        await rejectsWith(alice.client.getDestination({ id: staging.id }), 403);
        await rejectsWith(alice.client.deleteDestination({ id: staging.id }), 403);
        await rejectsWith(connector.deleteDestination({ id: staging.id }), 403);
        await admin.deleteDestination({ id: staging.id });
      });

      it('let a connector do what it needs and nothing else', async () => {
        await connector.listGrants({ destination: 'prod' });
        await connector.listUsers();
        await connector.listGroups();
        await rejectsWith(connector.createUser({ name: 'x@example.com' }), 403);
        await rejectsWith(
          connector.createGrant({ user: alice.id, privilege: 'admin', resource: 'infra' }),
          403,
        );
        await rejectsWith(connector.listAccessKeys({}), 403);
        await rejectsWith(connector.listAudit(), 403);
        await rejectsWith(
          connector.createToken({ destination: 'prod' }),
          403,
          'system users cannot get destination tokens',
        );
        await rejectsWith(admin.deleteUser({ id: connectorId }), 400);
      });
    });

    describe('tokens', () => {
      let jwks: JSONWebKeySet;

      it('are ES512 JWTs for one destination, valid five minutes, verifiable with the JWKS', async () => {
        const team = await admin.createGroup({ name: 'team' });
        await admin.updateGroupUsers({ id: team.id, usersToAdd: [alice.id] });
        const { token, expires } = await alice.client.createToken({ destination: 'prod' });
        const res = await rawRequest(`${server.url}/.well-known/jwks.json`, { ca: server.ca });
        assert.equal(res.status, 200);
        jwks = res.json<JSONWebKeySet>();
        assert.equal(jwks.keys.length, 1);
        const key = jwks.keys[0]!;
        assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
        assert.deepEqual([key.kty, key.crv, key.alg, key.use], ['EC', 'P-521', 'ES512', 'sig']);
        const header = decodeProtectedHeader(token);
        assert.deepEqual(header, { alg: 'ES512', kid: key.kid, typ: 'JWT' });
        const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
          audience: 'prod',
          algorithms: ['ES512'],
          currentDate: new Date(clock.now()),
        });
        const session = (await alice.client.listAccessKeys({ userID: 'self' })).items.find(
          (k) => k.name === `session-${alice.key.split('.')[0]}`,
        )!;
        assert.deepEqual(
          { ...payload, jti: undefined },
          {
            iss: 'infra',
            sub: alice.id,
            aud: 'prod',
            name: 'alice@example.com',
            groups: ['team'],
            sid: session.id,
            iat: Math.floor(clock.now() / 1000),
            nbf: Math.floor(clock.now() / 1000),
            exp: Math.floor(clock.now() / 1000) + 300,
            jti: undefined,
          },
        );
        assert.match(String(payload.jti), /^[0-9A-Za-z]{16}$/);
        assert.equal(expires, new Date(payload.exp! * 1000).toISOString());

        const verify = (t: string, options: { audience?: string; at?: number } = {}) =>
          jwtVerify(t, createLocalJWKSet(jwks), {
            audience: options.audience ?? 'prod',
            algorithms: ['ES512'],
            currentDate: new Date(options.at ?? clock.now()),
          });
        await assert.rejects(verify(token, { audience: 'staging' }), {
          code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        });
        await assert.rejects(verify(token, { at: clock.now() + 301_000 }), {
          code: 'ERR_JWT_EXPIRED',
        });
        const other = await generateKeyPair('ES512');
        const forged = await new SignJWT({ ...payload, name: 'admin@example.com' })
          .setProtectedHeader({ alg: 'ES512', kid: key.kid })
          .sign(other.privateKey);
        await assert.rejects(verify(forged), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
        const unsigned = new UnsecuredJWT({ ...payload }).encode();
        await assert.rejects(verify(unsigned));
        const hmacKey = new TextEncoder().encode(JSON.stringify(key));
        const hs512 = await new SignJWT({ ...payload })
          .setProtectedHeader({ alg: 'HS512', kid: key.kid })
          .sign(hmacKey);
        await assert.rejects(verify(hs512));
      });

      it('are refused for a destination you have no grant on, with a code clients act on', async () => {
        await rejectsWith(
          alice.client.createToken({ destination: 'staging' }),
          403,
          'you have no grant on destination staging; ask an admin for one',
        );
        await assert.rejects(alice.client.createToken({ destination: 'staging' }), {
          code: 'no_grant',
        });
      });

      it('keep verifying after a key rotation until they expire', async () => {
        const before = await alice.client.createToken({ destination: 'prod' });
        const { kid } = await admin.rotateSigningKey();
        const after = await alice.client.createToken({ destination: 'prod' });
        assert.equal(decodeProtectedHeader(after.token).kid, kid);
        const published = (
          await rawRequest(`${server.url}/.well-known/jwks.json`, { ca: server.ca })
        ).json<JSONWebKeySet>();
        assert.equal(published.keys.length, 2);
        for (const t of [before.token, after.token]) {
          await jwtVerify(t, createLocalJWKSet(published), {
            audience: 'prod',
            currentDate: new Date(clock.now()),
          });
        }
        clock.advance(7 * 60_000);
        const later = (
          await rawRequest(`${server.url}/.well-known/jwks.json`, { ca: server.ca })
        ).json<JSONWebKeySet>();
        assert.deepEqual(
          later.keys.map((k) => k.kid),
          [kid],
        );
        const audit = await admin.listAudit({ action: 'rotateSigningKey' });
        assert.equal(audit.items[0]!.target.id, kid);
      });

      it('store their private key sealed', async () => {
        const { openDb } = await import('../data/db.js');
        const database = await openDb(server.config.db);
        try {
          const rows = await database.db
            .selectFrom('signingKeys')
            .select(['kid', 'privateJwk'])
            .execute();
          for (const row of rows) {
            assert.match(row.privateJwk, /^v1:dk-[a-z0-9]{8}:/);
            assert.equal(row.privateJwk.includes('"d"'), false);
          }
        } finally {
          await database.close();
        }
      });
    });

    describe('the access feed', () => {
      let index = 0;

      it('gives who may reach a destination', async () => {
        const { status, body } = await feed('destination=prod');
        assert.equal(status, 200);
        index = body!.updateIndex;
        assert.ok(index > 0);
        assert.deepEqual(
          body!.grants.map((g) => [g.userName ?? g.groupName, g.privilege, g.resource]),
          [['alice@example.com', 'view', 'prod.web']],
        );
        assert.deepEqual(body!.users, [{ id: alice.id, name: 'alice@example.com', groups: [] }]);
      });

      it('answers 304 when nothing changes before the wait ends', async () => {
        await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'staging' });
        const started = Date.now();
        const res = await feed(`destination=prod&lastUpdateIndex=${index}&wait=1s`);
        assert.equal(res.status, 304);
        assert.equal(res.raw, '');
        assert.ok(Date.now() - started >= 900);
      });

      async function wakesOn(change: () => Promise<unknown>): Promise<Feed> {
        const waiting = feed(`destination=prod&lastUpdateIndex=${index}&wait=30s`);
        await new Promise((r) => setTimeout(r, 100));
        const started = Date.now();
        await change();
        const res = await waiting;
        assert.equal(res.status, 200, res.raw);
        assert.ok(Date.now() - started < 10_000, 'woken by the change, not the timeout');
        assert.ok(res.body!.updateIndex > index);
        index = res.body!.updateIndex;
        return res.body!;
      }

      it('wakes on a grant created and deleted', async () => {
        const ops = await admin.createGroup({ name: 'ops' });
        const bob = await createSignedInUser(server, admin, 'bob@example.com');
        await admin.updateGroupUsers({ id: ops.id, usersToAdd: [bob.id] });
        let grantId = '';
        const created = await wakesOn(async () => {
          grantId = (
            await admin.createGrant({ group: ops.id, privilege: 'edit', resource: 'prod' })
          ).id;
        });
        assert.deepEqual(
          created.users.map((u) => [u.name, u.groups]),
          [
            ['alice@example.com', []],
            ['bob@example.com', ['ops']],
          ],
        );
        const deleted = await wakesOn(() => admin.deleteGrant({ id: grantId }));
        assert.deepEqual(
          deleted.users.map((u) => u.name),
          ['alice@example.com'],
        );
        await admin.createGrant({ group: ops.id, privilege: 'edit', resource: 'prod' });
        index = (await feed('destination=prod')).body!.updateIndex;
      });

      it('wakes on a membership change and a group deletion', async () => {
        const ops = (await admin.listGroups({ name: 'ops' })).items[0]!;
        const carol = await createSignedInUser(server, admin, 'carol@example.com');
        const added = await wakesOn(async () => {
          await admin.updateGroupUsers({ id: ops.id, usersToAdd: [carol.id] });
        });
        assert.ok(added.users.some((u) => u.name === 'carol@example.com'));
        const gone = await wakesOn(() => admin.deleteGroup({ id: ops.id }));
        assert.deepEqual(
          gone.users.map((u) => u.name),
          ['alice@example.com'],
        );
      });

      it('wakes on a session ending, and lists it', async () => {
        const session = await server
          .client()
          .login({ passwordCredentials: { name: alice.name, password: alice.password } });
        const sid = (await alice.client.listAccessKeys({ userID: 'self' })).items.find(
          (k) => k.name === `session-${session.accessKey.split('.')[0]}`,
        )!.id;
        const ended = await wakesOn(() => server.client({ accessKey: session.accessKey }).logout());
        assert.ok(ended.revokedSessions.includes(sid));
      });

      it('wakes on a user deletion', async () => {
        const dave = await createSignedInUser(server, admin, 'dave@example.com');
        await admin.createGrant({ user: dave.id, privilege: 'view', resource: 'prod' });
        index = (await feed('destination=prod')).body!.updateIndex;
        const sessions = (await admin.listAccessKeys({ userID: dave.id })).items.map((k) => k.id);
        const after = await wakesOn(() => admin.deleteUser({ id: dave.id }));
        assert.equal(
          after.users.some((u) => u.name === 'dave@example.com'),
          false,
        );
        for (const sid of sessions) assert.ok(after.revokedSessions.includes(sid));
      });

      it('is for connectors, admins and viewers only', async () => {
        const res = await rawRequest(`${server.url}/api/feed?destination=prod`, {
          ca: server.ca,
          headers: { authorization: `Bearer ${alice.key}` },
        });
        assert.equal(res.status, 403);
      });
    });
  });
}

/** A counter or gauge from the server's metrics. */
async function metric(server: TestServer, name: string): Promise<number> {
  const res = await rawRequest(`http://127.0.0.1:${server.running.metricsPort}/metrics`);
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(res.body);
  assert.ok(m, `no ${name} in the metrics`);
  return Number(m[1]);
}

/** Waits (at most 10 s) until `n` feed requests wait on the server. */
async function untilWaiting(server: TestServer, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await metric(server, 'feed_requests_waiting')) !== n) {
    assert.ok(Date.now() < deadline, `${n} feed requests never waited`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const engine of engines) {
  describe(`the access feed of many destinations [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    let alice: SignedIn;

    const feed = async (query: string) => {
      const res = await rawRequest(`${server.url}/api/feed?${query}`, {
        ca: server.ca,
        headers: { authorization: `Bearer ${adminKey}` },
      });
      return { status: res.status, body: res.status === 200 ? res.json<Feed>() : undefined };
    };
    const indexOf = async (destination: string) =>
      (await feed(`destination=${destination}`)).body!.updateIndex;

    before(async () => {
      ({ server, admin, adminKey } = await startAdminServer(engine, {
        clock,
        settings: { 'addr.metrics': '127.0.0.1:0' },
      }));
      alice = await createSignedInUser(server, admin, 'alice@example.com');
      await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
      await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'staging' });
    });
    after(() => server.close());

    it('wakes only the feeds of the destination a change is at', async () => {
      const prodIndex = await indexOf('prod');
      const stagingIndex = await indexOf('staging');
      const woken = await metric(server, 'feed_wakeups_total');
      const prod = feed(`destination=prod&lastUpdateIndex=${prodIndex}&wait=30s`);
      const staging = feed(`destination=staging&lastUpdateIndex=${stagingIndex}&wait=2s`);
      await untilWaiting(server, 2);
      await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod.web' });
      const answer = await prod;
      assert.equal(answer.status, 200);
      assert.ok(answer.body!.updateIndex > prodIndex);
      assert.ok(answer.body!.grants.some((g) => g.resource === 'prod.web'));
      // The other feed sleeps on until its wait ends: nothing changed for it.
      assert.equal((await staging).status, 304);
      assert.equal((await metric(server, 'feed_wakeups_total')) - woken, 1);
    });

    it('wakes every feed for a change that concerns them all, each with its own state', async () => {
      const session = await server
        .client()
        .login({ passwordCredentials: { name: alice.name, password: alice.password } });
      const sid = (await alice.client.listAccessKeys({ userID: 'self' })).items.find(
        (k) => k.name === `session-${session.accessKey.split('.')[0]}`,
      )!.id;
      const indexes = { prod: await indexOf('prod'), staging: await indexOf('staging') };
      const woken = await metric(server, 'feed_wakeups_total');
      const waits = (['prod', 'staging'] as const).map((d) =>
        feed(`destination=${d}&lastUpdateIndex=${indexes[d]}&wait=30s`),
      );
      await untilWaiting(server, 2);
      await server.client({ accessKey: session.accessKey }).logout();
      const [prod, staging] = await Promise.all(waits);
      for (const [answer, destination] of [
        [prod!, 'prod'],
        [staging!, 'staging'],
      ] as const) {
        assert.equal(answer.status, 200);
        assert.ok(answer.body!.updateIndex > indexes[destination]);
        assert.ok(answer.body!.revokedSessions.includes(sid));
        assert.ok(answer.body!.grants.length > 0);
        assert.ok(answer.body!.grants.every((g) => g.resource.split('.')[0] === destination));
      }
      assert.equal((await metric(server, 'feed_wakeups_total')) - woken, 2);
    });

    it("records the connector user's use once a minute however many of its keys poll", async () => {
      const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      const poll = async (destination: string) => {
        const { accessKey } = await admin.createAccessKey({
          userID: connectorUser.id,
          expiry: '1h',
          destination,
        });
        const res = await rawRequest(`${server.url}/api/feed?destination=${destination}`, {
          ca: server.ca,
          headers: { authorization: `Bearer ${accessKey}` },
        });
        assert.equal(res.status, 200);
        return (await admin.getUser({ id: connectorUser.id })).lastSeenAt;
      };
      const first = await poll('dev-1');
      assert.equal(first, new Date(clock.now()).toISOString());
      clock.advance(30_000);
      // Another connector's key, used for the first time: the user was seen just now.
      assert.equal(await poll('dev-2'), first);
      clock.advance(31_000);
      assert.equal(await poll('dev-3'), new Date(clock.now()).toISOString());
    });

    it('gives feeds waiting at the same destination the same answer', async () => {
      const index = await indexOf('prod');
      const waits = [1, 2, 3].map(() => feed(`destination=prod&lastUpdateIndex=${index}&wait=30s`));
      await untilWaiting(server, 3);
      await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod.api' });
      const answers = await Promise.all(waits);
      for (const a of answers) assert.equal(a.status, 200);
      assert.deepEqual(answers[1]!.body, answers[0]!.body);
      assert.deepEqual(answers[2]!.body, answers[0]!.body);
    });
  });
}

describe('the access feed across replicas [postgres]', () => {
  it('wakes a feed waiting on one server for a change made on another', async () => {
    const { server: first, admin } = await startAdminServer('postgres');
    const second = await startTestServer({ replicaOf: first, configFile: ADMIN_CONFIG });
    try {
      const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      const key = (
        await admin.createAccessKey({ userID: connectorUser.id, expiry: '1h', destination: 'prod' })
      ).accessKey;
      const get = (query: string) =>
        rawRequest(`${second.url}/api/feed?${query}`, {
          ca: second.ca,
          headers: { authorization: `Bearer ${key}` },
        });
      const start = (await get('destination=prod')).json<Feed>().updateIndex;
      const waiting = get(`destination=prod&lastUpdateIndex=${start}&wait=30s`);
      await new Promise((r) => setTimeout(r, 200));
      const changedAt = Date.now();
      const bob = await admin.createUser({ name: 'bob@example.com' });
      await admin.createGrant({ user: bob.id, privilege: 'view', resource: 'prod' });
      const res = await waiting;
      assert.equal(res.status, 200);
      assert.ok(Date.now() - changedAt < 10_000);
      assert.ok(res.json<Feed>().users.some((u) => u.name === 'bob@example.com'));
      // Tokens minted on one replica verify with the JWKS of the other.
      const user = await createSignedInUser(first, admin, 'carol@example.com');
      await admin.createGrant({ user: user.id, privilege: 'view', resource: 'prod' });
      const { token } = await user.client.createToken({ destination: 'prod' });
      const jwks = (
        await rawRequest(`${second.url}/.well-known/jwks.json`, { ca: second.ca })
      ).json<JSONWebKeySet>();
      await jwtVerify(token, createLocalJWKSet(jwks), { audience: 'prod' });
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('wakes on the other server only the feeds of the destination a change is at', async () => {
    const { server: first, admin } = await startAdminServer('postgres');
    const second = await startTestServer({
      replicaOf: first,
      configFile: ADMIN_CONFIG,
      settings: { 'addr.metrics': '127.0.0.1:0' },
    });
    try {
      const key = (await admin.createAccessKey({ expiry: '1h' })).accessKey;
      const get = (query: string) =>
        rawRequest(`${second.url}/api/feed?${query}`, {
          ca: second.ca,
          headers: { authorization: `Bearer ${key}` },
        });
      const indexOf = async (d: string) => (await get(`destination=${d}`)).json<Feed>().updateIndex;
      const [prodIndex, stagingIndex] = [await indexOf('prod'), await indexOf('staging')];
      const woken = await metric(second, 'feed_wakeups_total');
      const prod = get(`destination=prod&lastUpdateIndex=${prodIndex}&wait=30s`);
      const staging = get(`destination=staging&lastUpdateIndex=${stagingIndex}&wait=2s`);
      await untilWaiting(second, 2);
      const bob = await admin.createUser({ name: 'bob@example.com' });
      await admin.createGrant({ user: bob.id, privilege: 'view', resource: 'prod' });
      const answer = await prod;
      assert.equal(answer.status, 200);
      assert.ok(answer.json<Feed>().users.some((u) => u.name === 'bob@example.com'));
      assert.equal((await staging).status, 304);
      assert.equal((await metric(second, 'feed_wakeups_total')) - woken, 1);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('catches up on a change nobody announced once the listening connection is back', async () => {
    const { server: first, admin } = await startAdminServer('postgres');
    const second = await startTestServer({
      replicaOf: first,
      configFile: ADMIN_CONFIG,
      settings: { 'addr.metrics': '127.0.0.1:0' },
    });
    const config = second.config.db;
    assert.equal(config.kind, 'postgres');
    const sql = new pg.Client(pgConnection(config));
    await sql.connect();
    try {
      const key = (await admin.createAccessKey({ expiry: '1h' })).accessKey;
      const get = (query: string) =>
        rawRequest(`${second.url}/api/feed?${query}`, {
          ca: second.ca,
          headers: { authorization: `Bearer ${key}` },
        });
      const start = (await get('destination=prod')).json<Feed>().updateIndex;
      const waiting = get(`destination=prod&lastUpdateIndex=${start}&wait=30s`);
      await untilWaiting(second, 1);
      // A change without its notification (as if sent while the connection was down), then the
      // connections that listen are cut: the servers reconnect and read what they missed.
      await sql.query(`insert into changes (destination, at) values ('prod', 0)`);
      await sql.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and query ilike 'listen %'`,
      );
      const answer = await waiting;
      assert.equal(answer.status, 200);
      assert.ok(answer.json<Feed>().updateIndex > start);
    } finally {
      await sql.end();
      await second.close();
      await first.close();
    }
  });
});
