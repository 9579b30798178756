import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN_CONFIG, createSignedInUser, startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';
import { signWebhook } from './webhook.js';

const SECRET = 'webhook-shared-secret';

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
}

describe('access request webhook', () => {
  let receiver: Server;
  let server: TestServer;
  const deliveries: Delivery[] = [];
  let failNext = 1;

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        deliveries.push({ headers: req.headers, body });
        res.statusCode = failNext-- > 0 ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    ({ server } = await startAdminServer('sqlite', {
      configFile: `${ADMIN_CONFIG}accessRequestWebhook:\n  url: http://127.0.0.1:${port}/hook\n  secret: plaintext:${SECRET}\n`,
    }));
  });
  after(async () => {
    await server.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  async function until(check: () => boolean): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`only ${deliveries.length} deliveries arrived`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('posts signed events, retrying a delivery the receiver failed', async () => {
    const session = await server.client().login({
      passwordCredentials: { name: 'admin@example.com', password: 'admin-password-1' },
    });
    const admin = server.client({ accessKey: session.accessKey });
    const dev = await createSignedInUser(server, admin, 'dev@example.com');
    const rita = await createSignedInUser(server, admin, 'rita@example.com');
    await admin.createRequestPolicy({
      name: 'p',
      roles: ['edit'],
      resources: ['prod'],
      requesters: { users: [dev.name], groups: [] },
      approvers: { users: [rita.name], groups: [] },
    });
    const r = await dev.client.createAccessRequest({ role: 'edit', resource: 'prod', reason: 'x' });
    // The first delivery fails (503); the retry, a second later, carries the same body.
    await until(() => deliveries.length >= 2);
    await rita.client.reviewAccessRequest({ id: r.id, decision: 'approve' });
    await until(() => deliveries.length >= 3);

    assert.equal(deliveries[0]!.body, deliveries[1]!.body);
    for (const d of deliveries) {
      const signature = String(d.headers['infra-signature']);
      const t = Number(/^t=(\d+),/.exec(signature)?.[1]);
      assert.equal(signature, signWebhook(SECRET, d.body, t * 1000));
    }
    const events = deliveries.slice(1).map((d) => {
      const { event, data } = JSON.parse(d.body) as {
        event: string;
        data: { id: string; user: string; state: string; approvals: number };
      };
      return [d.headers['infra-event'], event, data.id, data.user, data.state, data.approvals];
    });
    assert.deepEqual(events, [
      ['access_request.created', 'access_request.created', r.id, 'dev@example.com', 'pending', 0],
      [
        'access_request.reviewed',
        'access_request.reviewed',
        r.id,
        'dev@example.com',
        'approved',
        1,
      ],
    ]);
  });
  it('posts access_request.expired once, at the deadline of a request nobody decided', async () => {
    const session = await server.client().login({
      passwordCredentials: { name: 'admin@example.com', password: 'admin-password-1' },
    });
    const admin = server.client({ accessKey: session.accessKey });
    const eve = await createSignedInUser(server, admin, 'eve@example.com');
    await admin.createRequestPolicy({
      name: 'quick',
      roles: ['view'],
      resources: ['staging'],
      requesters: { users: [eve.name], groups: [] },
      approvers: { users: ['admin@example.com'], groups: [] },
      pendingExpiry: '500ms',
    });
    const r = await eve.client.createAccessRequest({ role: 'view', resource: 'staging' });
    const expiredEvents = () =>
      deliveries
        .map((d) => JSON.parse(d.body) as { event: string; data: { id: string; state: string } })
        .filter((e) => e.event === 'access_request.expired' && e.data.id === r.id);
    // No sweep runs within this wait (every 30 s, the first 30 s after start): the timer does it.
    await until(() => expiredEvents().length > 0);
    assert.deepEqual(
      expiredEvents().map((e) => e.data.state),
      ['expired'],
    );
    const audit = await admin.listAudit({ target: r.id });
    assert.deepEqual(
      audit.items.map((e) => [e.action, e.actor.name]),
      [
        ['expireAccessRequest', 'server'],
        ['createAccessRequest', 'eve@example.com'],
      ],
    );
  });
});
