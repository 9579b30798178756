import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../shared/logger.js';
import { accessState } from './access.js';
import { BindingIndex, desiredBindings } from './rbac.js';

const sink = new Writable({ write: (_c, _e, cb) => cb() });
const log = createLogger({ level: 'warn', json: true, destination: sink });

const grant = (
  subject: { userName?: string; groupName?: string },
  privilege: string,
  resource: string,
) => ({
  id: `gnt_${privilege}_${resource}_${subject.userName ?? subject.groupName}`,
  ...subject,
  privilege,
  resource,
  created: '',
  createdBy: null,
  expiresAt: null,
  managedBy: 'api' as const,
});

describe('desiredBindings', () => {
  it('groups grants into one binding per role (and namespace), skipping connect and unknowns', () => {
    const state = accessState({
      updateIndex: 1,
      users: [],
      revokedSessions: [],
      removedUsers: [],
      grants: [
        grant({ userName: 'alice@example.com' }, 'view', 'prod'),
        grant({ groupName: 'devs' }, 'view', 'prod'),
        grant({ userName: 'bob@example.com' }, 'edit', 'prod.web'),
        grant({ groupName: 'devs' }, 'edit', 'prod.web'),
        grant({ userName: 'carol@example.com' }, 'connect', 'prod'),
        grant({ userName: 'carol@example.com' }, 'no-such-role', 'prod'),
        grant({ userName: 'carol@example.com' }, 'view', 'prod.no-such-namespace'),
        grant({ groupName: 'system:masters' }, 'view', 'prod'),
      ],
    });
    const bindings = desiredBindings(
      state,
      { namespaces: ['default', 'web'], roles: ['edit', 'view'] },
      log,
    );
    assert.deepEqual(Object.fromEntries(bindings), {
      '/infra:view': {
        namespace: undefined,
        role: 'view',
        subjects: [
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'devs' },
          { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' },
        ],
      },
      'web/infra:edit': {
        namespace: 'web',
        role: 'edit',
        subjects: [
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'devs' },
          { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob@example.com' },
        ],
      },
    });
  });
});

describe('BindingIndex', () => {
  const cluster = { namespaces: ['web'], roles: ['view'] };

  it('keeps a subject while any grant calls for it, and a binding while it has a subject', () => {
    const index = new BindingIndex(cluster, log);
    const direct = grant({ userName: 'alice@example.com' }, 'view', 'prod');
    const another = { ...grant({ userName: 'alice@example.com' }, 'view', 'prod'), id: 'x' };
    assert.equal(index.apply(direct, 1), '/infra:view');
    index.apply(another, 1);
    index.apply(direct, -1);
    assert.deepEqual(
      index.binding('/infra:view')?.subjects.map((s) => s.name),
      ['alice@example.com'],
    );
    index.apply(another, -1);
    assert.equal(index.binding('/infra:view'), undefined);
    assert.equal(index.apply(grant({ userName: 'a' }, 'connect', 'prod'), 1), undefined);
  });

  it('orders subjects by code unit, the same on every machine', () => {
    const index = new BindingIndex(cluster, log);
    for (const name of ['bob', 'Zed', 'alice', 'Émile'])
      index.apply(grant({ userName: name }, 'view', 'prod.web'), 1);
    assert.deepEqual(
      index.binding('web/infra:view')?.subjects.map((s) => s.name),
      ['Zed', 'alice', 'bob', 'Émile'],
    );
  });
});
