/**
 * The public origin comes from configuration (`url`), never from the request: provider redirect
 * URIs, the device verification URL, the setup link and HTTP redirects use it whatever Host a
 * request names. Requests for a host that is not one of the server's get 421 in the JSON error
 * shape; localhost, the certificate's names, `tls.hosts` and the url's host are served.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseResponse, rawConnection, rawExchange, rawRequest } from '../../../test/http.js';
import { ADMIN, ADMIN_CONFIG } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { startTestServer, type TestServer } from '../../../test/server.js';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';

const URL_SETTING = 'https://infra.example.test';

describe('the public origin', () => {
  let server: TestServer;
  let admin: ApiClient;
  let adminKey: string;
  let idp: TestIdp;
  let providerId: string;
  before(async () => {
    server = await startTestServer({
      configFile: ADMIN_CONFIG,
      settings: {
        url: URL_SETTING,
        'tls.hosts': ['alt.example.test'],
        'addr.http': '127.0.0.1:0',
      },
    });
    const session = await server.client().login({ passwordCredentials: ADMIN });
    adminKey = session.accessKey;
    admin = server.client({ accessKey: adminKey });
    idp = await startTestIdp({
      redirectUris: [`${URL_SETTING}/login/callback`, 'http://127.0.0.1/callback'],
    });
    providerId = (
      await admin.createProvider({
        name: 'idp',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
      })
    ).id;
  });
  after(async () => {
    await server?.close();
    await idp?.close();
  });

  /** A request naming `host` in its Host header (it still goes to the test server). */
  const asHost = (
    host: string,
    path: string,
    options: {
      method?: string;
      body?: unknown;
      key?: string;
      headers?: Record<string, string>;
    } = {},
  ) =>
    rawRequest(`${server.url}${path}`, {
      method: options.method,
      ca: server.ca,
      servername: 'localhost',
      headers: {
        host,
        ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  const port = () => new URL(server.url).port;

  it('is the configured url', () => {
    assert.equal(server.running.publicUrl, URL_SETTING);
  });

  it('refuses a request for a host that is not one of the server names with 421', async () => {
    const misdirected = {
      code: 'misdirected',
      message: `this server does not answer for that host name; its address is ${URL_SETTING}`,
    };
    for (const host of [
      'evil.example',
      `evil.example:${port()}`,
      'infra.example.test.evil.example',
      '10.9.8.7',
    ]) {
      for (const [method, path, body] of [
        ['GET', '/api/version', undefined],
        ['GET', '/api/providers', undefined],
        ['POST', '/api/device', {}],
        ['GET', `/api/providers/${providerId}`, undefined],
        ['GET', '/', undefined],
      ] as const) {
        const res = await asHost(host, path, { method, body, key: adminKey });
        assert.equal(res.status, 421, `${host} ${method} ${path}: ${res.body}`);
        assert.deepEqual(res.json(), misdirected);
      }
    }
    // Load balancers probe by address.
    const health = await asHost('10.9.8.7', '/healthz');
    assert.equal(health.status, 200);
  });

  it('judges a request target in absolute form by its host, and refuses Host twice', async () => {
    const wire = (target: string, hosts: string[]) =>
      rawExchange(
        Number(port()),
        `GET ${target} HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Connection: close\r\n\r\n`,
        { ca: server.ca, servername: 'localhost' },
      );
    const foreign = await wire('https://evil.example/api/version', ['infra.example.test']);
    assert.equal(foreign.status, 421, foreign.body);
    assert.equal(JSON.parse(foreign.body).code, 'misdirected');
    // Ours in the target: served, as an API answer (never cached), whatever the Host says.
    const ours = await wire('https://infra.example.test/api/version', ['evil.example']);
    assert.equal(ours.status, 200, ours.body);
    assert.equal(ours.headers['cache-control'], 'no-store');
    for (const hosts of [
      ['infra.example.test', 'evil.example'],
      ['evil.example', 'infra.example.test'],
    ]) {
      const twice = await wire('/api/version', hosts);
      assert.equal(twice.status, 400, twice.body);
      assert.deepEqual(JSON.parse(twice.body), {
        code: 'bad_request',
        message: 'the request has more than one Host header',
      });
    }
  });

  it("serves the url's host, localhost and the certificate's names, with any port", async () => {
    for (const host of [
      'infra.example.test',
      'INFRA.Example.Test.',
      `infra.example.test:${port()}`,
      'alt.example.test:8443',
      `localhost:${port()}`,
      `127.0.0.1:${port()}`,
      '[::1]:4443',
    ]) {
      const res = await asHost(host, '/api/version');
      assert.equal(res.status, 200, `${host}: ${res.body}`);
    }
  });

  it('builds the device verification URL from the configured url, whatever the Host', async () => {
    for (const host of [`localhost:${port()}`, `127.0.0.1:${port()}`, 'alt.example.test']) {
      const res = await asHost(host, '/api/device', { method: 'POST', body: {} });
      assert.equal(res.status, 201, res.body);
      assert.equal(
        res.json<{ verificationURL: string }>().verificationURL,
        `${URL_SETTING}/device`,
      );
    }
  });

  it('shows provider redirect URIs from the configured url, and starts dashboard logins only there', async () => {
    const details = await asHost(`localhost:${port()}`, `/api/providers/${providerId}`, {
      key: adminKey,
    });
    assert.deepEqual(details.json<{ redirectURIs: string[] }>().redirectURIs, [
      `${URL_SETTING}/login/callback`,
      'http://127.0.0.1/callback',
    ]);
    // A callback on the address the request came to is not the server's.
    const refused = await server
      .client()
      .startProviderLogin({ id: providerId, redirectURL: `${server.url}/login/callback` })
      .then(
        () => assert.fail('started'),
        (err: unknown) => err as ApiError,
      );
    assert.ok(refused instanceof ApiError);
    assert.equal(refused.status, 400);
    assert.equal(
      refused.message,
      `redirectURL: must be ${URL_SETTING}/login/callback or http://127.0.0.1:<port>/callback`,
    );
    const started = await server
      .client()
      .startProviderLogin({ id: providerId, redirectURL: `${URL_SETTING}/login/callback` });
    assert.equal(
      new URL(started.authorizationURL).searchParams.get('redirect_uri'),
      `${URL_SETTING}/login/callback`,
    );
  });

  it('accepts cookie writes from the configured origin and from the host the page is on', async () => {
    const login = await rawRequest(`${server.url}/api/login`, {
      method: 'POST',
      ca: server.ca,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passwordCredentials: ADMIN }),
    });
    const cookie = `__Host-infra-session=${login.json<{ accessKey: string }>().accessKey}`;
    const post = (host: string, origin: string) =>
      asHost(host, '/api/groups', {
        method: 'POST',
        body: { name: `cookie-${Math.random()}` },
        headers: { cookie, origin },
      });
    assert.equal((await post('infra.example.test', URL_SETTING)).status, 201);
    assert.equal((await post(`localhost:${port()}`, `https://localhost:${port()}`)).status, 201);
    assert.equal((await post(`localhost:${port()}`, 'https://evil.example')).status, 403);
  });

  it('redirects plain HTTP to the configured url, whatever the Host', async () => {
    const res = await rawRequest(`http://127.0.0.1:${server.running.httpPort}/users?x=1`, {
      headers: { host: 'evil.example' },
    });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `${URL_SETTING}/users?x=1`);
    // A tunnel request gets an answer too, not a dropped connection.
    const conn = rawConnection(server.running.httpPort!, { tls: false });
    await conn.secure;
    conn.socket.write('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    const tunnel = parseResponse(await conn.closed);
    assert.equal(tunnel.status, 405);
    assert.equal(JSON.parse(tunnel.body).code, 'method_not_allowed');
  });

  it('logs the setup link with the configured url', async () => {
    const fresh = await startTestServer({ settings: { url: 'https://setup.example.test:8443' } });
    try {
      assert.match(
        fresh.logs.text,
        /no admin yet: open https:\/\/setup\.example\.test:8443\/setup\?token=[A-Za-z0-9_-]+ /,
      );
    } finally {
      await fresh.close();
    }
  });
});

