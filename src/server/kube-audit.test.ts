import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import type { KubeEventInput } from '../api/kube-audit.js';
import { engines } from '../../test/engines.js';
import { createSignedInUser, startAdminServer, type SignedIn } from '../../test/identity.js';
import type { TestServer } from '../../test/server.js';
import { openDb } from './data/db.js';
import { removeOldKubeAudit } from './data/kube-audit.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

function event(
  user: SignedIn,
  overrides: Partial<KubeEventInput> & { at?: number } = {},
): KubeEventInput {
  const { at = T0, ...rest } = overrides;
  const time = new Date(at).toISOString().replace('Z', '000Z');
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/web/pods',
    verb: 'list',
    user: { username: user.name, uid: user.id, groups: [] },
    impersonatedUser: { username: user.name, groups: [] },
    sourceIPs: ['10.0.0.1'],
    userAgent: 'kubectl/v1.32.4',
    objectRef: { resource: 'pods', namespace: 'web', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: time,
    stageTimestamp: time,
    ...rest,
  };
}

async function refusal(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
  return 0;
}

for (const engine of engines) {
  describe(`Kubernetes audit API [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let connector: ApiClient;
    let alice: SignedIn;
    let bob: SignedIn;
    let auditor: SignedIn;
    const exportFile = path.join(mkdtempSync(path.join(tmpdir(), 'infra-export-')), 'kube.jsonl');

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, {
        settings: { 'kubeAudit.export': exportFile },
      }));
      alice = await createSignedInUser(server, admin, 'alice@example.com');
      bob = await createSignedInUser(server, admin, 'bob@example.com');
      auditor = await createSignedInUser(server, admin, 'auditor@example.com');
      await admin.createGrant({ user: auditor.id, privilege: 'auditor', resource: 'infra' });
      const [connectorUser] = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items;
      const key = await admin.createAccessKey({
        userID: connectorUser!.id,
        destination: 'prod',
        expiry: '1h',
      });
      connector = server.client({ accessKey: key.accessKey });
    });
    after(() => server.close());

    it('keeps each event once however often it is delivered, and exports it once', async () => {
      const batch = [
        event(alice, { at: T0 + 1 }),
        event(alice, {
          at: T0 + 2,
          verb: 'delete',
          requestURI: '/api/v1/namespaces/web/pods/web-1',
          objectRef: { resource: 'pods', namespace: 'web', name: 'web-1', apiVersion: 'v1' },
        }),
        event(bob, {
          at: T0 + 3,
          requestURI: '/api/v1/namespaces/default/secrets',
          objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' },
          responseStatus: { metadata: {}, code: 403 },
        }),
      ];
      assert.deepEqual(await connector.createKubeEvents({ destination: 'prod', events: batch }), {
        accepted: 3,
        duplicates: 0,
      });
      // The answer was lost, say: the connector sends the batch again.
      assert.deepEqual(await connector.createKubeEvents({ destination: 'prod', events: batch }), {
        accepted: 0,
        duplicates: 3,
      });
      const all = await admin.listKubeEvents({});
      assert.deepEqual(
        all.items.map((e) => e.auditID),
        batch.map((e) => e.auditID).reverse(),
      );
      assert.deepEqual(all.items[2], { ...batch[0], destination: 'prod' });
      const exported = readFileSync(exportFile, 'utf8').trimEnd().split('\n');
      assert.deepEqual(
        exported.map((l) => (JSON.parse(l) as { auditID: string }).auditID),
        batch.map((e) => e.auditID),
      );
    });

    it('filters by user, destination, namespace, verb, resource, status and time, and pages', async () => {
      const ids = async (input: Parameters<ApiClient['listKubeEvents']>[0]) =>
        (await admin.listKubeEvents(input)).items.map((e) => e.user.username + ' ' + e.verb);
      assert.deepEqual(await ids({ user: bob.id }), ['bob@example.com list']);
      // A name search: part of the name, any case; `%` and `_` are literal.
      assert.deepEqual(await ids({ userName: 'BOB@' }), ['bob@example.com list']);
      assert.deepEqual(await ids({ userName: 'b%b' }), []);
      assert.deepEqual(await ids({ status: 403 }), ['bob@example.com list']);
      assert.deepEqual(await ids({ verb: 'delete' }), ['alice@example.com delete']);
      assert.deepEqual(await ids({ namespace: 'default', resource: 'secrets' }), [
        'bob@example.com list',
      ]);
      assert.deepEqual(await ids({ destination: 'staging' }), []);
      assert.deepEqual(
        await ids({
          since: new Date(T0 + 2).toISOString(),
          until: new Date(T0 + 3).toISOString(),
        }),
        ['alice@example.com delete'],
      );
      const first = await admin.listKubeEvents({ limit: 2 });
      assert.equal(first.items.length, 2);
      assert.ok(first.next);
      const second = await admin.listKubeEvents({ limit: 2, after: first.next });
      assert.deepEqual(
        second.items.map((e) => e.verb),
        ['list'],
      );
      assert.equal(second.next, undefined);
      assert.equal(await refusal(admin.listKubeEvents({ after: 'bm90LW91cnM' })), 400);
    });

    it('shows users their own requests only; auditors and admins everyone’s', async () => {
      const own = await alice.client.listKubeEvents({});
      assert.deepEqual(new Set(own.items.map((e) => e.user.username)), new Set([alice.name]));
      assert.equal(own.items.length, 2);
      assert.equal(await refusal(alice.client.listKubeEvents({ user: bob.id })), 403);
      assert.equal((await auditor.client.listKubeEvents({})).items.length, 3);
      // Auditing is all the role gives.
      assert.equal(await refusal(auditor.client.listUsers({})), 403);
      assert.ok((await auditor.client.listAudit({})).items.length > 0);
    });

    it('refuses events from a connector key of another destination, and from users', async () => {
      const e = event(alice);
      assert.equal(
        await refusal(connector.createKubeEvents({ destination: 'staging', events: [e] })),
        403,
      );
      assert.equal(
        await refusal(alice.client.createKubeEvents({ destination: 'prod', events: [e] })),
        403,
      );
      assert.equal(
        await refusal(admin.createKubeEvents({ destination: 'prod', events: [e] })),
        403,
      );
    });

    it('stores a recording sealed, joins its chunks in order, and completes it', async () => {
      const id = randomUUID();
      const recording = {
        user: { username: alice.name, uid: alice.id },
        namespace: 'web',
        pod: 'web-1',
        container: 'main',
        command: ['sh'],
        subresource: 'exec' as const,
        stdinRecorded: false,
        startedAt: new Date(T0).toISOString(),
      };
      const header = '{"version":2,"width":80,"height":24}\n';
      const secret = 'password=hunter2-at-rest';
      // The second chunk arrives first, and the first twice.
      await connector.createKubeRecordingChunk({
        destination: 'prod',
        id,
        seq: 1,
        data: `[1.5,"o","${secret}\\r\\n"]\n`,
        recording: { ...recording, endedAt: new Date(T0 + 2000).toISOString(), exitCode: 3 },
      });
      for (let i = 0; i < 2; i++) {
        await connector.createKubeRecordingChunk({
          destination: 'prod',
          id,
          seq: 0,
          data: `${header}[0.1,"o","$ "]\n`,
          recording,
        });
      }
      // Another destination's connector, knowing the id, can neither add to it nor end it.
      const [connectorUser] = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items;
      const staging = server.client({
        accessKey: (
          await admin.createAccessKey({
            userID: connectorUser!.id,
            destination: 'staging',
            expiry: '1h',
          })
        ).accessKey,
      });
      const forged = staging.createKubeRecordingChunk({
        destination: 'staging',
        id,
        seq: 2,
        data: '[1.9,"o","forged"]\n',
        recording: { ...recording, endedAt: new Date(T0 + 9000).toISOString(), exitCode: 0 },
      });
      assert.equal(await refusal(forged), 403);
      const got = await admin.getKubeRecording({ id });
      assert.equal(got.cast, `${header}[0.1,"o","$ "]\n[1.5,"o","${secret}\\r\\n"]\n`);
      assert.equal(got.exitCode, 3);
      assert.equal(got.endedAt, new Date(T0 + 2000).toISOString());
      assert.deepEqual(
        (await alice.client.listKubeRecordings({})).items.map((r) => r.id),
        [id],
      );
      assert.equal((await bob.client.listKubeRecordings({})).items.length, 0);
      assert.deepEqual(
        (await admin.listKubeRecordings({ userName: 'Alice' })).items.map((r) => r.id),
        [id],
      );
      assert.equal((await admin.listKubeRecordings({ userName: 'bob' })).items.length, 0);
      assert.equal(await refusal(bob.client.getKubeRecording({ id })), 403);
      assert.equal((await auditor.client.getKubeRecording({ id })).cast, got.cast);
      assert.equal(await refusal(admin.getKubeRecording({ id: randomUUID() })), 404);

      const database = await openDb(server.config.db);
      try {
        const rows = await database.db
          .selectFrom('kubeRecordingChunks')
          .select('data')
          .where('recordingId', '=', id)
          .execute();
        assert.equal(rows.length, 2);
        for (const r of rows) {
          assert.match(r.data, /^v1:/);
          assert.ok(!r.data.includes('hunter2'));
        }
        // Past the retention, events and recordings go; newer ones stay.
        const removed = await removeOldKubeAudit(database.db, T0 + 2);
        assert.deepEqual(removed, { events: 1, recordings: 1 });
        assert.equal((await admin.listKubeRecordings({})).items.length, 0);
        assert.equal((await admin.listKubeEvents({})).items.length, 2);
      } finally {
        await database.close();
      }
    });
  });
}
