/**
 * Connections that do nothing are closed (`limits`): a TLS handshake that does not finish,
 * a connection that never sends a request or stops halfway through its headers, and keep-alive
 * between requests. Long answers are not cut: the access feed holds its answer well past every
 * timeout. One address may hold only `limits.connectionsPerIP` connections at a time.
 *
 * The timeouts are configured short; each test waits for the server to close the socket (the
 * test runner's timeout bounds it), never for a time on the clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseResponse, rawConnection, type RawConnection } from '../../../test/http.js';
import { startAdminServer } from '../../../test/identity.js';
import { startTestServer, type TestServer } from '../../../test/server.js';

const LIMITS = {
  'limits.handshakeTimeout': '300ms',
  'limits.headersTimeout': '300ms',
  'limits.idleTimeout': '300ms',
  'limits.connectionsPerIP': '4',
};

describe('connection limits', { timeout: 20_000 }, () => {
  let server: TestServer;
  let adminKey: string;
  let port: number;
  const open: RawConnection[] = [];
  before(async () => {
    ({ server, adminKey } = await startAdminServer('sqlite', { settings: LIMITS }));
    port = Number(new URL(server.url).port);
  });
  after(async () => {
    for (const c of open) c.socket.destroy();
    await server?.close();
  });
  const connect = (options: { tls?: boolean } = {}) => {
    const c = rawConnection(port, { ca: server.ca, ...options });
    open.push(c);
    return c;
  };

  it('closes a connection whose TLS handshake does not come', async () => {
    const c = connect({ tls: false });
    await c.secure;
    assert.equal(await c.closed, '');
  });

  it('closes a connection that never sends a request, answering 408', async () => {
    const c = connect();
    await c.secure;
    const res = parseResponse(await c.closed);
    assert.equal(res.status, 408);
    assert.deepEqual(JSON.parse(res.body), {
      code: 'request_timeout',
      message: 'the request headers did not arrive in time',
    });
  });

  it('closes a connection that stops halfway through its headers', async () => {
    const c = connect();
    await c.secure;
    c.socket.write('GET /api/version HTTP/1.1\r\nHost: loc');
    assert.equal(parseResponse(await c.closed).status, 408);
  });

  it('closes a keep-alive connection that goes quiet after a request', async () => {
    const c = connect();
    await c.secure;
    c.socket.write('GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const res = parseResponse(await c.closed);
    assert.equal(res.status, 200);
    assert.notEqual(res.headers.connection, 'close');
  });

  it('does not cut a long poll that outlasts every timeout', async () => {
    const feed = await server
      .client({ accessKey: adminKey })
      .getAccessFeed({ destination: 'prod' });
    const c = connect();
    await c.secure;
    c.socket.write(
      `GET /api/feed?destination=prod&lastUpdateIndex=${feed.updateIndex}&wait=1500ms HTTP/1.1\r\n` +
        `Host: localhost\r\nAuthorization: Bearer ${adminKey}\r\nConnection: close\r\n\r\n`,
    );
    // Nothing changes, so the feed answers "not modified" when its wait is over.
    assert.equal(parseResponse(await c.closed).status, 304);
  });
});

describe('connections per address', { timeout: 20_000 }, () => {
  let server: TestServer;
  let proxied: TestServer;
  const conns: RawConnection[] = [];
  const connect = (to: TestServer) => {
    const c = rawConnection(Number(new URL(to.url).port), { ca: to.ca });
    conns.push(c);
    return c;
  };
  before(async () => {
    // No client of the test's own holds a connection to these servers.
    server = await startTestServer({ settings: { 'limits.connectionsPerIP': '2' } });
    proxied = await startTestServer({
      settings: { 'limits.connectionsPerIP': '1', trustedProxies: ['127.0.0.1'] },
    });
  });
  after(async () => {
    for (const c of conns) c.socket.destroy();
    await server?.close();
    await proxied?.close();
  });
  const healthz = async (c: RawConnection) => {
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    return parseResponse(await c.closed).status;
  };

  it('closes a connection from an address that already holds the most', async () => {
    const held = [connect(server), connect(server)];
    await Promise.all(held.map((c) => c.secure));
    const refused = connect(server);
    await assert.rejects(refused.secure);
    assert.equal(await refused.closed, '');
    assert.match(server.logs.text, /refusing connections from an address that holds the most/);
    // A place frees when a connection ends.
    assert.equal(await healthz(held[0]!), 200);
    const next = connect(server);
    await next.secure;
    assert.equal(await healthz(next), 200);
    assert.equal(await healthz(held[1]!), 200);
  });

  it('does not count the connections of a trusted proxy, which carries many clients', async () => {
    const three = [connect(proxied), connect(proxied), connect(proxied)];
    await Promise.all(three.map((c) => c.secure));
    for (const c of three) assert.equal(await healthz(c), 200);
  });
});