describe('the public origin without url', () => {
  it('is https://<tls.hosts[0]>:<port>, else the listener host', async () => {
    const named = await startTestServer({ settings: { 'tls.hosts': ['infra.example.test'] } });
    const bare = await startTestServer();
    try {
      assert.equal(
        named.running.publicUrl,
        `https://infra.example.test:${named.running.httpsPort}`,
      );
      assert.equal(bare.running.publicUrl, `https://127.0.0.1:${bare.running.httpsPort}`);
      const device = await bare.client().createDeviceRequest({});
      assert.equal(device.verificationURL, `${bare.url}/device`);
    } finally {
      await named.close();
      await bare.close();
    }
  });
});

describe('the names of a configured certificate', () => {
  it('serves the names the certificate covers, wildcards included, and refuses others', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-origin-'));
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=infra',
        '-addext',
        'subjectAltName=DNS:*.corp.example.test,IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const server = await startTestServer({
      settings: { 'tls.certificate': cert, 'tls.privateKey': `file:${key}` },
    });
    try {
      const ca = readFileSync(cert, 'utf8');
      const status = async (host: string) =>
        (
          await rawRequest(`${server.url}/api/version`, {
            ca,
            servername: 'app.corp.example.test',
            headers: { host },
          })
        ).status;
      assert.equal(await status('app.corp.example.test'), 200);
      assert.equal(await status('localhost'), 200);
      assert.equal(await status('corp.example.test'), 421);
      assert.equal(await status('a.b.corp.example.test'), 421);
      assert.equal(await status('app.corp.example.test.evil.example'), 421);
    } finally {
      await server.close();
    }
  });
});
