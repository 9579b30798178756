import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiError } from '../../src/api/errors.js';
import { rawRequest } from '../http.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';

// The embedded database under faults: a kill -9 under write load, another process holding its
// lock, a full disk, a read-only state directory. No acknowledged write is lost, the server
// neither freezes nor exits, and answers say what happened.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.code}` : `network: ${String(err)}`;
  }
}

/** Mounts a small tmpfs (tests run as root, as CI does), so the disk can really fill up. */
function smallDisk(megabytes: number): {
  dir: string;
  remount(options: string): void;
  unmount(): void;
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remount: (options) => execFileSync('mount', ['-o', `remount,${options}`, dir]),
    unmount() {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('SQLite faults', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.kill('SIGKILL');
  });

  it('loses no acknowledged write when killed with SIGKILL under write load', async () => {
    const first = await startServerProcess({});
    servers.push(first);
    const key = await first.adminKey();
    const acknowledged: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const name = `k-${w}-${i}`;
        if ((await outcome(first.client(key).createGroup({ name }))) === 'ok')
          acknowledged.push(name);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));
    await sleep(1000);
    await first.kill('SIGKILL');
    stop = true;
    await load;
    assert.ok(acknowledged.length > 0);

    const again = await startServerProcess({ stateDir: first.stateDir });
    servers.push(again);
    const admin = again.client(await again.adminKey());
    const stored = new Set<string>();
    let next: string | undefined;
    do {
      const page = await admin.listGroups({ limit: 1000, after: next });
      for (const g of page.items) stored.add(g.name);
      next = page.next;
    } while (next);
    assert.deepEqual(
      acknowledged.filter((n) => !stored.has(n)),
      [],
    );
    assert.equal((await admin.verifyAudit({})).valid, true);
  });

  it('keeps answering while another process holds the database lock, then recovers', async () => {
    const server = await startServerProcess({});
    servers.push(server);
    const key = await server.adminKey();
    const admin = server.client(key);
    await admin.createGroup({ name: 'before-lock' });

    // Another process takes the write lock and holds it for three seconds.
    const locker = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]);
         db.exec('begin exclusive'); process.stdout.write('locked\\n');
         setTimeout(() => { db.exec('commit'); process.stdout.write('released\\n'); }, 3000);`,
        path.join(server.stateDir, 'infra.db'),
      ],
      { cwd: path.resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let lockerOut = '';
    locker.stdout!.on('data', (d: Buffer) => (lockerOut += d.toString()));
    while (!lockerOut.includes('locked')) await sleep(10);

    const health = await rawRequest(`${server.url}/healthz`, { ca: server.ca });
    assert.equal(health.status, 200);
    assert.deepEqual(
      (await admin.listGroups({ name: 'before-lock' })).items.map((g) => g.name),
      ['before-lock'],
      'reads keep answering',
    );
    const write = await rawRequest(`${server.url}/api/groups`, {
      method: 'POST',
      ca: server.ca,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'during-lock' }),
    });
    assert.ok(lockerOut.includes('locked') && !lockerOut.includes('released'), 'still locked');
    assert.equal(write.status, 503, write.body);
    assert.equal(write.json<{ code: string }>().code, 'unavailable');
    assert.ok(Number(write.headers['retry-after']) >= 1);

    await new Promise((resolve) => locker.on('exit', resolve));
    await admin.createGroup({ name: 'after-lock' });
    assert.equal((await admin.listGroups({ name: 'during-lock' })).count, 0);
    assert.equal(server.exited(), undefined);
    assert.doesNotMatch(server.output(), /internal server error/);
  });

  it('answers 503 while the disk is full, logs the cause once, and recovers by itself', async () => {
    const disk = smallDisk(16);
    try {
      const server = await startServerProcess({ stateDir: path.join(disk.dir, 'state') });
      servers.push(server);
      const admin = server.client(await server.adminKey());
      await admin.createGroup({ name: 'before-full' });
      // Fill what is left of the disk.
      const filler = path.join(disk.dir, 'filler');
      const chunk = Buffer.alloc(256 * 1024, 1);
      for (let i = 0; ; i++) {
        try {
          writeFileSync(`${filler}-${i}`, chunk);
        } catch {
          break;
        }
      }
      const outcomes = new Map<string, number>();
      for (let i = 0; i < 20; i++) {
        const o = await outcome(
          admin.createGroup({ name: `full-${i}-${'x'.repeat(200)}`.slice(0, 200) }),
        );
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }
      assert.ok(outcomes.has('503 unavailable'), [...outcomes].join('; '));
      for (const o of outcomes.keys()) assert.match(o, /^(ok|503 unavailable)$/);
      const logged = server.output().match(/the database is unavailable: its disk is full/g) ?? [];
      assert.equal(logged.length, 1, 'the cause is logged once per episode');
      assert.doesNotMatch(server.output(), /cannot rollback/);
      const notReady = await rawRequest(`${server.url}/readyz`, { ca: server.ca });
      assert.equal(notReady.status, 503);
      assert.match(notReady.body, /database: unavailable: its disk is full/);

      execFileSync('sh', ['-c', `rm -f ${filler}-*`]);
      // Readiness tries a write itself (nothing else would once traffic stops coming), once
      // failures have stopped for a moment.
      let ready = 0;
      for (let i = 0; i < 100 && ready !== 200; i++) {
        ready = (await rawRequest(`${server.url}/readyz`, { ca: server.ca })).status;
        if (ready !== 200) await sleep(100);
      }
      assert.equal(ready, 200);
      await admin.createGroup({ name: 'after-full' });
      assert.match(server.output(), /the database answers again/);
      assert.equal(server.exited(), undefined);
    } finally {
      disk.unmount();
    }
  });

  it('names the path and the fix when the state directory is read-only', async () => {
    const disk = smallDisk(16);
    try {
      const stateDir = path.join(disk.dir, 'state');
      mkdirSync(stateDir);
      const first = await startServerProcess({ stateDir });
      await first.kill();
      disk.remount('ro');
      const err = await startServerProcess({ stateDir }).then(
        () => assert.fail('started on a read-only state directory'),
        (e: Error) => e.message,
      );
      assert.match(
        err,
        new RegExp(
          `${path.join(stateDir, 'infra.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*read-only.*writable`,
        ),
      );
      assert.doesNotMatch(err, /\n\s+at /, 'one sentence, no stack trace');
    } finally {
      disk.unmount();
    }
  });
});
