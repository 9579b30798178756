import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../src/shared/logger.js';
import { loadOrCreateSelfSigned } from '../src/shared/tls/self-signed.js';
import { startFakeKube, type FakeKube } from './fake-kube/server.js';
import { startAdminServer } from './identity.js';
import { freePort } from './pebble.js';
import { startServerProcess } from './server-process.js';
import type { ApiClient } from '../src/api/client.js';
import type { TestServer } from './server.js';

// What each process loads decides how fast it starts and how much memory it holds (see
// docs/benchmarks.md): these tests keep what a configuration does not use from creeping back in.
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin', 'infra.cjs');
const counter = path.join(root, 'test', 'count-modules.mjs');

/** Environment that makes a node process write the npm packages it loaded to a file at exit. */
function counting(): { env: Record<string, string>; packages(output?: string): string[] } {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-modules-')), 'modules');
  writeFileSync(file, '');
  return {
    env: { NODE_OPTIONS: `--import=${counter}`, INFRA_MODULES_OUT: file },
    packages: (output = '') => {
      const line = readFileSync(file, 'utf8').trim().split('\n').pop();
      assert.ok(line, `the process wrote what it loaded; its output:\n${output}`);
      return (JSON.parse(line) as { packages: string[] }).packages;
    },
  };
}

/** Packages only some configurations use: a default setup (SQLite, no ACME) loads none. */
const UNUSED_BY_DEFAULT = [
  '@kubernetes/client-node',
  '@peculiar/x509',
  'acme-client',
  'axios',
  'node-forge',
  'openid-client',
  'pg',
  'pino-pretty',
];

describe('what a process loads', () => {
  it('`infra --version` loads nothing from node_modules (commander is in the bundle)', () => {
    const c = counting();
    const r = spawnSync(process.execPath, [bin, '--version'], {
      env: { ...process.env, ...c.env },
    });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(c.packages(), []);
  });

  it('`infra server` on SQLite, started on existing state, loads no driver or SDK it does not use', async () => {
    const first = await startServerProcess({});
    await first.kill();
    const c = counting();
    // Listening: started, with its database, keys and certificate read. An answer shows it also
    // handles SIGTERM by now (the exit writes the list).
    const again = await startServerProcess({ stateDir: first.stateDir, env: c.env });
    await again.client().getVersion();
    await again.kill();
    const loaded = c.packages(again.output());
    assert.ok(loaded.includes('better-sqlite3') && loaded.includes('pino'), loaded.join(' '));
    assert.deepEqual(
      UNUSED_BY_DEFAULT.filter((p) => loaded.includes(p)),
      [],
    );
  });

  describe('`infra connector`', () => {
    let server: TestServer;
    let admin: ApiClient;
    let kube: FakeKube;
    before(async () => {
      ({ server, admin } = await startAdminServer('sqlite'));
      kube = await startFakeKube();
    });
    after(async () => {
      await kube.close();
      await server.close();
    });

    it('with a kubeconfig and its certificate in place, loads no Kubernetes client library', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'infra-connector-modules-'));
      const quiet = createLogger({
        level: 'error',
        json: true,
        destination: new Writable({ write: (_c, _e, cb) => cb() }),
      });
      await loadOrCreateSelfSigned(dir, ['127.0.0.1'], Date.now(), quiet, 'Infra Connector CA');
      writeFileSync(path.join(dir, 'kubeconfig'), kube.kubeconfig(kube.adminToken));
      const connectorUser = (await admin.listUsers({ name: 'connector', showSystem: true }))
        .items[0]!;
      const key = (
        await admin.createAccessKey({ userID: connectorUser.id, name: 'lean', expiry: '1h' })
      ).accessKey;
      const port = await freePort();
      const c = counting();
      const child = spawn(
        process.execPath,
        [
          bin,
          'connector',
          '--name',
          'lean',
          '--endpoint',
          `https://127.0.0.1:${port}`,
          '--state-dir',
          dir,
          '--kubeconfig',
          path.join(dir, 'kubeconfig'),
          '--addr-https',
          `127.0.0.1:${port}`,
          '--server-url',
          server.url,
          '--server-access-key',
          `plaintext:${key}`,
          '--server-trusted-certificate',
          server.ca,
          '--log-format',
          'json',
        ],
        { env: { PATH: process.env.PATH, HOME: dir, ...c.env }, stdio: 'ignore' },
      );
      const exited = new Promise((resolve) => child.on('exit', resolve));
      try {
        // Registered: it listed the cluster's namespaces and roles over its own client.
        for (let i = 0; (await admin.listDestinations({ name: 'lean' })).items.length === 0; i++) {
          assert.ok(i < 400, 'the connector registered within 20 s');
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      const loaded = c.packages();
      assert.ok(loaded.includes('pino'), loaded.join(' '));
      assert.deepEqual(
        UNUSED_BY_DEFAULT.filter((p) => loaded.includes(p)),
        [],
      );
    });
  });
});
