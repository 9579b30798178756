import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT, generateKeyPair } from 'jose';
import { TestClock } from '../../test/clock.js';
import {
  kubectl,
  kubectlStream,
  startCluster,
  userWorkstation,
  CONNECTOR_SA,
  type Cluster,
} from '../../test/cluster.js';
import { engines } from '../../test/engines.js';
import { createSignedInUser, type SignedIn } from '../../test/identity.js';
import type { Workstation } from '../../test/cli.js';
import { tokenCacheFile } from '../cli/token-cache.js';

const FORBIDDEN_PODS = /pods is forbidden: User "alice@example.com" cannot list resource "pods"/;

for (const engine of engines) {
  describe(`kubectl through the connector [${engine}]`, () => {
    const clock = new TestClock();
    let cluster: Cluster;
    let alice: SignedIn;
    let ws: Workstation;
    let devsId: string;

    before(async () => {
      cluster = await startCluster(engine, { clock });
      const { admin, server } = cluster;
      alice = await createSignedInUser(server, admin, 'alice@example.com');
      devsId = (await admin.createGroup({ name: 'devs' })).id;
      await admin.updateGroupUsers({ id: devsId, usersToAdd: [alice.id] });
      // `connect` only: alice can sign in to the cluster, and do nothing there.
      await admin.createGrant({ user: alice.id, privilege: 'connect', resource: 'prod' });
      ws = await userWorkstation(
        cluster,
        (await alice.client.createAccessKey({ expiry: '24h' })).accessKey,
      );
      assert.equal((await ws.run('use', 'prod')).code, 0);
    });
    after(() => cluster.close());

    it('registers the cluster with its namespaces, roles and CA, and installs its ClusterRoles', async () => {
      const [prod] = (await cluster.admin.listDestinations({ name: 'prod' })).items;
      assert.ok(prod);
      assert.deepEqual(
        prod.namespaces,
        cluster.kube
          .namespaces()
          .map((n) => n.metadata.name)
          .sort(),
      );
      assert.ok(prod.namespaces.includes('web'));
      assert.ok(
        ['admin', 'cluster-admin', 'edit', 'view', 'exec', 'logs', 'port-forward'].every((r) =>
          prod.roles.includes(r),
        ),
        prod.roles.join(),
      );
      assert.ok(!prod.roles.some((r) => r.startsWith('system:')));
      assert.match(prod.connection.ca, /^-----BEGIN CERTIFICATE-----/);
      assert.equal(prod.connected, true);
    });

    it('refuses kubectl without a grant that allows it, and allows it with one', async () => {
      const denied = await kubectl(ws, ['get', 'pods']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, FORBIDDEN_PODS);

      const grant = await cluster.admin.createGrant({
        user: alice.id,
        privilege: 'view',
        resource: 'prod',
      });
      await cluster.connectorCaughtUp();
      const binding = cluster.kube
        .clusterRoleBindings()
        .find((b) => b.metadata.name === 'infra:view')!;
      assert.deepEqual((binding as unknown as { subjects: unknown }).subjects, [
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' },
      ]);
      const allowed = await kubectl(ws, ['get', 'pods', '-A']);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /NAMESPACE\s+NAME\s+READY\s+STATUS[\s\S]*app-1[\s\S]*web-1/);
      const exec = await kubectl(ws, ['exec', 'app-1', '--', 'id']);
      assert.notEqual(exec.code, 0);
      assert.match(exec.stderr, /forbidden/);

      // What reached the apiserver: the connector's own credentials and alice's identity.
      const seen = cluster.kube.requests.filter(
        (r) => r.impersonation.user === 'alice@example.com',
      );
      assert.ok(seen.length > 0);
      for (const r of seen) assert.equal(r.authenticatedAs, CONNECTOR_SA);
      await cluster.admin.deleteGrant({ id: grant.id });
      await cluster.connectorCaughtUp();
    });

    it('confines a namespace grant to its namespace, and exec works with edit', async () => {
      await cluster.admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod.web' });
      await cluster.connectorCaughtUp();
      assert.equal((await ws.run('use', 'prod.web')).code, 0);
      const inWeb = await kubectl(ws, ['get', 'pods']);
      assert.equal(inWeb.code, 0, inWeb.stderr);
      assert.match(inWeb.stdout, /web-1/);
      const exec = await kubectl(ws, ['exec', 'web-1', '--', 'id']);
      assert.equal(exec.code, 0, exec.stderr);
      assert.match(exec.stdout, /alice@example.com/);
      const elsewhere = await kubectl(ws, ['get', 'pods', '-n', 'default']);
      assert.notEqual(elsewhere.code, 0);
      assert.match(elsewhere.stderr, /forbidden/);
      assert.equal((await ws.run('use', 'prod')).code, 0);
    });

    it('ignores --as and --as-group: nobody escalates through the proxy', async () => {
      const res = await kubectl(ws, [
        'get',
        'pods',
        '-n',
        'default',
        '--as',
        'kubernetes-admin',
        '--as-group',
        'system:masters',
      ]);
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /forbidden: User "alice@example.com"/);
      const seen = cluster.kube.requests.filter(
        (r) =>
          r.authenticatedAs === CONNECTOR_SA && r.impersonation.groups.includes('system:masters'),
      );
      assert.deepEqual(seen, []);
    });

    it('refuses tokens for another destination, expired, unsigned, HS512 or signed by another key', async () => {
      await cluster.admin.createGrant({ user: alice.id, privilege: 'view', resource: 'staging' });
      const real = await alice.client.createToken({ destination: 'prod' });
      const [header, payload] = real.token.split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      const forStaging = (await alice.client.createToken({ destination: 'staging' })).token;
      clock.advance(-10 * 60_000);
      const expired = (await alice.client.createToken({ destination: 'prod' })).token;
      clock.advance(10 * 60_000);
      const stranger = await generateKeyPair('ES512');
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
      const otherKey = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES512', kid })
        .sign(stranger.privateKey);
      const none = new UnsecuredJWT(claims).encode();
      const jwks = JSON.stringify((await cluster.admin.getJwks()).keys[0]);
      const hs512 = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS512', kid })
        .sign(new TextEncoder().encode(jwks));
      for (const [name, token] of Object.entries({
        forStaging,
        expired,
        otherKey,
        none,
        hs512,
        garbage: 'not-a-token',
      })) {
        const file = path.join(ws.home, `kubeconfig-${name}`);
        const prod = (await cluster.admin.listDestinations({ name: 'prod' })).items[0]!;
        writeFileSync(
          file,
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              {
                name: 'prod',
                cluster: {
                  server: prod.connection.url,
                  'certificate-authority-data': Buffer.from(prod.connection.ca).toString('base64'),
                },
              },
            ],
            users: [{ name: 'u', user: { token } }],
            contexts: [{ name: 'c', context: { cluster: 'prod', user: 'u' } }],
            'current-context': 'c',
          }),
        );
        const res = await kubectl(ws, ['get', 'pods'], { kubeconfig: file });
        assert.notEqual(res.code, 0, name);
        assert.match(
          res.stderr,
          /Unauthorized|must be logged in|infra login/,
          `${name}: ${res.stderr}`,
        );
      }
    });

    it('streams watches and execs, and ends them the moment access goes', async () => {
      const grant = await cluster.admin.createGrant({
        group: devsId,
        privilege: 'edit',
        resource: 'prod',
      });
      await cluster.connectorCaughtUp();
      const watch = kubectlStream(ws, ['get', 'pods', '-n', 'default', '--watch']);
      for (let i = 0; i < 400 && !/app-1/.test(watch.output()); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.match(watch.output(), /app-1/);
      cluster.kube.addPod('default', 'app-2');
      for (let i = 0; i < 400 && !/app-2/.test(watch.output()); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.match(watch.output(), /app-2/, 'the watch streams new events');
      const exec = kubectlStream(ws, ['exec', '-i', 'app-1', '--', 'cat']);
      await cluster.kube.waitForRequest((r) => /\/exec\?/.test(r.url) && r.status === 101);

      // Removing alice from the group takes away her edit grant (and her only other grants are
      // connect, staging and a namespace): both streams end.
      await cluster.admin.updateGroupUsers({ id: devsId, usersToRemove: [alice.id] });
      assert.notEqual(await watch.exited, null);
      assert.notEqual(await exec.exited, null);
      await cluster.connectorCaughtUp();
      const denied = await kubectl(ws, ['get', 'pods', '-n', 'default']);
      assert.notEqual(denied.code, 0);
      await cluster.admin.updateGroupUsers({ id: devsId, usersToAdd: [alice.id] });
      await cluster.connectorCaughtUp();
      assert.equal((await kubectl(ws, ['get', 'pods', '-n', 'default'])).code, 0);
      await cluster.admin.deleteGrant({ id: grant.id });
      await cluster.connectorCaughtUp();
      assert.notEqual(
        (await kubectl(ws, ['get', 'pods', '-n', 'default'])).code,
        0,
        'revoking the grant denies at once',
      );
    });

    it('refuses a logged-out session and a deleted user at once, saying to log in or that the user is gone', async () => {
      const bob = await createSignedInUser(cluster.server, cluster.admin, 'bob@example.com');
      await cluster.admin.createGrant({ user: bob.id, privilege: 'view', resource: 'prod' });
      const bobWs = await userWorkstation(
        cluster,
        (await bob.client.createAccessKey({ expiry: '1h' })).accessKey,
      );
      await bobWs.run('use', 'prod');
      await cluster.connectorCaughtUp();
      assert.equal((await kubectl(bobWs, ['get', 'pods'])).code, 0);
      // A token minted before logout stays a valid JWT for minutes; the connector refuses it anyway.
      const cached = await kubectl(bobWs, ['get', 'pods']);
      assert.equal(cached.code, 0);
      const state = JSON.parse(
        (await import('node:fs')).readFileSync(path.join(bobWs.home, '.infra', 'config'), 'utf8'),
      );
      await cluster.server.client({ accessKey: state.servers[0].session.accessKey }).logout();
      await cluster.connectorCaughtUp();
      const loggedOut = await kubectl(bobWs, ['get', 'pods']);
      assert.notEqual(loggedOut.code, 0);
      assert.match(loggedOut.stderr, /must be logged in|Unauthorized/);

      const carol = await createSignedInUser(cluster.server, cluster.admin, 'carol@example.com');
      await cluster.admin.createGrant({ user: carol.id, privilege: 'view', resource: 'prod' });
      const carolWs = await userWorkstation(
        cluster,
        (await carol.client.createAccessKey({ expiry: '1h' })).accessKey,
      );
      await carolWs.run('use', 'prod');
      await cluster.connectorCaughtUp();
      assert.equal((await kubectl(carolWs, ['get', 'pods'])).code, 0);
      await cluster.admin.deleteUser({ id: carol.id });
      await cluster.connectorCaughtUp();
      const deleted = await kubectl(carolWs, ['get', 'pods']);
      assert.notEqual(deleted.code, 0);
      // Not "run infra login": that cannot help someone whose user was removed.
      assert.match(deleted.stderr, /your Infra user was removed by an admin; ask an Infra admin/);
      // Once the cached token is gone, the credential plugin hears the same from the server.
      rmSync(tokenCacheFile(path.join(carolWs.home, '.infra')), { force: true });
      const uncached = await kubectl(carolWs, ['get', 'pods']);
      assert.notEqual(uncached.code, 0);
      assert.match(
        uncached.stderr,
        /Your Infra user was removed by an admin, so you cannot log in again/,
      );
      assert.doesNotMatch(uncached.stderr, /infra login/);
    });

    it('closes the open watches and execs of a session that ended and of a deleted user', async () => {
      const open = async (name: string) => {
        const u = await createSignedInUser(cluster.server, cluster.admin, name);
        await cluster.admin.createGrant({ user: u.id, privilege: 'edit', resource: 'prod' });
        const w = await userWorkstation(
          cluster,
          (await u.client.createAccessKey({ expiry: '1h' })).accessKey,
        );
        assert.equal((await w.run('use', 'prod')).code, 0);
        await cluster.connectorCaughtUp();
        const watch = kubectlStream(w, ['get', 'pods', '-n', 'default', '--watch']);
        const exec = kubectlStream(w, ['exec', '-i', 'app-1', '--', 'cat']);
        await cluster.kube.waitForRequest(
          (r) => /\/exec\?/.test(r.url) && r.status === 101 && r.impersonation.user === name,
        );
        for (let i = 0; i < 400 && !/app-1/.test(watch.output()); i++)
          await new Promise((r) => setTimeout(r, 25));
        assert.match(watch.output(), /app-1/);
        let ended = 0;
        for (const s of [watch, exec]) void s.exited.then(() => ended++);
        return { u, w, watch, exec, ended: () => ended };
      };
      /** Waits (20 s at most) until both streams of `who` have ended. */
      const bothEnd = async (who: Awaited<ReturnType<typeof open>>, why: string) => {
        for (let i = 0; i < 800 && who.ended() < 2; i++)
          await new Promise((r) => setTimeout(r, 25));
        assert.equal(who.ended(), 2, `the watch and the exec end when ${why}`);
      };
      const gina = await open('gina@example.com');
      const hank = await open('hank@example.com');

      // gina's CLI session (the one her tokens name) ends: her streams close, hank's stay.
      const state = JSON.parse(
        (await import('node:fs')).readFileSync(path.join(gina.w.home, '.infra', 'config'), 'utf8'),
      );
      await cluster.server.client({ accessKey: state.servers[0].session.accessKey }).logout();
      await bothEnd(gina, 'the session ends');
      assert.equal(hank.ended(), 0, "another user's streams stay open");

      await cluster.admin.deleteUser({ id: hank.u.id });
      await bothEnd(hank, 'the user is deleted');
    });

    it('serves a user whose groups have names outside Latin-1, sending them as UTF-8', async () => {
      const dave = await createSignedInUser(cluster.server, cluster.admin, 'dave@example.com');
      // NFC `é` is one Latin-1 byte; 運用 has no Latin-1 form at all.
      for (const [name, privilege, resource] of [
        ['運用', 'view', 'prod'],
        ['e\u0301quipe-ops', 'exec', 'prod.web'],
      ] as const) {
        const group = await cluster.admin.createGroup({ name });
        await cluster.admin.updateGroupUsers({ id: group.id, usersToAdd: [dave.id] });
        await cluster.admin.createGrant({ group: group.id, privilege, resource });
      }
      const daveWs = await userWorkstation(
        cluster,
        (await dave.client.createAccessKey({ expiry: '1h' })).accessKey,
      );
      assert.equal((await daveWs.run('use', 'prod')).code, 0);
      await cluster.connectorCaughtUp();
      const view = cluster.kube.clusterRoleBindings().find((b) => b.metadata.name === 'infra:view');
      assert.ok(
        (view as unknown as { subjects: Array<{ name: string }> }).subjects.some(
          (s) => s.name === '運用',
        ),
      );

      const pods = await kubectl(daveWs, ['get', 'pods', '-n', 'default']);
      assert.equal(pods.code, 0, pods.stderr);
      assert.match(pods.stdout, /app-1/);
      // exec is an upgraded connection: its headers are written by hand.
      const exec = await kubectl(daveWs, ['exec', '-n', 'web', 'web-1', '--', 'id']);
      assert.equal(exec.code, 0, exec.stderr);
      assert.match(exec.stdout, /^fake exec as dave@example.com groups=.*"équipe-ops"/);
      assert.match(exec.stdout, /^fake exec as dave@example.com groups=.*"運用"/);
      const seen = cluster.kube.requests.filter((r) => r.impersonation.user === 'dave@example.com');
      assert.ok(seen.length > 0);
      for (const r of seen)
        assert.deepEqual([...r.impersonation.groups].sort(), ['équipe-ops', '運用']);
    });

    it('closes open watches when a grant goes, though another grant remains, after RBAC', async () => {
      const erin = await createSignedInUser(cluster.server, cluster.admin, 'erin@example.com');
      const frank = await createSignedInUser(cluster.server, cluster.admin, 'frank@example.com');
      const view = await cluster.admin.createGrant({
        user: erin.id,
        privilege: 'view',
        resource: 'prod',
      });
      await cluster.admin.createGrant({ user: erin.id, privilege: 'edit', resource: 'prod.web' });
      await cluster.admin.createGrant({ user: frank.id, privilege: 'view', resource: 'prod' });
      const workstationOf = async (u: SignedIn) =>
        userWorkstation(cluster, (await u.client.createAccessKey({ expiry: '1h' })).accessKey);
      const erinWs = await workstationOf(erin);
      const frankWs = await workstationOf(frank);
      for (const w of [erinWs, frankWs]) assert.equal((await w.run('use', 'prod')).code, 0);
      await cluster.connectorCaughtUp();
      const erinWatch = kubectlStream(erinWs, ['get', 'pods', '-n', 'default', '--watch']);
      const frankWatch = kubectlStream(frankWs, ['get', 'pods', '-n', 'default', '--watch']);
      let erinEnded = false;
      void erinWatch.exited.then(() => (erinEnded = true));
      const until = async (what: () => boolean) => {
        for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
        assert.ok(what());
      };
      await until(() => /app-1/.test(erinWatch.output()) && /app-1/.test(frankWatch.output()));

      await cluster.admin.deleteGrant({ id: view.id });
      await until(() => erinEnded);
      // Closed only once the binding was gone, so a reconnecting watch is refused.
      const binding = cluster.kube
        .clusterRoleBindings()
        .find((b) => b.metadata.name === 'infra:view');
      assert.ok(
        !(binding as unknown as { subjects: Array<{ name: string }> }).subjects.some(
          (s) => s.name === 'erin@example.com',
        ),
      );
      const again = await kubectl(erinWs, ['get', 'pods', '-n', 'default', '--watch']);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /forbidden: User "erin@example.com" cannot (list|watch)/);
      assert.equal((await kubectl(erinWs, ['get', 'pods', '-n', 'web'])).code, 0);

      // frank's watch was not affected: it streams what comes next.
      cluster.kube.addPod('default', 'app-after-revoke');
      await until(() => /app-after-revoke/.test(frankWatch.output()));
      frankWatch.child.kill();
      await frankWatch.exited;
    });

    it('keeps the last access while the server is away, and removes bindings it made', async () => {
      const bindings = () =>
        cluster.kube
          .clusterRoleBindings()
          .filter((b) => b.metadata.labels?.['app.kubernetes.io/managed-by'] === 'infra');
      assert.ok(bindings().length > 0);
      const foreign = {
        metadata: { name: 'someone-elses', labels: { team: 'x' } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [],
      };
      cluster.kube.seed('clusterrolebindings.rbac.authorization.k8s.io', foreign as never);
      for (const g of (await cluster.admin.listGrants({ destination: 'prod', limit: 1000 }))
        .items) {
        if (g.managedBy === 'api') await cluster.admin.deleteGrant({ id: g.id });
      }
      await cluster.connectorCaughtUp();
      assert.deepEqual(bindings(), []);
      assert.ok(
        cluster.kube.clusterRoleBindings().some((b) => b.metadata.name === 'someone-elses'),
        'never touches what it did not make',
      );
    });
  });
}
