import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { createSignedInUser, startAdminServer, type SignedIn } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';

const POLICY = {
  roles: ['edit', 'view'],
  resources: ['prod.*'],
  requesters: { users: [], groups: ['devs'] },
  approvers: { users: ['rita@example.com'], groups: ['sre'] },
};

for (const engine of engines) {
  describe(`access requests [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let dev: SignedIn;
    let dev2: SignedIn;
    let rita: SignedIn;
    let sam: SignedIn;
    let outsider: SignedIn;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine, { clock }));
      dev = await createSignedInUser(server, admin, 'dev@example.com');
      dev2 = await createSignedInUser(server, admin, 'dev2@example.com');
      rita = await createSignedInUser(server, admin, 'rita@example.com');
      sam = await createSignedInUser(server, admin, 'sam@example.com');
      outsider = await createSignedInUser(server, admin, 'outsider@example.com');
      const devs = await admin.createGroup({ name: 'devs' });
      const sre = await admin.createGroup({ name: 'sre' });
      // dev2 is both a requester and an approver: they still never approve their own.
      await admin.updateGroupUsers({ id: devs.id, usersToAdd: [dev.id, dev2.id] });
      await admin.updateGroupUsers({ id: sre.id, usersToAdd: [sam.id, dev2.id] });
      await admin.createRequestPolicy({ name: 'prod-edit', ...POLICY, maxDuration: '2h' });
      await admin.createRequestPolicy({
        name: 'prod-admin',
        roles: ['admin'],
        resources: ['prod', 'prod.*'],
        requesters: { users: [], groups: ['devs'] },
        approvers: { users: ['rita@example.com'], groups: ['sre'] },
        approvalsRequired: 2,
        reasonRequired: true,
      });
    });
    after(() => server.close());

    const auditActions = async (target: string) =>
      (await admin.listAudit({ target })).items.map((e) => [e.action, e.result, e.actor.name]);

    it('checks requests against the policies', async () => {
      const refusal = async (p: Promise<unknown>) =>
        p.then(
          () => assert.fail('expected a refusal'),
          (err: { status: number; message: string }) => [err.status, err.message],
        );
      assert.deepEqual(
        await refusal(outsider.client.createAccessRequest({ role: 'edit', resource: 'prod.web' })),
        [403, 'no request policy lets you ask for edit on prod.web; ask an Infra admin'],
      );
      assert.deepEqual(
        await refusal(dev.client.createAccessRequest({ role: 'edit', resource: 'prod' })),
        [403, 'no request policy lets you ask for edit on prod; ask an Infra admin'],
      );
      assert.deepEqual(
        await refusal(
          dev.client.createAccessRequest({ role: 'edit', resource: 'prod.web', duration: '3h' }),
        ),
        [400, 'validation failed: duration: must be at most 2h (policy prod-edit)'],
      );
      assert.deepEqual(
        await refusal(dev.client.createAccessRequest({ role: 'admin', resource: 'prod' })),
        [400, 'validation failed: reason: is required by policy prod-admin'],
      );
      // Policies are for admins to write; users see those that concern them.
      await assert.rejects(dev.client.createRequestPolicy({ name: 'mine', ...POLICY }), {
        status: 403,
      });
      assert.deepEqual(
        (await outsider.client.listRequestPolicies()).items.map((p) => p.name),
        [],
      );
      assert.deepEqual(
        (await dev.client.listRequestPolicies()).items.map((p) => p.name),
        ['prod-admin', 'prod-edit'],
      );
    });

    it('never lets requesters approve their own request, and lets approvers approve', async () => {
      const r = await dev2.client.createAccessRequest({
        role: 'edit',
        resource: 'prod.web',
        duration: '1h',
        reason: 'INC-1',
      });
      assert.equal(r.state, 'pending');
      assert.equal(r.canReview, false);
      await assert.rejects(dev2.client.reviewAccessRequest({ id: r.id, decision: 'approve' }), {
        status: 403,
        message: 'you do not have permission to review your own access request',
      });
      // Not even an admin approves unless a policy names them (their grants are another matter).
      await assert.rejects(admin.reviewAccessRequest({ id: r.id, decision: 'approve' }), {
        status: 403,
      });
      await assert.rejects(outsider.client.reviewAccessRequest({ id: r.id, decision: 'approve' }), {
        status: 403,
      });
      const waiting = await sam.client.listAccessRequests({ toReview: 'true' });
      assert.deepEqual([waiting.pendingToReview, waiting.items.map((i) => i.id)], [1, [r.id]]);
      assert.equal((await dev2.client.listAccessRequests({ toReview: 'true' })).pendingToReview, 0);

      const approved = await sam.client.reviewAccessRequest({
        id: r.id,
        decision: 'approve',
        comment: 'ok',
      });
      assert.equal(approved.state, 'approved');
      assert.equal(Date.parse(approved.accessExpires!) - Date.parse(approved.decided!), 3_600_000);
      const grants = await dev2.client.listGrants({ user: 'self' });
      assert.deepEqual(
        grants.items.map((g) => [g.privilege, g.resource, g.expiresAt, g.request]),
        [['edit', 'prod.web', approved.accessExpires, r.id]],
      );
      await assert.rejects(sam.client.reviewAccessRequest({ id: r.id, decision: 'deny' }), {
        status: 409,
      });
      assert.deepEqual(await auditActions(r.id), [
        ['reviewAccessRequest', 'success', 'sam@example.com'],
        ['reviewAccessRequest', 'denied', 'outsider@example.com'],
        ['reviewAccessRequest', 'denied', 'admin@example.com'],
        ['reviewAccessRequest', 'denied', 'dev2@example.com'],
        ['createAccessRequest', 'success', 'dev2@example.com'],
      ]);
    });

    it('needs as many approvals as the policy says; one denial decides', async () => {
      const r = await dev.client.createAccessRequest({
        role: 'admin',
        resource: 'prod.web',
        reason: 'migration',
      });
      const once = await rita.client.reviewAccessRequest({ id: r.id, decision: 'approve' });
      assert.deepEqual(
        [once.state, once.reviews.length, once.approvalsRequired],
        ['pending', 1, 2],
      );
      await assert.rejects(rita.client.reviewAccessRequest({ id: r.id, decision: 'approve' }), {
        status: 409,
        message: 'you already reviewed this access request',
      });
      assert.equal((await dev.client.listGrants({ user: 'self' })).items.length, 0);
      const twice = await sam.client.reviewAccessRequest({ id: r.id, decision: 'approve' });
      assert.equal(twice.state, 'approved');
      assert.deepEqual(
        (await dev.client.listGrants({ user: 'self' })).items.map((g) => g.privilege),
        ['admin'],
      );

      const denied = await dev.client.createAccessRequest({
        role: 'view',
        resource: 'prod.db',
      });
      const d = await rita.client.reviewAccessRequest({
        id: denied.id,
        decision: 'deny',
        comment: 'not now',
      });
      assert.equal(d.state, 'denied');
      assert.deepEqual(
        (await dev.client.listGrants({ user: 'self' })).items.map((g) => g.resource),
        ['prod.web'],
      );
    });

    it('expires pending requests and ends the access approved ones gave', async () => {
      const pending = await dev.client.createAccessRequest({ role: 'edit', resource: 'prod.api' });
      const later = await dev.client.createAccessRequest({
        role: 'view',
        resource: 'prod.api',
        duration: '30m',
      });
      await rita.client.reviewAccessRequest({ id: later.id, decision: 'approve' });
      const hasApi = async () =>
        (await dev.client.explainAccess({ user: 'self', destination: 'prod.api' })).hasAccess;
      assert.equal(await hasApi(), true);
      clock.advance(30 * 60_000 + 1);
      assert.equal(await hasApi(), false, 'a temporary grant stops counting at its expiry');
      clock.advance(30 * 60_000);
      const mine = await dev.client.listAccessRequests({ mine: 'true', state: 'expired' });
      assert.deepEqual(
        mine.items.map((i) => i.id),
        [pending.id],
      );
      await assert.rejects(
        rita.client.reviewAccessRequest({ id: pending.id, decision: 'approve' }),
        {
          status: 410,
        },
      );
    });

    it('pages through every request waiting for a review, leaving out those seen', async () => {
      const pat = await createSignedInUser(server, admin, 'pat@example.com');
      await admin.createRequestPolicy({
        name: 'paged',
        roles: ['view'],
        resources: ['paged.*'],
        requesters: { users: [], groups: ['devs'] },
        approvers: { users: [pat.name], groups: [] },
        approvalsRequired: 2,
      });
      const ask = (who: SignedIn, ns: string) =>
        who.client.createAccessRequest({ role: 'view', resource: `paged.${ns}` });
      const seen = await ask(dev, 'a');
      const waiting = [
        (await ask(dev, 'b')).id,
        (await ask(dev2, 'c')).id,
        (await ask(dev, 'd')).id,
      ];
      await pat.client.reviewAccessRequest({ id: seen.id, decision: 'approve' });
      const first = await pat.client.listAccessRequests({ toReview: 'true', limit: 2 });
      assert.deepEqual(
        [first.count, first.totalCount, first.pendingToReview, first.next !== undefined],
        [2, 3, 3, true],
      );
      const second = await pat.client.listAccessRequests({
        toReview: 'true',
        limit: 2,
        after: first.next,
      });
      assert.deepEqual([second.count, second.next], [1, undefined]);
      const listed = [...first.items, ...second.items];
      assert.deepEqual(
        listed.map((r) => r.id),
        [...waiting].sort().reverse(),
        'newest (largest id) first, each once',
      );
      assert.ok(listed.every((r) => r.canReview));
      // Past its deadline a request leaves the list, and the count, even before it is marked.
      clock.advance(3_600_000);
      assert.deepEqual(
        (await pat.client.listAccessRequests({ toReview: 'true' })).pendingToReview,
        0,
      );
    });

    it('lets admins change a policy in place; its pending requests follow the new rules', async () => {
      const policy = await admin.createRequestPolicy({
        name: 'edited',
        roles: ['view'],
        resources: ['edited'],
        requesters: { users: [], groups: ['devs'] },
        approvers: { users: ['rita@example.com'], groups: [] },
      });
      const r = await dev.client.createAccessRequest({ role: 'view', resource: 'edited' });
      const rules = {
        roles: ['view', 'edit'],
        resources: ['edited', 'edited.*'],
        requesters: { users: [], groups: ['devs'] },
        approvers: { users: [], groups: ['sre'] },
        approvalsRequired: 1,
        maxDuration: '4h',
        pendingExpiry: '30m',
        reasonRequired: true,
      };
      // Every rule is checked as when adding; a refused change changes nothing.
      await assert.rejects(
        admin.updateRequestPolicy({
          id: policy.id,
          ...rules,
          approvers: { users: [], groups: [] },
        }),
        {
          status: 400,
          message: 'validation failed: approvers: name at least one approver',
        },
      );
      await assert.rejects(dev.client.updateRequestPolicy({ id: policy.id, ...rules }), {
        status: 403,
      });
      const updated = await admin.updateRequestPolicy({ id: policy.id, ...rules });
      assert.deepEqual(
        { ...updated, created: undefined, updated: undefined },
        {
          id: policy.id,
          name: 'edited',
          ...rules,
          managedBy: 'api',
          created: undefined,
          updated: undefined,
        },
      );
      assert.deepEqual(
        (await admin.listRequestPolicies()).items.filter((p) => p.name === 'edited'),
        [updated],
      );
      // Rita no longer approves under it; sam (sre) now does.
      await assert.rejects(rita.client.getAccessRequest({ id: r.id }), { status: 403 });
      await assert.rejects(rita.client.reviewAccessRequest({ id: r.id, decision: 'approve' }), {
        status: 403,
      });
      assert.equal((await sam.client.getAccessRequest({ id: r.id })).canReview, true);
      await assert.rejects(
        dev.client.createAccessRequest({ role: 'edit', resource: 'edited.web' }),
        { status: 400, message: 'validation failed: reason: is required by policy edited' },
      );
      const entry = (await admin.listAudit({ target: policy.id })).items[0];
      assert.deepEqual(
        [entry?.action, entry?.actor.name, entry?.details],
        [
          'updateRequestPolicy',
          'admin@example.com',
          {
            roles: { from: ['view'], to: ['view', 'edit'] },
            resources: { from: ['edited'], to: ['edited', 'edited.*'] },
            approvers: {
              from: { users: ['rita@example.com'], groups: [] },
              to: { users: [], groups: ['sre'] },
            },
            maxDuration: { from: '1h', to: '4h' },
            pendingExpiry: { from: '1h', to: '30m' },
            reasonRequired: { from: false, to: true },
          },
        ],
      );
      await assert.rejects(
        // Another id of the same shape (its last character changed).
        admin.updateRequestPolicy({
          id: policy.id.slice(0, -1) + (policy.id.endsWith('0') ? '1' : '0'),
          ...rules,
        }),
        { status: 404 },
      );
    });

    it('lets requesters cancel, ending access early', async () => {
      const r = await dev.client.createAccessRequest({ role: 'edit', resource: 'prod.jobs' });
      await assert.rejects(outsider.client.cancelAccessRequest({ id: r.id }), { status: 403 });
      await assert.rejects(outsider.client.getAccessRequest({ id: r.id }), { status: 403 });
      assert.equal((await rita.client.getAccessRequest({ id: r.id })).canReview, true);
      await rita.client.reviewAccessRequest({ id: r.id, decision: 'approve' });
      const cancelled = await dev.client.cancelAccessRequest({ id: r.id });
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(
        (await dev.client.explainAccess({ user: 'self', destination: 'prod.jobs' })).hasAccess,
        false,
      );
      await assert.rejects(dev.client.cancelAccessRequest({ id: r.id }), { status: 409 });
      assert.deepEqual(
        (await auditActions(r.id)).map(([action]) => action),
        ['cancelAccessRequest', 'reviewAccessRequest', 'createAccessRequest'],
      );
    });

    it('caps destination tokens at the end of temporary access', async () => {
      await admin.createGrant({ user: sam.id, privilege: 'connect', resource: 'tok' });
      const standing = await sam.client.createToken({ destination: 'tok' });
      assert.equal(Date.parse(standing.expires) - clock.now() > 4 * 60_000, true);
      const r = await dev.client
        .createAccessRequest({
          role: 'view',
          resource: 'tok2.web',
          duration: '1m',
        })
        .catch(() => undefined);
      assert.equal(r, undefined, 'no policy covers tok2');
      await admin.createRequestPolicy({
        name: 'tok',
        roles: ['view'],
        resources: ['tok2'],
        requesters: { users: ['dev@example.com'], groups: [] },
        approvers: { users: ['rita@example.com'], groups: [] },
      });
      const short = await dev.client.createAccessRequest({
        role: 'view',
        resource: 'tok2',
        duration: '90s',
      });
      const approved = await rita.client.reviewAccessRequest({ id: short.id, decision: 'approve' });
      const token = await dev.client.createToken({ destination: 'tok2' });
      assert.equal(
        Date.parse(token.expires) <= Date.parse(approved.accessExpires!),
        true,
        `${token.expires} outlives ${approved.accessExpires}`,
      );
    });
  });
}
