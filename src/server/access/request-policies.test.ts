import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engines } from '../../../test/engines.js';
import { ADMIN_CONFIG, startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';
import type { ApiClient } from '../../api/client.js';
import { matchesPattern } from './request-policies.js';

const policyYaml = (max: string) => `requestPolicies:
  - name: oncall-prod
    roles: [edit]
    resources: ['prod.*']
    requesters: { groups: [oncall] }
    approvers: { users: [admin@example.com], groups: [sre] }
    approvalsRequired: 2
    maxDuration: ${max}
    reasonRequired: true
`;

describe('request policy patterns', () => {
  it('matches * against any run of characters, and the rest literally', () => {
    const cases: Array<[string, string, boolean]> = [
      ['prod.*', 'prod.web', true],
      ['prod.*', 'prod', false],
      ['prod.*', 'production.web', false],
      ['prod*', 'production', true],
      ['*', 'anything', true],
      ['*.web', 'staging.web', true],
      ['p*d.*b', 'prod.web', true],
      ['p*d.*b', 'prod.db', true],
      ['p*d.*b', 'prod.dbx', false],
      ['edit', 'edit', true],
      ['edit', 'editor', false],
    ];
    for (const [pattern, value, expected] of cases)
      assert.equal(matchesPattern(pattern, value), expected, `${pattern} ~ ${value}`);
  });
});

for (const engine of engines) {
  describe(`request policies from the config file [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    before(async () => {
      ({ server, admin } = await startAdminServer(engine, {
        configFile: ADMIN_CONFIG + policyYaml('4h'),
      }));
    });
    after(() => server.close());

    it('declares policies the API cannot change, and follows the file at each start', async () => {
      const [p] = (await admin.listRequestPolicies()).items;
      assert.deepEqual(
        p && {
          name: p.name,
          roles: p.roles,
          resources: p.resources,
          requesters: p.requesters,
          approvers: p.approvers,
          approvalsRequired: p.approvalsRequired,
          maxDuration: p.maxDuration,
          pendingExpiry: p.pendingExpiry,
          reasonRequired: p.reasonRequired,
          managedBy: p.managedBy,
        },
        {
          name: 'oncall-prod',
          roles: ['edit'],
          resources: ['prod.*'],
          requesters: { users: [], groups: ['oncall'] },
          approvers: { users: ['admin@example.com'], groups: ['sre'] },
          approvalsRequired: 2,
          maxDuration: '4h',
          pendingExpiry: '1h',
          reasonRequired: true,
          managedBy: 'config',
        },
      );
      const fromFile = {
        status: 400,
        message: "this request policy is declared in the server's config file; change it there",
      };
      await assert.rejects(admin.deleteRequestPolicy({ id: p!.id }), fromFile);
      await assert.rejects(
        admin.updateRequestPolicy({
          id: p!.id,
          roles: ['edit'],
          resources: ['prod.*'],
          requesters: { users: [], groups: ['oncall'] },
          approvers: { users: ['admin@example.com'], groups: [] },
        }),
        fromFile,
      );
      server = await server.restart({ configFile: ADMIN_CONFIG + policyYaml('2h') });
      const session = await server.client().login({
        passwordCredentials: { name: 'admin@example.com', password: 'admin-password-1' },
      });
      admin = server.client({ accessKey: session.accessKey });
      const [updated] = (await admin.listRequestPolicies()).items;
      assert.deepEqual([updated?.id, updated?.maxDuration], [p!.id, '2h']);
      server = await server.restart({ configFile: ADMIN_CONFIG });
      const again = await server.client().login({
        passwordCredentials: { name: 'admin@example.com', password: 'admin-password-1' },
      });
      admin = server.client({ accessKey: again.accessKey });
      assert.deepEqual((await admin.listRequestPolicies()).items, []);
    });
  });
}
