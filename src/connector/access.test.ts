import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpenStreams, accessState, decide } from './access.js';

const feed = {
  updateIndex: 7,
  destination: 'prod',
  grants: [],
  users: [
    { id: 'usr_a', name: 'alice@example.com', groups: ['devs', 'system:masters'] },
    { id: 'usr_b', name: 'bob@example.com', groups: [] },
  ],
  revokedSessions: ['key_revoked'],
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

describe('OpenStreams', () => {
  it('closes the streams of users who lost access or whose groups changed, and only those', () => {
    const streams = new OpenStreams();
    const closed: string[] = [];
    const open = (name: string, userId: string, groups: string[], sessionId = 'key_ok') =>
      streams.add({ claims: claims(userId, sessionId), groups, close: () => closed.push(name) });
    open('alice', 'usr_a', ['devs']);
    open('bob', 'usr_b', []);
    open('carol', 'usr_c', []);
    open('alice-old-session', 'usr_a', ['devs'], 'key_x');
    const next = accessState({
      ...feed,
      users: [
        { id: 'usr_a', name: 'alice@example.com', groups: ['devs'] },
        { id: 'usr_b', name: 'bob@example.com', groups: ['ops'] },
      ],
      revokedSessions: ['key_x'],
    });
    assert.equal(streams.review(next, 'prod'), 3);
    assert.deepEqual(closed.sort(), ['alice-old-session', 'bob', 'carol']);
    assert.equal(streams.size, 1);
  });
});
