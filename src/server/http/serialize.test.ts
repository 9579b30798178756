import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { listAudit } from '../../api/audit.js';
import { listAccessKeys } from '../../api/access-keys.js';
import { createGrant, listGrants } from '../../api/grants.js';
import { createUser, listUsers } from '../../api/users.js';
import { compileSerializer } from './serialize.js';

const at = '2026-12-07T10:00:00.000Z';

/** What the route wrapper sent before: zod's parse (declared fields only), then JSON. */
function viaZod(schema: z.ZodType, value: unknown): unknown {
  return JSON.parse(JSON.stringify(schema.parse(value)));
}

function written(schema: z.ZodType, value: unknown): unknown {
  return JSON.parse(compileSerializer(schema)(value));
}

describe('answers written from the response schema', () => {
  it('leave out every undeclared field, at every depth, and keep the declared ones', () => {
    const user = {
      id: 'usr_1',
      name: 'a@example.com',
      created: at,
      updated: at,
      lastSeenAt: null,
      managedBy: 'api',
      kind: 'user',
      passwordHash: '$argon2id$secret',
    };
    const listed = {
      ...user,
      infraRoles: ['view'],
      groups: ['ops'],
      totalGroups: 1,
      origin: 'local',
      providers: [],
      deactivatedBy: null,
    };
    const page = {
      items: [listed, { ...listed, lastSeenAt: at }],
      count: 2,
      totalCount: 9,
      limit: 2,
      cursor: 'x',
    };
    const sent = written(listUsers.output!, page);
    assert.deepEqual(sent, viaZod(listUsers.output!, page));
    assert.ok(!JSON.stringify(sent).includes('secret'));
    assert.deepEqual(Object.keys((sent as { items: object[] }).items[0]!), [
      'id',
      'name',
      'created',
      'updated',
      'lastSeenAt',
      'managedBy',
      'infraRoles',
      'groups',
      'totalGroups',
      'origin',
      'providers',
      'deactivatedBy',
    ]);
    assert.equal((sent as { totalCount: number }).totalCount, 9);

    const created = { ...user, oneTimePassword: 'otp', secretHash: 'abc' };
    assert.deepEqual(written(createUser.output!, created), viaZod(createUser.output!, created));
    assert.equal(
      (written(createUser.output!, created) as { secretHash?: string }).secretHash,
      undefined,
    );
  });

  it('write optional and nullable fields as zod did, and the next cursor only when there is one', () => {
    const grant = {
      id: 'grt_1',
      group: 'grp_1',
      groupName: 'ops',
      privilege: 'view',
      resource: 'prod.web',
      created: at,
      createdBy: null,
      expiresAt: null,
      managedBy: 'config',
      subjectKind: 'group',
    };
    for (const page of [
      { items: [grant], count: 1, limit: 1, next: 'Z3J0XzE' },
      { items: [], count: 0, limit: 1 },
      { items: [{ ...grant, user: undefined }], count: 1, limit: 1, next: undefined },
    ])
      assert.deepEqual(written(listGrants.output!, page), viaZod(listGrants.output!, page));
    const answer = { ...grant, wasCreated: true };
    assert.deepEqual(written(createGrant.output!, answer), viaZod(createGrant.output!, answer));
  });

  it('hand what it does not model to zod, which drops undeclared fields there too', () => {
    const entry = {
      seq: 1,
      at,
      actor: { id: null, name: 'anonymous', password: 'x' },
      action: 'login',
      target: { kind: 'user', id: null, name: null },
      sourceIp: '127.0.0.1',
      result: 'failure',
      details: { reason: 'wrong password' },
      hash: 'abc',
    };
    const page = { items: [entry], count: 1, limit: 1 };
    assert.deepEqual(written(listAudit.output!, page), viaZod(listAudit.output!, page));
    const key = {
      id: 'key_1',
      name: 'ci',
      userID: 'usr_1',
      userName: 'a@example.com',
      issuedVia: 'api',
      created: at,
      expires: at,
      inactivityTimeout: null,
      lastUsed: null,
      destination: null,
      current: false,
      secretHash: 'never',
    };
    const keys = { items: [key], count: 1, limit: 10 };
    assert.deepEqual(written(listAccessKeys.output!, keys), viaZod(listAccessKeys.output!, keys));
  });

  it('refuses a value of the wrong kind rather than sending it', () => {
    const write = compileSerializer(listUsers.output!);
    assert.throws(() => write({ items: [{ id: 1 }], count: 1, limit: 1 }), TypeError);
    assert.throws(() => write({ items: 'x', count: 1, limit: 1 }), TypeError);
    assert.throws(
      () =>
        write({
          items: [
            {
              id: 'u',
              name: 'n',
              created: at,
              updated: at,
              lastSeenAt: null,
              managedBy: 'root',
            },
          ],
          count: 1,
          limit: 1,
        }),
      TypeError,
    );
  });
});
