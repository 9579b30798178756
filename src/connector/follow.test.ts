/**
 * The follower's retry schedule, on a scripted feed and mocked timers: what it does while the
 * server is away, how soon it catches up when the server is back, what it logs, and when it
 * fails closed. The whole loop runs; only the server and time are simulated.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { NotModified, type ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import { createLogger } from '../shared/logger.js';
import { TestClock } from '../../test/clock.js';
import { LogSink } from '../../test/server.js';
import type { AccessState } from './access.js';
import {
  AccessFollower,
  FEED_TIMEOUT_MS,
  PROBE_TIMEOUT_MS,
  refusedByServer,
  retryDelay,
  type Contact,
} from './follow.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4443'), {
  code: 'ECONNREFUSED',
});

/** The server as the follower sees it: up or failing, with long polls held until a change. */
class ScriptedFeed {
  updateIndex = 1;
  /** What an attempt gets while the server is away; undefined: it answers. */
  failure: unknown;
  readonly attempts: Array<{ at: number; poll: boolean }> = [];
  readonly timeouts: number[] = [];
  #held: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  readonly clock: TestClock;
  constructor(clock: TestClock) {
    this.clock = clock;
  }

  client = (timeoutMs: number): Pick<ApiClient, 'getAccessFeed'> => {
    this.timeouts.push(timeoutMs);
    return { getAccessFeed: (input) => this.#get(input) };
  };

  async #get(input: { lastUpdateIndex?: unknown; wait?: unknown }) {
    // A probe after a failure asks for changes without waiting.
    const poll = input.lastUpdateIndex !== undefined && input.wait === '60s';
    this.attempts.push({ at: this.clock.now(), poll });
    if (this.failure !== undefined) throw this.failure;
    if (!poll && input.lastUpdateIndex === this.updateIndex) throw new NotModified();
    if (poll && input.lastUpdateIndex === this.updateIndex) {
      await new Promise<void>((resolve, reject) => this.#held.push({ resolve, reject }));
      if (this.failure !== undefined) throw this.failure;
      if (input.lastUpdateIndex === this.updateIndex) throw new NotModified();
    }
    return {
      kind: 'full' as const,
      updateIndex: this.updateIndex,
      destination: 'prod',
      grants: [],
      users: [],
      revokedSessions: [],
      removedUsers: [],
    };
  }

  /** A change on the server: held polls answer. */
  change(): void {
    this.updateIndex++;
    for (const h of this.#held.splice(0)) h.resolve();
  }

  /** The server goes away: held polls fail as their connections close, later attempts fail. */
  goAway(failure: unknown = refused): void {
    this.failure = failure;
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    for (const h of this.#held.splice(0)) h.reject(reset);
  }

  /** The server answers with an error from now on, held polls included. */
  refuse(err: unknown): void {
    this.failure = err;
    for (const h of this.#held.splice(0)) h.resolve();
  }

  comeBack(): void {
    this.failure = undefined;
  }
}

describe('AccessFollower', () => {
  let clock: TestClock;
  let feed: ScriptedFeed;
  let logs: LogSink;
  let states: AccessState[];
  let contacts: Contact[];
  let follower: AccessFollower | undefined;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    clock = new TestClock();
    feed = new ScriptedFeed(clock);
    logs = new LogSink();
    states = [];
    contacts = [];
  });
  afterEach(() => {
    follower?.stop();
    mock.timers.reset();
  });

  const start = (failClosedAfterMs = 0) => {
    follower = new AccessFollower({
      client: feed.client,
      destination: 'prod',
      log: createLogger({ level: 'debug', json: true, destination: logs }),
      clock,
      onState: (s) => states.push(s),
      onContact: (c) => contacts.push(c),
      failClosedAfterMs,
    });
    follower.start();
    return follower;
  };
  const settle = () => new Promise((r) => setImmediate(r));
  /** Moves time on in small steps, letting the follower run at each. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += 10) {
      clock.advance(10);
      mock.timers.tick(10);
      await settle();
    }
  };
  const logged = (level: number, pattern: RegExp) =>
    logs.lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === level && pattern.test(l.msg));
  const WARN = 40;
  const INFO = 30;
  const ERROR = 50;

  it('waits on a long poll with a timeout beyond its wait, and probes with a short one', async () => {
    start();
    await advance(10);
    assert.deepEqual(feed.timeouts.sort(), [PROBE_TIMEOUT_MS, FEED_TIMEOUT_MS].sort());
    assert.ok(FEED_TIMEOUT_MS > 60_000, 'the server holds a poll up to 60 s');
    assert.deepEqual(
      feed.attempts.map((a) => a.poll),
      [false, true],
      'a probe for the state, then a long poll',
    );
    assert.equal(states.length, 1);
  });

  it('probes about every second while the server is away, and is current within a second of its return', async () => {
    start();
    await advance(10);
    const first = feed.attempts.length;
    feed.goAway();
    await settle();
    const lostAt = clock.now();
    await advance(30_000);
    const during = feed.attempts.slice(first);
    const gaps = during.slice(1).map((a, i) => a.at - during[i]!.at);
    assert.ok(gaps.length >= 30, `${gaps.length} attempts in 30 s`);
    assert.ok(Math.max(...gaps) <= 1000, `gaps ${gaps.join()}`);
    assert.ok(Math.min(...gaps) >= 120, `gaps ${gaps.join()}`);
    assert.ok(
      during.every((a) => !a.poll),
      'probes, not long polls',
    );
    assert.equal(follower!.lostSince, lostAt);
    assert.deepEqual(contacts, ['lost']);
    assert.equal(states.length, 1, 'the last state stays in force');
    // One warning for the whole outage.
    assert.equal(logged(WARN, /cannot reach the Infra server/).length, 1);

    // Back, and a grant is revoked at once: the follower has the new state within a second.
    feed.comeBack();
    feed.change();
    const back = clock.now();
    while (states.length === 1) {
      assert.ok(clock.now() - back <= 1000, 'not current within a second of the return');
      await advance(10);
    }
    assert.equal(states[1]!.updateIndex, feed.updateIndex);
    assert.equal(follower!.lostSince, undefined);
    assert.deepEqual(contacts, ['lost', 'in-contact']);
    const [recovered] = logged(INFO, /answers again after/);
    assert.ok(recovered, logs.text);
    assert.match(recovered.msg, /after 30(\.\d)?s/);
    // Probes brought the state (one that was already on its way at the return may have failed);
    // then back to one long poll.
    await advance(5000);
    const since = feed.attempts.filter((a) => a.at >= back).map((a) => a.poll);
    const firstPoll = since.indexOf(true);
    assert.ok(firstPoll >= 1 && firstPoll <= 2, `attempts since the return: ${since.join()}`);
    assert.deepEqual(since.slice(firstPoll), [true], 'one long poll once current');
  });

  it('honours the Retry-After of a server that answers 503', async () => {
    start();
    await advance(10);
    const first = feed.attempts.length;
    feed.refuse(new ApiError(503, { code: 'unavailable', message: 'database away' }, 2));
    await advance(20_000);
    const during = feed.attempts.slice(first);
    const gaps = during.slice(1).map((a, i) => a.at - during[i]!.at);
    assert.ok(gaps.length >= 8 && Math.min(...gaps) >= 2000, `gaps ${gaps.join()}`);
  });

  it('backs off to a minute when the server refuses the key, and tries again at once on retryNow', async () => {
    start();
    await advance(10);
    const first = feed.attempts.length;
    feed.refuse(new ApiError(401, { code: 'unauthenticated', message: 'unauthenticated' }));
    await advance(5 * 60_000);
    const during = feed.attempts.slice(first);
    const gaps = during.slice(1).map((a, i) => a.at - during[i]!.at);
    assert.ok(gaps.length <= 15, `${gaps.length} attempts in five minutes`);
    assert.ok(gaps.at(-1)! >= 40_000, `gaps ${gaps.join()}`);
    assert.equal(logged(WARN, /refuses the access feed/).length, 1);
    assert.equal(logged(WARN, /cannot reach/).length, 0);
    // A new key was read (SIGHUP): tried now, not at the end of the back-off.
    feed.comeBack();
    const before = feed.attempts.length;
    follower!.retryNow();
    await advance(10);
    assert.equal(feed.attempts.length, before + 2, 'a probe, then a long poll');
    assert.equal(follower!.lostSince, undefined);
  });

  it('fails closed after failClosedAfter without an answer, and opens when the server answers', async () => {
    start(5000);
    await advance(10);
    feed.goAway();
    await advance(4900);
    assert.equal(follower!.failingClosed, false);
    await advance(200);
    assert.equal(follower!.failingClosed, true);
    assert.deepEqual(contacts, ['lost', 'failed-closed']);
    assert.equal(logged(ERROR, /refusing every request/).length, 1);
    feed.comeBack();
    await advance(1000);
    assert.equal(follower!.failingClosed, false);
    assert.deepEqual(contacts, ['lost', 'failed-closed', 'in-contact']);
    // A later, shorter outage does not fail closed.
    feed.goAway();
    await advance(3000);
    feed.comeBack();
    await advance(3000);
    assert.equal(follower!.failingClosed, false);
    assert.deepEqual(contacts.slice(3), ['lost', 'in-contact']);
  });

  it('reads a snapshot page by page, then applies each delta to the state', async () => {
    const grant = (id: string, user: string) => ({
      id,
      user,
      userName: `${user}@example.com`,
      privilege: 'view',
      resource: 'prod',
      created: '',
      createdBy: null,
      expiresAt: null,
      managedBy: 'api' as const,
    });
    const empty = { destination: 'prod', revokedSessions: [], removedUsers: [] };
    const answers: Array<Awaited<ReturnType<ApiClient['getAccessFeed']>>> = [
      {
        ...empty,
        kind: 'snapshot',
        updateIndex: 5,
        next: 'p2',
        users: [],
        grants: [grant('g1', 'a')],
      },
      {
        ...empty,
        kind: 'snapshot',
        updateIndex: 5,
        next: null,
        grants: [],
        users: [{ id: 'a', name: 'a@example.com', groups: [] }],
      },
      {
        ...empty,
        kind: 'delta',
        updateIndex: 7,
        subjects: ['b'],
        grants: [grant('g2', 'b')],
        users: [{ id: 'b', name: 'b@example.com', groups: [] }],
        usersWithoutAccess: [],
      },
    ];
    const asked: unknown[] = [];
    follower = new AccessFollower({
      client: () => ({
        getAccessFeed: async (input) => {
          asked.push(input);
          const answer = answers[asked.length - 1];
          return answer ?? new Promise(() => {});
        },
      }),
      destination: 'prod',
      log: createLogger({ level: 'debug', json: true, destination: logs }),
      clock,
      onState: (s) => states.push(s),
    });
    follower.start();
    await advance(100);
    assert.deepEqual(asked, [
      { destination: 'prod', changes: true },
      { destination: 'prod', changes: true, page: 'p2' },
      { destination: 'prod', changes: true, lastUpdateIndex: 5, wait: '60s' },
      { destination: 'prod', changes: true, lastUpdateIndex: 7, wait: '60s' },
    ]);
    assert.equal(states.length, 2, 'the whole snapshot, then the delta');
    assert.deepEqual([...states[0]!.users.keys()], ['a']);
    assert.deepEqual([...states[1]!.users.keys()].sort(), ['a', 'b']);
    assert.deepEqual([...states[1]!.grants.keys()].sort(), ['g1', 'g2']);
    assert.equal(states[1]!.updateIndex, 7);
  });

  it('never fails closed by default', async () => {
    start();
    await advance(10);
    feed.goAway();
    await advance(20_000);
    assert.equal(follower!.failingClosed, false);
    assert.equal(states.length, 1);
  });
});

describe('retryDelay', () => {
  it('keeps a server that is away at most a second from the next probe, never less than 125 ms', () => {
    for (let failures = 1; failures < 40; failures++) {
      for (let i = 0; i < 50; i++) {
        const d = retryDelay(refused, failures);
        assert.ok(d >= 125 && d <= 1000, `${d} after ${failures} failures`);
      }
    }
  });

  it('tells a server that refuses from one that is away', () => {
    const status = (s: number) => new ApiError(s, { code: 'x', message: 'x' });
    const certificate = Object.assign(new Error('self-signed certificate'), {
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
    const timeout = new Error('no answer from the server within 70000 ms');
    for (const err of [refused, timeout, status(500), status(502), status(503), status(429)])
      assert.equal(refusedByServer(err), false, String(err));
    for (const err of [status(400), status(401), status(403), status(404), certificate])
      assert.equal(refusedByServer(err), true, String(err));
  });
});
