import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/client.js';
import { workstation, type Workstation } from '../../test/cli.js';
import { ADMIN, ADMIN_CONFIG, startAdminServer } from '../../test/identity.js';
import type { TestServer } from '../../test/server.js';

// One more than the largest page the API serves.
const MANY = 1001;
const numbered = (prefix: string, suffix = '') =>
  Array.from({ length: MANY }, (_, i) => `${prefix}${String(i).padStart(4, '0')}${suffix}`);

describe('infra CLI lists longer than a page', () => {
  let server: TestServer;
  let admin: ApiClient;
  let ws: Workstation;
  const roles = numbered('role-');

  before(async () => {
    // Users declared in the config file: a thousand of them without a thousand API calls.
    const users = numbered('user-', '@example.com');
    ({ server, admin } = await startAdminServer('sqlite', {
      configFile: `${ADMIN_CONFIG}${users.map((u) => `  - name: ${u}\n`).join('')}`,
    }));
    await admin.createDestination({
      name: 'prod',
      uniqueID: 'prod',
      connection: { url: 'https://prod.example.com:9443', ca: '' },
      namespaces: ['default'],
      roles: ['view'],
    });
    const big = await admin.createGroup({ name: 'big' });
    const me = (await admin.listUsers({ name: ADMIN.name })).items[0]!;
    await admin.updateGroupUsers({ id: big.id, usersToAdd: [me.id] });
    for (const batch of [roles.slice(0, 1000), roles.slice(1000)]) {
      await admin.updateGrants({
        grantsToAdd: batch.map((privilege) => ({ group: big.id, privilege, resource: 'prod' })),
      });
    }
    ws = workstation();
    const key = (await admin.createAccessKey({ expiry: '1h' })).accessKey;
    const host = new URL(server.url).host;
    const login = await ws.run(
      'login',
      host,
      '--tls-trusted-fingerprint',
      server.running.fingerprint,
      '--key',
      key,
    );
    assert.equal(login.code, 0, login.stderr);
  });
  after(() => server.close());

  it('lists every user and grant, page after page', async () => {
    const users = JSON.parse((await ws.run('users', 'list', '--format', 'json')).stdout) as Array<{
      name: string;
    }>;
    assert.equal(users.length, MANY + 1);
    assert.ok(users.some((u) => u.name === `user-${MANY - 1}@example.com`));
    const grants = JSON.parse(
      (await ws.run('grants', 'list', '--group', 'big', '--format', 'json')).stdout,
    ) as unknown[];
    assert.equal(grants.length, MANY);
  });

  it('shows every role you reach with', async () => {
    const [prod] = JSON.parse((await ws.run('list', '--format', 'json')).stdout) as Array<{
      name: string;
      roles: string[];
    }>;
    assert.equal(prod?.name, 'prod');
    assert.deepEqual(prod.roles, roles);
  });

  it('revokes every matching grant, not only the first page', async () => {
    const res = await ws.run('grants', 'remove', 'big', 'prod', '--group');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, `Revoked ${MANY} grants of big on prod\n`);
    assert.deepEqual((await admin.listGrants({ resource: 'prod' })).items, []);
  });
});
