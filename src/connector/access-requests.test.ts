import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl, startCluster, userWorkstation, type Cluster } from '../../test/cluster.js';
import { engines } from '../../test/engines.js';
import { createSignedInUser, type SignedIn } from '../../test/identity.js';

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const engine of engines) {
  describe(`temporary access through the connector [${engine}]`, () => {
    let cluster: Cluster;
    let bob: SignedIn;
    let rita: SignedIn;

    before(async () => {
      cluster = await startCluster(engine);
      const { admin, server } = cluster;
      bob = await createSignedInUser(server, admin, 'bob@example.com');
      rita = await createSignedInUser(server, admin, 'rita@example.com');
      await admin.createRequestPolicy({
        name: 'prod-web',
        roles: ['edit'],
        resources: ['prod.web'],
        requesters: { users: ['bob@example.com'], groups: [] },
        approvers: { users: ['rita@example.com'], groups: [] },
      });
    });
    after(() => cluster.close());

    it('lets kubectl work while the approved window lasts, and not after', async () => {
      const key = (await bob.client.createAccessKey({ expiry: '1h' })).accessKey;
      // A short window keeps the test short; on a machine too busy to run kubectl within it,
      // the same again with a longer one.
      for (const seconds of [4, 12, 30]) {
        const request = await bob.client.createAccessRequest({
          role: 'edit',
          resource: 'prod.web',
          duration: `${seconds}s`,
          reason: 'INC-123',
        });
        const approved = await rita.client.reviewAccessRequest({
          id: request.id,
          decision: 'approve',
        });
        const ends = Date.parse(approved.accessExpires!);
        await cluster.connectorCaughtUp();

        // `infra login` says where the request stands, and writes the context for the cluster.
        const ws = await userWorkstation(cluster, key);
        const login = await ws.run('login', new URL(cluster.server.url).host, '--key', key);
        assert.match(login.stderr, /Your request for edit on prod\.web was approved: access for/);
        assert.equal((await ws.run('use', 'prod.web')).code, 0);
        const during = await kubectl(ws, ['get', 'pods']);
        const late = Date.now() >= ends;

        // At the expiry a timer removes the grant (the periodic sweep runs every 30 s): the
        // connector drops bob and his binding. A generous deadline, far below the sweep's.
        const gone = await eventually(
          () =>
            Date.now() >= ends &&
            cluster.connector.state()?.users.get(bob.id) === undefined &&
            !cluster.kube.roleBindings('web').some((b) => b.metadata.name === 'infra:edit'),
          ends - Date.now() + 10_000,
        );
        assert.ok(gone, `bob still had access ${Date.now() - ends} ms after the expiry`);
        if (during.code !== 0 && late) continue;
        assert.equal(during.code, 0, during.stderr);
        assert.match(during.stdout, /web-1/);
        const after = await kubectl(ws, ['get', 'pods']);
        assert.notEqual(after.code, 0);
        const audit = await cluster.admin.listAudit({ action: 'expireGrant' });
        assert.deepEqual(
          audit.items.filter((e) => e.target.id === approved.grant).map((e) => e.details.request),
          [request.id],
        );
        return;
      }
      assert.fail('kubectl never ran within the window, even the longest');
    });
  });
}
