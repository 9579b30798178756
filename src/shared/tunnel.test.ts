import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { TUNNEL_PING_MS, TUNNEL_PING_TIMEOUT_MS, isStreamingRequest, keepAlive } from './tunnel.js';

function fakeSession(answer: boolean) {
  const session = {
    closed: false,
    destroyed: false,
    pings: 0,
    destroyedWith: undefined as Error | undefined,
    onClose: [] as Array<() => void>,
    ping(cb: (err: Error | null) => void) {
      if (this.destroyed) throw new Error('ERR_HTTP2_INVALID_SESSION');
      this.pings++;
      if (answer) cb(null);
      return true;
    },
    destroy(err?: Error) {
      this.destroyed = true;
      this.destroyedWith = err;
    },
    once(_event: 'close', cb: () => void) {
      this.onClose.push(cb);
    },
  };
  return session;
}

describe('tunnel keep-alive', () => {
  it('pings, drops a tunnel whose ping goes unanswered, and never pings an ended session', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
    try {
      const alive = fakeSession(true);
      keepAlive(alive);
      mock.timers.tick(TUNNEL_PING_MS * 3 + TUNNEL_PING_TIMEOUT_MS);
      assert.equal(alive.pings, 3);
      assert.equal(alive.destroyed, false);

      const silent = fakeSession(false);
      keepAlive(silent);
      mock.timers.tick(TUNNEL_PING_MS);
      mock.timers.tick(TUNNEL_PING_TIMEOUT_MS);
      assert.match(String(silent.destroyedWith), /did not answer a ping/);

      // Ended without its close event yet: the next tick must not throw.
      const ended = fakeSession(true);
      keepAlive(ended);
      ended.destroyed = true;
      assert.doesNotThrow(() => mock.timers.tick(TUNNEL_PING_MS * 2));
      assert.equal(ended.pings, 0);
    } finally {
      mock.timers.reset();
    }
  });

  it('knows the requests whose answers stream', () => {
    assert.equal(isStreamingRequest('/api/v1/pods?watch=true'), true);
    assert.equal(isStreamingRequest('/api/v1/namespaces/a/pods/b/log?follow=1'), true);
    assert.equal(isStreamingRequest('/api/v1/watch/pods'), true);
    assert.equal(isStreamingRequest('/api/v1/pods?watchers=true'), false);
    assert.equal(isStreamingRequest('/api/v1/pods'), false);
  });
});
