import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { engines, openTestDb } from '../../../test/engines.js';
import { systemClock } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import { createLogger } from '../../shared/logger.js';
import { createAccessRequest, getAccessRequest } from '../data/access-requests.js';
import { listAudit } from '../data/audit.js';
import type { OpenDb } from '../data/db.js';
import { createGrant, listGrants } from '../data/grants.js';
import { createRequestPolicy } from '../data/request-policies.js';
import { createUser } from '../data/users.js';
import { ChangeNotifier } from './changes.js';
import { GrantExpiry } from './grant-expiry.js';
import { RequestExpiry, expireDueRequests } from './request-expiry.js';

const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

for (const engine of engines) {
  describe(`grant expiry [${engine}]`, () => {
    let database: OpenDb;
    let userId: string;
    before(async () => {
      database = await openTestDb(engine);
      userId = (
        await createUser(database.db, {
          id: newId('user'),
          name: 'temp@example.com',
          managedBy: 'api',
          now: Date.now(),
        })
      ).id;
    });
    after(() => database.close());

    const grant = (privilege: string, expiresAt: number) =>
      createGrant(database.db, {
        id: newId('grant'),
        subject: { kind: 'user', id: userId },
        privilege,
        resource: 'prod',
        expiresAt,
        managedBy: 'api',
        createdBy: null,
        now: Date.now(),
      });
    const privileges = async () =>
      (await listGrants(database.db, { activeAt: 0, limit: 100 })).items.map((g) => g.privilege);

    it('removes each grant at its expiry, those made before start and those scheduled since', async () => {
      const db = database.db;
      await grant('before-start', Date.now() + 300);
      await grant('far', Date.now() + 3_600_000);
      const changes = new ChangeNotifier({ db, log: quiet });
      await changes.start();
      const expiry = new GrantExpiry({ db, clock: systemClock, log: quiet, changes });
      expiry.start();
      try {
        assert.ok(
          await until(async () => !(await privileges()).includes('before-start'), 5000),
          'the grant due at start was not removed',
        );
        const at = Date.now() + 300;
        await grant('scheduled', at);
        expiry.schedule(at);
        assert.ok(
          await until(async () => !(await privileges()).includes('scheduled'), 5000),
          'the scheduled grant was not removed',
        );
        assert.deepEqual(await privileges(), ['far']);
        const audit = await listAudit(db, { byAction: 'expireGrant', limit: 10 });
        assert.deepEqual(audit.items.map((e) => [e.actorName, e.targetName]).sort(), [
          ['server', 'user temp@example.com: before-start on prod'],
          ['server', 'user temp@example.com: scheduled on prod'],
        ]);
      } finally {
        expiry.stop();
        changes.close();
      }
    });

    /** A policy, and a request under it pending until `expiresAt`. */
    async function pendingRequest(expiresAt: number): Promise<string> {
      const db = database.db;
      const now = Date.now();
      const policyId = newId('requestPolicy', now);
      await createRequestPolicy(db, {
        id: policyId,
        name: `p-${policyId}`,
        roles: ['edit'],
        resources: ['prod'],
        requesters: { users: ['temp@example.com'], groups: [] },
        approvers: { users: [], groups: ['sre'] },
        approvalsRequired: 2,
        maxDuration: 3_600_000,
        pendingExpiry: 3_600_000,
        reasonRequired: false,
        managedBy: 'api',
        createdAt: now,
        updatedAt: now,
      });
      const id = newId('accessRequest', now);
      await createAccessRequest(db, {
        id,
        userId,
        policyId,
        privilege: 'edit',
        resource: 'prod',
        duration: 60_000,
        reason: '',
        createdAt: now,
        expiresAt,
      });
      return id;
    }
    const expiryAudit = async (id: string) =>
      (await listAudit(database.db, { byTargetId: id, limit: 10 })).items.map((e) => [
        e.action,
        e.actorName,
        e.targetName,
      ]);

    it('expires each pending request at its deadline, with its audit entry and webhook event', async () => {
      const db = database.db;
      const sent: Array<{ event: string; data: { id: string; state: string } }> = [];
      const webhook = {
        send: (event: string, data: unknown) =>
          sent.push({ event, data: data as { id: string; state: string } }),
      };
      const early = await pendingRequest(Date.now() + 300);
      const far = await pendingRequest(Date.now() + 3_600_000);
      const expiry = new RequestExpiry({ db, clock: systemClock, log: quiet, webhook });
      expiry.start();
      try {
        const state = async (id: string) => (await getAccessRequest(db, id)).state;
        assert.ok(
          await until(async () => (await state(early)) === 'expired', 5000),
          'the request made before start did not expire',
        );
        const at = Date.now() + 300;
        const scheduled = await pendingRequest(at);
        expiry.schedule(at);
        assert.ok(
          await until(async () => (await state(scheduled)) === 'expired', 5000),
          'the scheduled request did not expire',
        );
        assert.equal(await state(far), 'pending');
        for (const id of [early, scheduled])
          assert.deepEqual(await expiryAudit(id), [
            ['expireAccessRequest', 'server', 'temp@example.com: edit on prod'],
          ]);
        assert.deepEqual(
          sent.map((s) => [s.event, s.data.id, s.data.state]),
          [
            ['access_request.expired', early, 'expired'],
            ['access_request.expired', scheduled, 'expired'],
          ],
        );
      } finally {
        expiry.stop();
      }
    });

    it('records and announces an expiry once when replicas race for it', async () => {
      const db = database.db;
      const sent: string[] = [];
      const webhook = { send: (event: string) => sent.push(event) };
      const due = [await pendingRequest(Date.now() - 1), await pendingRequest(Date.now() - 1)];
      const now = Date.now();
      const counts = await Promise.all([
        expireDueRequests(db, now, webhook),
        expireDueRequests(db, now, webhook),
        expireDueRequests(db, now, webhook),
      ]);
      assert.equal(
        counts.reduce((a, b) => a + b),
        2,
      );
      assert.deepEqual(sent, ['access_request.expired', 'access_request.expired']);
      for (const id of due) {
        assert.equal((await getAccessRequest(db, id)).state, 'expired');
        assert.equal((await expiryAudit(id)).length, 1);
      }
    });
  });
}
