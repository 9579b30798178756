import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn as spawnPty } from 'node-pty';
import type { KubeEvent } from '../api/kube-audit.js';
import {
  kubectl,
  kubectlStream,
  startCluster,
  userWorkstation,
  type Cluster,
} from '../../test/cluster.js';
import { createSignedInUser, type SignedIn } from '../../test/identity.js';
import type { Workstation } from '../../test/cli.js';
import { pollFor as until } from '../../test/poll.js';

// Real kubectl through the connector to the fake apiserver: what alice does is recorded as
// audit.k8s.io events, delivered to the server, and her exec session as a recording.

describe('Kubernetes request audit through the connector', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let alice: SignedIn;
  let ws: Workstation;

  before(async () => {
    cluster = await startCluster('sqlite');
    alice = await createSignedInUser(cluster.server, cluster.admin, 'alice@example.com');
    await cluster.admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod.web' });
    await cluster.connectorCaughtUp();
    ws = await userWorkstation(
      cluster,
      (await alice.client.createAccessKey({ expiry: '24h' })).accessKey,
    );
    assert.equal((await ws.run('use', 'prod.web')).code, 0);
  });
  // After a restart the server is another object than the one `cluster.close` knows.
  after(async () => {
    await cluster.close();
    await cluster.server.close();
  });

  /** Alice's events so far, oldest first. */
  async function aliceEvents(): Promise<KubeEvent[]> {
    const page = await cluster.admin.listKubeEvents({ user: alice.id, limit: 1000 });
    return page.items.reverse();
  }

  it('records list, get, watch, delete and a refused request with their objectRef and status', async () => {
    assert.equal((await kubectl(ws, ['get', 'pods'])).code, 0);
    assert.equal((await kubectl(ws, ['get', 'pod', 'web-1', '-o', 'name'])).code, 0);
    const denied = await kubectl(ws, ['get', 'secrets', '-n', 'default']);
    assert.match(denied.stderr, /forbidden/);
    const watch = kubectlStream(ws, ['get', 'pods', '--watch', '--request-timeout', '15s']);
    await until('the watch prints', 15_000, async () =>
      /web-1/.test(watch.output()) ? true : undefined,
    );
    watch.child.kill();
    await watch.exited;
    assert.equal((await kubectl(ws, ['delete', 'pod', 'web-1', '--wait=false'])).code, 0);

    const events = await until('the events reach the server', 15_000, async () => {
      const all = await aliceEvents();
      const done = all.filter((e) => e.verb === 'watch' && e.stage === 'ResponseComplete');
      return done.length > 0 && all.some((e) => e.verb === 'delete') ? all : undefined;
    });
    // Discovery is not audited.
    assert.deepEqual(
      events.filter((e) => /^\/(api|apis)(\/[^/]+){0,2}(\?.*)?$/.test(e.requestURI)),
      [],
    );
    const one = (verb: string, resource: string) => {
      const found = events.find(
        (e) =>
          e.verb === verb && e.objectRef?.resource === resource && e.stage === 'ResponseComplete',
      );
      assert.ok(
        found,
        `${verb} ${resource} in ${events.map((e) => `${e.verb} ${e.requestURI}`).join(', ')}`,
      );
      return found;
    };
    const list = one('list', 'pods');
    assert.deepEqual(list.objectRef, { resource: 'pods', namespace: 'web', apiVersion: 'v1' });
    assert.equal(list.responseStatus?.code, 200);
    assert.equal(list.destination, 'prod');
    assert.equal(list.user.username, 'alice@example.com');
    assert.equal(list.user.uid, alice.id);
    assert.deepEqual(list.impersonatedUser, { username: 'alice@example.com', groups: [] });
    assert.deepEqual(list.sourceIPs, ['127.0.0.1']);
    assert.match(list.userAgent ?? '', /^kubectl\//);
    assert.equal(list.kind, 'Event');
    assert.equal(list.apiVersion, 'audit.k8s.io/v1');

    const get = one('get', 'pods');
    assert.deepEqual(get.objectRef, {
      resource: 'pods',
      namespace: 'web',
      name: 'web-1',
      apiVersion: 'v1',
    });
    assert.equal(get.responseStatus?.code, 200);

    const refused = one('list', 'secrets');
    assert.deepEqual(refused.objectRef, {
      resource: 'secrets',
      namespace: 'default',
      apiVersion: 'v1',
    });
    assert.equal(refused.responseStatus?.code, 403);

    const deleted = one('delete', 'pods');
    assert.equal(deleted.objectRef?.name, 'web-1');
    assert.equal(deleted.responseStatus?.code, 200);

    // The same through the CLI, as alice (her own requests).
    const cli = await ws.run('audit', 'kube', '--verb', 'delete', '--since', '1h');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^TIME +USER +CLUSTER +VERB +RESOURCE +STATUS +STAGE\n/);
    assert.match(cli.stdout, /alice@example\.com +prod +delete +web: pods web-1 +200 +done\n$/);

    // A watch: a start and an end event with one auditID.
    const end = one('watch', 'pods');
    const start = events.find((e) => e.auditID === end.auditID && e.stage === 'ResponseStarted');
    assert.ok(start);
    assert.equal(start.responseStatus?.code, 200);
    assert.ok(Date.parse(end.stageTimestamp) >= Date.parse(start.stageTimestamp));

    // Searches: by verb and status, and by namespace and resource.
    const forbidden = await cluster.admin.listKubeEvents({ status: 403, user: alice.id });
    assert.deepEqual(
      forbidden.items.map((e) => e.objectRef?.resource),
      ['secrets'],
    );
    const deletes = await cluster.admin.listKubeEvents({
      verb: 'delete',
      namespace: 'web',
      resource: 'pods',
      destination: 'prod',
    });
    assert.deepEqual(
      deletes.items.map((e) => e.auditID),
      [deleted.auditID],
    );
  });

  // kubectl speaks WebSocket first; SPDY is its fallback, and what older clients speak.
  for (const [protocol, suffix, env] of [
    ['a WebSocket', 'ws', {}],
    ['SPDY', 'spdy', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }],
  ] as const) {
    it(`records an exec session over ${protocol}, output and exit status, without what was typed`, async () => {
      const pod = `web-2-${suffix}`;
      cluster.kube.addPod('web', pod);
      const child = spawn(
        'kubectl',
        ['--cache-dir', path.join(ws.home, '.kube', 'cache'), 'exec', '-i', pod, '--'].concat([
          'sh',
          '-c',
          'cat',
        ]),
        { env: { ...ws.env, ...env, KUBECONFIG: ws.kubeconfig } },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.stdin.end('typed secret\n');
      const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
      assert.equal(code, 0, output);
      assert.match(output, /typed secret/);

      const recording = await until('the recording reaches the server', 15_000, async () => {
        const page = await cluster.admin.listKubeRecordings({ user: alice.id });
        return page.items.find((r) => r.pod === pod && r.endedAt !== undefined);
      });
      assert.equal(recording.namespace, 'web');
      assert.equal(recording.destination, 'prod');
      assert.deepEqual(recording.command, ['sh', '-c', 'cat']);
      assert.equal(recording.subresource, 'exec');
      assert.equal(recording.exitCode, 0);
      assert.equal(recording.stdinRecorded, false);

      const { cast } = await cluster.admin.getKubeRecording({ id: recording.id });
      const [headerLine, ...lines] = cast.trimEnd().split('\n');
      const header = JSON.parse(headerLine!) as Record<string, unknown>;
      assert.equal(header.version, 2);
      assert.equal(header.command, 'sh -c cat');
      assert.deepEqual(header.infra, {
        user: 'alice@example.com',
        destination: 'prod',
        namespace: 'web',
        pod,
        container: 'main',
        command: ['sh', '-c', 'cat'],
        subresource: 'exec',
      });
      const events = lines.map((l) => JSON.parse(l) as [number, string, string]);
      const out = events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join('');
      assert.match(out, /fake exec as alice@example.com/);
      // The fake echoes stdin on stdout: the output is recorded, the keystrokes are not.
      assert.match(out, /typed secret/);
      assert.deepEqual(
        events.filter((e) => e[1] === 'i'),
        [],
      );
      assert.deepEqual(events.at(-1)?.slice(1), ['m', 'exit status 0']);

      // Alice plays her own session; a fast speed keeps this short.
      const played = await ws.run('recordings', 'play', recording.id, '--speed', '1000');
      assert.equal(played.code, 0, played.stderr);
      assert.match(played.stdout, /fake exec as alice@example.com[\s\S]*typed secret/);
      assert.match(played.stderr, /ended with exit status 0/);
      const listed = await ws.run('recordings', 'list', '-o', 'name');
      assert.ok(listed.stdout.split('\n').includes(recording.id), listed.stdout);

      // The exec request's own events: started (101) and complete, with the recording's id.
      const exec = (await aliceEvents()).filter((e) => e.auditID === recording.id);
      assert.deepEqual(
        exec.map((e) => [e.stage, e.objectRef?.subresource, e.responseStatus?.code]),
        [
          ['ResponseStarted', 'exec', 101],
          ['ResponseComplete', 'exec', 101],
        ],
      );
    });

    it(`records an attach session over ${protocol}`, async () => {
      const pod = `web-5-${suffix}`;
      cluster.kube.addPod('web', pod);
      const attached = await kubectl(ws, ['attach', '-i', pod], {
        input: 'to the container\n',
        env,
      });
      assert.equal(attached.code, 0, attached.stderr);
      const recording = await until('the recording reaches the server', 15_000, async () => {
        const page = await cluster.admin.listKubeRecordings({ user: alice.id });
        return page.items.find((r) => r.pod === pod && r.endedAt !== undefined);
      });
      assert.equal(recording.subresource, 'attach');
      assert.deepEqual(recording.command, []);
      const { cast } = await cluster.admin.getKubeRecording({ id: recording.id });
      assert.match(cast, /fake attach as alice@example.com[\s\S]*to the container/);
    });

    it(`records an interactive exec -it session over ${protocol} with its terminal size changes`, async () => {
      const pod = `web-3-${suffix}`;
      cluster.kube.addPod('web', pod);
      const kubectlPath = execFileSync('which', ['kubectl'], { encoding: 'utf8' }).trim();
      const terminal = spawnPty(
        kubectlPath,
        ['--cache-dir', path.join(ws.home, '.kube', 'cache'), 'exec', '-it', pod, '--', 'sh'],
        { cols: 80, rows: 24, env: { ...ws.env, ...env, KUBECONFIG: ws.kubeconfig } },
      );
      let screen = '';
      terminal.onData((d) => (screen += d));
      const exited = new Promise<void>((resolve) => terminal.onExit(() => resolve()));
      await until('the session starts', 15_000, async () =>
        /fake exec as alice/.test(screen) ? true : undefined,
      );
      terminal.write('hello pty\r');
      await until('the fake echoes what was typed', 15_000, async () =>
        /hello pty/.test(screen) ? true : undefined,
      );
      terminal.resize(100, 30);
      // The resize travels on its own channel; give it a moment before the session ends.
      await new Promise((r) => setTimeout(r, 300));
      terminal.kill();
      await exited;

      const recording = await until('the recording reaches the server', 15_000, async () => {
        const page = await cluster.admin.listKubeRecordings({ user: alice.id });
        return page.items.find((r) => r.pod === pod && r.endedAt !== undefined);
      });
      const { cast } = await cluster.admin.getKubeRecording({ id: recording.id });
      const events = cast
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l) as [number, string, string]);
      assert.ok(
        events.some((e) => e[1] === 'r' && e[2] === '100x30'),
        `no resize to 100x30 in ${JSON.stringify(events.filter((e) => e[1] === 'r'))}`,
      );
      assert.match(
        events
          .filter((e) => e[1] === 'o')
          .map((e) => e[2])
          .join(''),
        /hello pty/,
      );
    });
  }

  it('keeps events on disk while the server is away and delivers them once, later', async () => {
    const buffer = path.join(cluster.connectorKeyFile, '..', 'audit-buffer');
    const port = new URL(cluster.server.url).port;
    cluster.kube.addPod('web', 'web-4');
    const before = (await aliceEvents()).length;
    cluster.server = await cluster.server.restart({
      settings: { 'addr.https': `127.0.0.1:${port}` },
      whileAway: async () => {
        for (let i = 0; i < 3; i++) {
          const res = await kubectl(ws, ['get', 'pod', 'web-4', '-o', 'name']);
          assert.equal(res.code, 0, res.stderr);
        }
        await until('the events wait on disk', 10_000, async () =>
          readdirSync(buffer).some((f) => f.endsWith('.json')) ? true : undefined,
        );
      },
    });
    const events = await until('the buffered events arrive', 20_000, async () => {
      const all = await aliceEvents();
      return all.length >= before + 3 ? all : undefined;
    });
    const gets = events.slice(before).filter((e) => e.verb === 'get');
    assert.equal(gets.length, 3);
    assert.equal(new Set(events.map((e) => `${e.auditID}/${e.stage}`)).size, events.length);
    await until('the disk buffer empties', 10_000, async () =>
      readdirSync(buffer).some((f) => f.endsWith('.json')) ? undefined : true,
    );
  });
});
