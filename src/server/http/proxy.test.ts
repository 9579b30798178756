import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadServerConfig } from '../config.js';
import { ConfigError } from '../../shared/config-loader.js';
import { rawRequest } from '../../../test/http.js';
import { ADMIN, startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';
import type { ApiClient } from '../../api/client.js';

/** A failed login with a forwarded address; returns the address the audit log recorded. */
async function auditedAddress(server: TestServer, admin: ApiClient): Promise<string | undefined> {
  const res = await rawRequest(`${server.url}/api/login`, {
    method: 'POST',
    ca: server.ca,
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
    body: JSON.stringify({ passwordCredentials: { name: ADMIN.name, password: 'wrong-1234' } }),
  });
  assert.equal(res.status, 401);
  const audit = await admin.listAudit({ action: 'login' });
  return audit.items.find((e) => e.result === 'failure')?.sourceIp;
}

describe('reverse proxies', () => {
  let direct: { server: TestServer; admin: ApiClient };
  let proxied: { server: TestServer; admin: ApiClient };

  before(async () => {
    direct = await startAdminServer('sqlite');
    proxied = await startAdminServer('sqlite', {
      settings: { trustedProxies: ['127.0.0.0/8', '::1'] },
    });
  });
  after(async () => {
    await direct.server.close();
    await proxied.server.close();
  });

  it('ignores X-Forwarded-For unless the proxy is trusted', async () => {
    assert.match(
      (await auditedAddress(direct.server, direct.admin)) ?? '',
      /^(::ffff:)?127\.0\.0\.1$/,
    );
    assert.equal(await auditedAddress(proxied.server, proxied.admin), '203.0.113.7');
  });

  it('refuses a trusted proxy that is not an address or range', async () => {
    for (const bad of ['proxy.internal', '10.0.0.0/33', '10.0.0.1/8/2', '::1/129']) {
      await assert.rejects(
        loadServerConfig({ env: {}, flags: { trustedProxies: [bad] } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /trustedProxies.*must be an IP address or a CIDR range/.test(err.message),
        bad,
      );
    }
  });
});
