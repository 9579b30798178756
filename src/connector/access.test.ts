import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENDED_SESSION_MEMORY_MS, OpenStreams, accessState, applyDelta, decide } from './access.js';

const feed = {
  updateIndex: 7,
  destination: 'prod',
  grants: [],
  users: [
    { id: 'usr_a', name: 'alice@example.com', groups: ['devs', 'system:masters'] },
    { id: 'usr_b', name: 'bob@example.com', groups: [] },
  ],
  revokedSessions: ['key_revoked', 'key_of_removed'],
  removedUsers: ['usr_removed'],
};
const claims = (userId: string, sessionId = 'key_ok') => ({
  userId,
  name: 'x',
  sessionId,
  expiresAt: 0,
});

describe('decide', () => {
  const state = accessState(feed);

  it('lets a user with access through, as the feed knows them, never with system: groups', () => {
    assert.deepEqual(decide(state, claims('usr_a'), 'prod'), {
      allowed: true,
      user: 'alice@example.com',
      groups: ['devs'],
    });
  });

  it('refuses a revoked session with 401 and a user without access with 403', () => {
    assert.deepEqual(decide(state, claims('usr_a', 'key_revoked'), 'prod'), {
      allowed: false,
      status: 401,
      message: 'your Infra session has ended; run `infra login`',
    });
    assert.equal((decide(state, claims('usr_gone'), 'prod') as { status: number }).status, 403);
  });

  it('says a removed user was removed: logging in again cannot help them', () => {
    assert.deepEqual(decide(state, claims('usr_removed', 'key_of_removed'), 'prod'), {
      allowed: false,
      status: 401,
      message:
        'your Infra user was removed by an admin; ask an Infra admin if you still need access',
    });
  });

  it('answers 503 before the first feed answer', () => {
    assert.equal((decide(undefined, claims('usr_a'), 'prod') as { status: number }).status, 503);
  });
});

describe('accessState', () => {
  it('drops names no header can carry, and says which', () => {
    const state = accessState({
      ...feed,
      users: [
        { id: 'usr_a', name: 'alice@example.com', groups: ['devs', 'bad\r\nImpersonate-Group: x'] },
        { id: 'usr_b', name: 'bob\n@example.com', groups: [] },
        { id: 'usr_c', name: 'carol@example.com', groups: ['運用'] },
      ],
    });
    assert.deepEqual(state.users.get('usr_a')?.groups, ['devs']);
    assert.equal(state.users.has('usr_b'), false);
    assert.deepEqual(state.users.get('usr_c')?.groups, ['運用']);
    assert.deepEqual(state.unsendable, [
      'group bad\r\nImpersonate-Group: x',
      'user bob\n@example.com',
    ]);
  });
});

const grant = (
  subject: { userName?: string; groupName?: string },
  privilege: string,
  resource: string,
) => ({
  id: `gnt_${privilege}_${resource}_${subject.userName ?? subject.groupName}`,
  ...subject,
  privilege,
  resource,
  created: '2024-01-01T00:00:00Z',
  createdBy: null,
  expiresAt: null,
  managedBy: 'api' as const,
});

describe('OpenStreams', () => {
  const base: Parameters<typeof accessState>[0] = {
    ...feed,
    revokedSessions: [],
    removedUsers: [],
    users: [
      { id: 'usr_a', name: 'alice@example.com', groups: ['devs'] },
      { id: 'usr_b', name: 'bob@example.com', groups: [] },
    ],
    grants: [
      grant({ userName: 'alice@example.com' }, 'view', 'prod'),
      grant({ userName: 'alice@example.com' }, 'edit', 'prod.web'),
      grant({ groupName: 'devs' }, 'logs', 'prod'),
      grant({ userName: 'bob@example.com' }, 'view', 'prod'),
    ],
  };
  const withChange = (change: Partial<typeof base>) => accessState({ ...base, ...change });

  /** Streams of alice and bob opened under `base`, already synced to RBAC. */
  function opened() {
    const streams = new OpenStreams();
    const state = accessState(base);
    streams.closeReduced(state, state, true);
    const closed: string[] = [];
    const open = (name: string, userId: string, sessionId = 'key_ok') =>
      streams.add({ claims: claims(userId, sessionId), close: () => closed.push(name) }, state);
    open('alice', 'usr_a');
    open('alice-2', 'usr_a', 'key_2');
    open('bob', 'usr_b');
    return { streams, closed, state };
  }

  it('closes at once the streams of users who lost access or whose session ended', () => {
    const { streams, closed } = opened();
    const next = withChange({ users: [base.users[0]!], revokedSessions: ['key_2'] });
    assert.equal(streams.closeRefused(next, 'prod'), 2);
    assert.deepEqual(closed.sort(), ['alice-2', 'bob']);
    assert.equal(streams.size, 1);
  });

  for (const [what, change] of [
    [
      'a grant removed',
      {
        grants: base.grants.filter(
          (g) => g.privilege !== 'view' || g.userName !== 'alice@example.com',
        ),
      },
    ],
    [
      'a role lowered',
      {
        grants: base.grants.map((g) => (g.privilege === 'edit' ? { ...g, privilege: 'view' } : g)),
      },
    ],
    ['a group left', { users: [{ ...base.users[0]!, groups: [] }, base.users[1]!] }],
    ['a group grant removed', { grants: base.grants.filter((g) => g.groupName !== 'devs') }],
  ] as Array<[string, Partial<typeof base>]>) {
    it(`closes every stream of a user whose access shrank (${what}), only once RBAC has it`, () => {
      const { streams, closed } = opened();
      const next = withChange(change);
      assert.equal(streams.closeRefused(next, 'prod'), 0, 'alice may still use the cluster');
      assert.equal(streams.closeReduced(next, next, true), 2);
      assert.deepEqual(closed.sort(), ['alice', 'alice-2']);
      assert.equal(streams.size, 1, "bob's stream stays");
    });
  }

  it('keeps streams when access grows or another user changes', () => {
    const { streams, closed } = opened();
    const next = withChange({
      users: [{ ...base.users[0]!, groups: ['devs', 'ops'] }, base.users[1]!],
      grants: [...base.grants, grant({ groupName: 'ops' }, 'exec', 'prod')],
    });
    assert.equal(streams.closeReduced(next, next, true), 0);
    assert.deepEqual(closed, []);
  });

  it('closes a stream opened while RBAC still had a removed grant, once RBAC has caught up', () => {
    const { streams, closed, state } = opened();
    const reduced = withChange({ grants: base.grants.filter((g) => g.privilege !== 'edit') });
    streams.closeReduced(reduced, reduced, false); // the write failed: RBAC may still allow edit
    closed.length = 0;
    streams.add({ claims: claims('usr_a'), close: () => closed.push('reopened') }, reduced);
    assert.equal(streams.closeReduced(reduced, reduced, true), 1);
    assert.deepEqual(closed, ['reopened']);
    // A stream opened before any sync is closed by the first one: RBAC was unknown.
    const fresh = new OpenStreams();
    fresh.add({ claims: claims('usr_b'), close: () => closed.push('early') }, state);
    assert.equal(fresh.closeReduced(state, state, true), 1);
  });
});

