import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workstation, type Workstation } from '../../test/cli.js';
import { createSignedInUser, startAdminServer } from '../../test/identity.js';
import type { TestServer } from '../../test/server.js';

describe('infra request and infra policies', () => {
  let server: TestServer;
  let admin: Workstation;
  let dev: Workstation;
  let rita: Workstation;

  before(async () => {
    const started = await startAdminServer('sqlite');
    server = started.server;
    const login = async (key: string) => {
      const ws = workstation();
      const res = await ws.run(
        'login',
        new URL(server.url).host,
        '--tls-trusted-fingerprint',
        server.running.fingerprint,
        '--key',
        key,
      );
      assert.equal(res.code, 0, res.stderr);
      return ws;
    };
    admin = await login(started.adminKey);
    dev = await login((await createSignedInUser(server, started.admin, 'dev@example.com')).key);
    rita = await login((await createSignedInUser(server, started.admin, 'rita@example.com')).key);
  });
  after(() => server.close());

  it('adds a policy, requests under it, reviews, lists, cancels and edits the policy', async () => {
    const added = await admin.run(
      'policies',
      'add',
      'prod-web',
      '--role',
      'edit',
      '--resource',
      'prod.*',
      '--requester',
      'dev@example.com',
      '--approver',
      'rita@example.com',
      '--max-duration',
      '2h',
      '--reason-required',
    );
    assert.deepEqual([added.code, added.stderr], [0, 'Added request policy prod-web\n']);
    const policies = await dev.run('policies', 'list');
    assert.equal(
      policies.stdout,
      'NAME      ROLES  RESOURCES  REQUESTERS       APPROVERS         APPROVALS  MAX\n' +
        'prod-web  edit   prod.*     dev@example.com  rita@example.com  1          2h\n',
    );

    const noReason = await dev.run('request', 'create', 'prod.web', '--role', 'edit');
    assert.deepEqual(
      [noReason.code, noReason.stderr],
      [1, 'infra: Invalid input (reason: is required by policy prod-web)\n'],
    );
    const created = await dev.run(
      'request',
      'create',
      'prod.web',
      '--role',
      'edit',
      '--for',
      '30m',
      '--reason',
      'INC-7',
    );
    assert.equal(created.code, 0, created.stderr);
    const id = /: (req_[0-9a-z]{24})\n$/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);

    const own = await dev.run('request', 'review', id, '--approve');
    assert.deepEqual(
      [own.code, own.stderr],
      [1, 'infra: You do not have permission to review your own access request\n'],
    );
    const waiting = await rita.run('request', 'list', '--review', '-o', 'name');
    assert.equal(waiting.stdout, `${id}\n`);
    const approved = await rita.run('request', 'review', id, '--approve', '--comment', 'ok');
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stderr, /^Approved: dev@example\.com has edit on prod\.web until /);

    const mine = await dev.run('request', 'list');
    assert.match(mine.stdout, /prod\.web\s+30m\s+approved, ends in 30 minutes\s+INC-7\n$/);
    const cancelled = await dev.run('request', 'cancel', id);
    assert.deepEqual(
      [cancelled.code, cancelled.stderr],
      [0, `Cancelled ${id} (edit on prod.web)\n`],
    );

    const edited = await admin.run(
      'policies',
      'edit',
      'prod-web',
      '--approver-group',
      'sre',
      '--approvals',
      '2',
      '--max-duration',
      '3h',
      '--no-reason-required',
    );
    assert.deepEqual([edited.code, edited.stderr], [0, 'Updated request policy prod-web\n']);
    const after = await dev.run('policies', 'list', '-o', 'json');
    const [p] = JSON.parse(after.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      [p?.roles, p?.requesters, p?.approvers, p?.approvalsRequired, p?.maxDuration],
      [
        ['edit'],
        { users: ['dev@example.com'], groups: [] },
        { users: ['rita@example.com'], groups: ['sre'] },
        2,
        '3h',
      ],
    );
    assert.equal(p?.reasonRequired, false);
    const unknown = await admin.run('policies', 'update', 'nope', '--approvals', '1');
    assert.deepEqual(
      [unknown.code, unknown.stderr],
      [1, 'infra: No request policy named nope; nothing changed\n'],
    );
    const removed = await admin.run('policies', 'remove', 'prod-web');
    assert.equal(removed.code, 0, removed.stderr);
  });
});
