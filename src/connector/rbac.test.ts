import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../shared/logger.js';
import { accessState } from './access.js';
import { desiredBindings } from './rbac.js';

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