describe('applyDelta', () => {
  const withIds = (g: ReturnType<typeof grant>, id: string) =>
    g.userName ? { ...g, user: id } : { ...g, group: id };
  const base: Parameters<typeof accessState>[0] = {
    updateIndex: 10,
    revokedSessions: ['key_old'],
    removedUsers: [],
    users: [
      { id: 'usr_a', name: 'alice@example.com', groups: ['devs'] },
      { id: 'usr_b', name: 'bob@example.com', groups: [] },
    ],
    grants: [
      withIds(grant({ userName: 'alice@example.com' }, 'view', 'prod'), 'usr_a'),
      withIds(grant({ userName: 'alice@example.com' }, 'edit', 'prod.web'), 'usr_a'),
      withIds(grant({ groupName: 'devs' }, 'logs', 'prod'), 'grp_d'),
      withIds(grant({ userName: 'bob@example.com' }, 'view', 'prod'), 'usr_b'),
    ],
  };
  const none = { grants: [], users: [], revokedSessions: [], removedUsers: [] };

  it('replaces the grants of the subjects it names, and leaves the previous state as it was', () => {
    const before = accessState(base, 0);
    const [, edit] = base.grants;
    const after = applyDelta(
      before,
      { ...none, updateIndex: 12, subjects: ['usr_a'], grants: [edit!], usersWithoutAccess: [] },
      0,
    );
    assert.equal(after.updateIndex, 12);
    assert.deepEqual(after.grantsBySubject.get('user:alice@example.com'), ['edit:prod.web']);
    assert.deepEqual(before.grantsBySubject.get('user:alice@example.com'), [
      'view:prod',
      'edit:prod.web',
    ]);
    assert.equal(after.grants.size, 3);
    assert.equal(before.grants.size, 4);
    assert.deepEqual(
      after.change?.removed.map((g) => g.id).sort(),
      [base.grants[0]!.id, edit!.id].sort(),
    );
    // Open streams compare the two: alice lost `view`.
    const streams = new OpenStreams();
    streams.closeReduced(before, before, true);
    const closed: string[] = [];
    streams.add({ claims: claims('usr_a'), close: () => closed.push('alice') }, before);
    assert.equal(streams.closeReduced(after, after, true), 1);
    assert.deepEqual(closed, ['alice']);
  });

  it('drops users without access, updates those it lists, and refuses sessions that ended', () => {
    const state = applyDelta(
      accessState(base, 0),
      {
        ...none,
        updateIndex: 11,
        subjects: ['usr_b'],
        usersWithoutAccess: ['usr_b'],
        users: [{ id: 'usr_a', name: 'alice@example.com', groups: [] }],
        revokedSessions: ['key_new'],
      },
      1000,
    );
    assert.equal((decide(state, claims('usr_b'), 'prod') as { status: number }).status, 403);
    assert.deepEqual(decide(state, claims('usr_a'), 'prod'), {
      allowed: true,
      user: 'alice@example.com',
      groups: [],
    });
    assert.equal(
      (decide(state, claims('usr_a', 'key_new'), 'prod') as { status: number }).status,
      401,
    );
    assert.equal(
      (decide(state, claims('usr_a', 'key_old'), 'prod') as { status: number }).status,
      401,
    );
    // Ended sessions are forgotten once every token they minted has expired.
    const later = applyDelta(
      state,
      { ...none, updateIndex: 13, subjects: [], usersWithoutAccess: [] },
      ENDED_SESSION_MEMORY_MS + 500,
    );
    assert.deepEqual([...later.revokedSessions.keys()], ['key_new']);
  });
});
