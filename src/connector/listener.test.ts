/**
 * The connector's own listener, where it answers kubectl itself: garbage gets a Kubernetes
 * Status (never a 500 or a crash), connections that do nothing are closed (`limits`), one
 * address may hold only so many connections, and none of it cuts a kubectl watch that runs far
 * longer than every timeout. The timeouts are configured short; the tests wait for the socket
 * to close, never for a time on the clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../test/clock.js';
import { kubectlStream, startCluster, userWorkstation, type Cluster } from '../../test/cluster.js';
import { parseResponse, rawConnection, type RawConnection } from '../../test/http.js';
import { createSignedInUser } from '../../test/identity.js';

const HEADERS_TIMEOUT_MS = 2000;

describe('the connector listener', { timeout: 60_000 }, () => {
  const clock = new TestClock();
  let cluster: Cluster;
  let port: number;
  const conns: RawConnection[] = [];
  const connect = (options: { tls?: boolean } = {}) => {
    const c = rawConnection(port, { ...options, servername: '127.0.0.1' });
    conns.push(c);
    return c;
  };
  /** Sends `request` on a new connection and reads the answer, which must be a Status. */
  const exchange = async (request: string) => {
    const c = connect();
    await c.secure;
    c.socket.write(request);
    const res = parseResponse(await c.closed);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, res.body);
    const status = JSON.parse(res.body) as { kind: string; code: number; message: string };
    assert.equal(status.kind, 'Status');
    assert.equal(status.code, res.status);
    return status;
  };

  before(async () => {
    cluster = await startCluster('sqlite', {
      clock,
      connectorOnTestClock: true,
      connectorSettings: {
        'limits.handshakeTimeout': '300ms',
        'limits.headersTimeout': `${HEADERS_TIMEOUT_MS}ms`,
        'limits.idleTimeout': '300ms',
        'limits.connectionsPerIP': '4',
      },
    });
    port = cluster.connector.port!;
  });
  after(async () => {
    for (const c of conns) c.socket.destroy();
    await cluster?.close();
  });

  it('answers garbage with a Status, never a 500', async () => {
    const close = 'Host: x\r\nConnection: close\r\n';
    const cases: Array<[string, number]> = [
      ['hello\r\n\r\n', 400],
      ['FOO / HTTP/1.1\r\n\r\n', 400],
      [`GET /api HTTP/1.1\r\n${close}X-Padding: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      [`GET /api/v1/pods/%E0%A4%A HTTP/1.1\r\n${close}\r\n`, 401],
      ['GET /api/v1/pods HTTP/1.1\r\nConnection: close\r\n\r\n', 401],
      [`GET /api/v1/pods HTTP/1.1\r\n${close}Authorization: Bearer %%%\r\n\r\n`, 401],
      [
        `GET /api/v1/pods HTTP/1.1\r\n${close}Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n`,
        401,
      ],
      // A token whose header holds an object where the algorithm goes.
      [
        `GET /api/v1/pods HTTP/1.1\r\n${close}Authorization: Bearer ${Buffer.from('{"alg":{"toString":1}}').toString('base64url')}.e30.c2ln\r\n\r\n`,
        401,
      ],
      [
        `GET /api/v1/pods HTTP/1.1\r\n${close}Connection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer x\r\n\r\n`,
        401,
      ],
    ];
    for (const [request, code] of cases) {
      const status = await exchange(request);
      assert.equal(status.code, code, `${JSON.stringify(request.slice(0, 60))}: ${status.message}`);
    }
    assert.doesNotMatch(cluster.connectorLogs.text, /"level":50/);
  });

  it('closes a connection whose TLS handshake does not come', async () => {
    const c = connect({ tls: false });
    await c.secure;
    assert.equal(await c.closed, '');
  });

  it('closes a connection that never sends a request, with a Status', async () => {
    const c = connect();
    await c.secure;
    const res = parseResponse(await c.closed);
    assert.equal(res.status, 408);
    assert.equal(JSON.parse(res.body).reason, 'Timeout');
  });

  it('closes a keep-alive connection that goes quiet after a request', async () => {
    const c = connect();
    await c.secure;
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(parseResponse(await c.closed).status, 200);
  });

  it('refuses an address more than 4 connections at a time', async () => {
    const held = [connect(), connect(), connect(), connect()];
    await Promise.all(held.map((c) => c.secure));
    const refused = connect();
    await assert.rejects(refused.secure);
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    const next = connect();
    await next.secure;
    next.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(parseResponse(await next.closed).status, 200);
  });

  it('keeps a kubectl watch going far past every timeout', async () => {
    const alice = await createSignedInUser(cluster.server, cluster.admin, 'alice@example.com');
    await cluster.admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
    await cluster.connectorCaughtUp();
    const ws = await userWorkstation(
      cluster,
      (await alice.client.createAccessKey({ expiry: '24h' })).accessKey,
    );
    assert.equal((await ws.run('use', 'prod')).code, 0);
    const watch = kubectlStream(ws, ['get', 'pods', '-n', 'default', '--watch']);
    try {
      for (let i = 0; i < 400 && !/app-1/.test(watch.output()); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.match(watch.output(), /app-1/);
      // Quiet for longer than the headers and idle timeouts together.
      await new Promise((r) => setTimeout(r, HEADERS_TIMEOUT_MS + 1000));
      cluster.kube.addPod('default', 'app-quiet');
      for (let i = 0; i < 400 && !/app-quiet/.test(watch.output()); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.match(watch.output(), /app-quiet/, 'the watch still streams');
      assert.equal(watch.child.exitCode, null);
    } finally {
      watch.child.kill();
    }
  });

  it('answers 503 when a token needs keys from an Infra server it cannot reach', async () => {
    await cluster.server.close();
    // Past the connector's pause between key refreshes.
    clock.advance(11_000);
    const header = Buffer.from('{"alg":"ES512","kid":"unknown"}').toString('base64url');
    const status = await exchange(
      `GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${header}.e30.c2ln\r\n\r\n`,
    );
    assert.equal(status.code, 503);
    assert.equal(
      status.message,
      'the Infra connector cannot reach the Infra server to check your token; try again',
    );
  });
});
