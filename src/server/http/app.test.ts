import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertGolden } from '../../../test/golden.js';
import { rawRequest } from '../../../test/http.js';
import { startTestServer, type TestServer } from '../../../test/server.js';
import { ApiError } from '../../api/errors.js';
import { apiVersion, productVersion } from '../../shared/version.js';

describe('HTTP API basics', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      settings: { 'addr.http': '127.0.0.1:0', 'addr.metrics': '127.0.0.1:0' },
    });
  });
  after(() => server.close());
  const get = (p: string, headers: Record<string, string> = {}) =>
    rawRequest(`${server.url}${p}`, { ca: server.ca, headers });

  it('answers /healthz on HTTPS and on plain HTTP', async () => {
    assert.equal((await get('/healthz')).body, 'ok\n');
    const res = await rawRequest(`http://127.0.0.1:${server.running.httpPort}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok\n');
  });

  it('redirects everything else on plain HTTP to HTTPS, keeping path and query', async () => {
    const res = await rawRequest(
      `http://127.0.0.1:${server.running.httpPort}/api/users?name=a%40b.c`,
      {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      },
    );
    assert.equal(res.status, 308);
    assert.equal(
      res.headers.location,
      `https://127.0.0.1:${server.running.httpsPort}/api/users?name=a%40b.c`,
    );
  });

  it('serves the version through the typed client', async () => {
    assert.deepEqual(await server.client().getVersion(), { version: productVersion, apiVersion });
  });

  it('answers unknown API routes with the JSON error shape', async () => {
    const res = await get('/api/nothing-here');
    assert.equal(res.status, 404);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), {
      code: 'not_found',
      message: 'no route for GET /api/nothing-here',
    });
  });

  it('treats a missing Infra-Version as the newest and accepts older versions', async () => {
    assert.equal((await get('/api/version')).status, 200);
    assert.equal((await get('/api/version', { 'Infra-Version': '0.0.1' })).status, 200);
    assert.equal((await get('/api/version', { 'Infra-Version': apiVersion })).status, 200);
  });

  it('refuses a malformed or newer Infra-Version', async () => {
    const bad = await get('/api/version', { 'Infra-Version': 'latest' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), {
      code: 'bad_request',
      message: `Infra-Version header must be a version such as ${apiVersion}`,
    });
    const newer = await get('/api/version', { 'Infra-Version': '99.0.0' });
    assert.equal(newer.status, 400);
    assert.deepEqual(newer.json(), {
      code: 'bad_request',
      message: `this server speaks API version ${apiVersion} but the client asked for 99.0.0; upgrade the server or use an older client`,
    });
  });

  it('turns error responses into ApiError in the client', async () => {
    const res = await get('/api/version?unexpected=1');
    assert.equal(res.status, 400);
    assert.deepEqual(res.json(), {
      code: 'bad_request',
      message: 'validation failed: unexpected: unknown field',
      fieldErrors: [{ field: 'unexpected', errors: ['unknown field'] }],
    });
    const client = server.client();
    await assert.rejects(
      (client.getVersion as (i: object) => Promise<unknown>)({ unexpected: 1 }),
      (err: ApiError) =>
        err instanceof ApiError && err.status === 400 && err.code === 'bad_request',
    );
  });

  it('sets security headers, and no caching on the API', async () => {
    const res = await get('/api/version');
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('publishes Prometheus metrics on the metrics port only', async () => {
    await get('/api/version');
    const res = await rawRequest(`http://127.0.0.1:${server.running.metricsPort}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.body, new RegExp(`build_info\\{version="${productVersion}"\\} 1`));
    assert.match(
      res.body,
      /http_request_duration_seconds_count\{method="GET",route="\/api\/version",status="200"\} \d+/,
    );
    assert.match(res.body, /process_cpu_seconds_total/);
    assert.equal((await get('/metrics')).status, 404);
  });

  it('serves the OpenAPI document generated from the route table', async () => {
    const res = await get('/api/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.json<{ openapi: string; paths: Record<string, unknown> }>();
    assert.equal(doc.openapi, '3.1.0');
    assertGolden(
      path.join(import.meta.dirname, 'testdata', 'openapi.json'),
      `${JSON.stringify(doc, null, 2)}\n`,
    );
  });
});

describe('dashboard', () => {
  it('serves the single-page app for client-side routes, with a strict CSP', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-dashboard-'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Infra</title>');
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
    const server = await startTestServer({ dashboardDir: dir });
    try {
      const html = { accept: 'text/html' };
      for (const p of ['/', '/users', '/login/callback?code=x']) {
        const res = await rawRequest(`${server.url}${p}`, { ca: server.ca, headers: html });
        assert.equal(res.status, 200, p);
        assert.equal(res.body, '<!doctype html><title>Infra</title>');
        assert.match(
          String(res.headers['content-security-policy']),
          /default-src 'self'.*frame-ancestors 'none'/,
        );
      }
      const js = await rawRequest(`${server.url}/assets/app.js`, { ca: server.ca });
      assert.equal(js.status, 200);
      assert.match(String(js.headers['content-type']), /javascript/);
      const api = await rawRequest(`${server.url}/api/unknown`, { ca: server.ca, headers: html });
      assert.equal(api.status, 404);
      assert.deepEqual(api.json(), { code: 'not_found', message: 'no route for GET /api/unknown' });
    } finally {
      await server.close();
    }
  });

  it('says how to build it when it is missing', async () => {
    const server = await startTestServer();
    try {
      const res = await rawRequest(`${server.url}/`, {
        ca: server.ca,
        headers: { accept: 'text/html' },
      });
      assert.equal(res.status, 503);
      assert.equal(
        res.body,
        'The dashboard is not built. Run `npm run build`, then restart the server.\n',
      );
    } finally {
      await server.close();
    }
  });
});
