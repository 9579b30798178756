/**
 * The fake kube-apiserver against the real kubectl (/usr/bin/kubectl, which runs the
 * kubectl.1.<minor> matching the server's /version) and, where kubectl checks things on its side
 * first, against raw HTTPS requests.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rawRequest, readUntil, talk } from '../http.js';
import { startFakeKube, type FakeKube, type KubeObject, type RequestRecord } from './server.js';

let fake: FakeKube;
let dir: string;

before(async () => {
  fake = await startFakeKube();
  dir = mkdtempSync(path.join(tmpdir(), 'fake-kube-test-'));
});

after(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

interface Kubectl {
  (args: string[], input?: string, env?: Record<string, string>): Promise<Result>;
  /** A long-running kubectl (watch, follow, port-forward); the caller kills it. */
  spawn(args: string[], env?: Record<string, string>): ReturnType<typeof spawn>;
}

/**
 * kubectl as `user` (`admin` is system:masters), with a kubeconfig and discovery cache of its own
 * so that concurrent tests neither share a cache nor read a kubeconfig while it is written.
 */
function as(user: string, groups: string[] = [], server = fake): Kubectl {
  const token = user === 'admin' ? server.adminToken : `${user}-token`;
  if (user !== 'admin') server.addToken(token, { user, groups });
  const home = mkdtempSync(path.join(dir, `${user}-`));
  const config = path.join(home, 'kubeconfig');
  writeFileSync(config, server.kubeconfig(token));
  // Flags first: everything after `exec … --` is the command.
  const flags = ['--kubeconfig', config, '--cache-dir', path.join(home, 'cache')];
  const run = (args: string[], input?: string, env: Record<string, string> = {}) =>
    new Promise<Result>((resolve) => {
      const child = execFile(
        'kubectl',
        [...flags, ...args],
        { timeout: 20_000, env: { ...process.env, ...env } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input);
    });
  return Object.assign(run, {
    spawn: (args: string[], env: Record<string, string> = {}) =>
      spawn('kubectl', [...flags, ...args], { env: { ...process.env, ...env } }),
  });
}

const by = (user: string, verb: string) => (r: RequestRecord) =>
  r.user?.username === user && r.verb === verb;

const rbacGroup = 'rbac.authorization.k8s.io';

/** A RoleBinding manifest for `kubectl create -f -`. */
const rolebinding = (ns: string, name: string, role: string, kind: string, subject: string) =>
  [
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: RoleBinding',
    `metadata: {name: ${name}, namespace: ${ns}}`,
    `roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${role}}`,
    `subjects: [{apiGroup: rbac.authorization.k8s.io, kind: ${kind}, name: ${subject}}]`,
  ].join('\n');
const createFromStdin = ['create', '-f', '-', '--validate=false'];
const bind = (ns: string, name: string, role: string, subject: { kind: string; name: string }) =>
  fake.seed(`rolebindings.${rbacGroup}`, {
    metadata: { name, namespace: ns },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: rbacGroup, ...subject }],
  });

describe('fake kube-apiserver with the real kubectl', { concurrency: true }, () => {
  test('kubectl version: the dispatcher runs the kubectl matching the server', async () => {
    const r = await as('admin')(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Client Version: v1\.30\./m);
    assert.match(r.stdout, /^Server Version: v1\.30\.0$/m);
  });

  test('get pods prints the server-side table; discovery is aggregated', async () => {
    fake.addNamespace('tables');
    fake.addPod('tables', 'web-1');
    const r = await as('admin')(['get', 'pods', '-n', 'tables']);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trim().split('\n');
    assert.deepEqual(header!.split(/\s+/), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    assert.match(row!, /^web-1\s+1\/1\s+Running\s+0\s+\d+s$/);
    const wide = await as('admin')(['get', 'pods', '-n', 'tables', '-o', 'wide']);
    assert.match(
      wide.stdout,
      /^web-1\s+1\/1\s+Running\s+0\s+\d+s\s+10\.244\.0\.\d+\s+fake-node\s+<none>\s+<none>$/m,
    );
    // The aggregated /api and /apis answer all of discovery: no per-group requests.
    assert.ok(!fake.requests.some((r) => /^\/apis\/[^/?]+\/v1(\?|$)/.test(r.url)));
  });

  test('get pods -w prints changes until kubectl is killed', async () => {
    fake.addNamespace('watching');
    fake.addPod('watching', 'web-1');
    const kubectl = as('watcher', ['watchers']);
    bind('watching', 'watchers-view', 'view', { kind: 'Group', name: 'watchers' });
    const child = kubectl.spawn(['get', 'pods', '-w', '-n', 'watching']);
    const output = readUntil(child.stdout!, /web-2/);
    const watching = await fake.waitForRequest(by('watcher', 'watch'));
    assert.match(watching.url, /resourceVersion=\d+/);
    fake.addPod('watching', 'web-2');
    const text = await output;
    child.kill();
    await watching.finished;
    const lines = text.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('NAME')).length, 1);
    assert.match(lines[1]!, /^web-1\s+1\/1\s+Running/);
    assert.match(lines[2]!, /^web-2\s+1\/1\s+Running/);
  });

  test('logs and logs -f', async () => {
    fake.addNamespace('logging');
    fake.addPod('logging', 'web-1');
    fake.appendLog('logging', 'web-1', 'first line');
    const kubectl = as('admin');
    const r = await kubectl(['logs', 'web-1', '-n', 'logging']);
    assert.equal(r.stdout, 'first line\n');
    const child = kubectl.spawn(['logs', '-f', 'web-1', '-n', 'logging']);
    const output = readUntil(child.stdout!, /second line\n/);
    const following = await fake.waitForRequest((x) => /\/web-1\/log\?.*follow=true/.test(x.url));
    fake.appendLog('logging', 'web-1', 'second line');
    assert.equal(await output, 'first line\nsecond line\n');
    child.kill();
    await following.finished;
  });

  test('auth can-i answers yes and no with exit codes 0 and 1', async () => {
    const [admin, nobody] = await Promise.all([
      as('admin')(['auth', 'can-i', 'delete', 'pods']),
      as('nobody')(['auth', 'can-i', 'list', 'pods']),
    ]);
    assert.deepEqual([admin.code, admin.stdout], [0, 'yes\n']);
    assert.deepEqual([nobody.code, nobody.stdout], [1, 'no\n']);
  });

  test('auth whoami shows the token identity with system:authenticated', async () => {
    const r = await as('wendy', ['devs'])(['auth', 'whoami']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Username\s+wendy$/m);
    assert.match(r.stdout, /^Groups\s+\[devs system:authenticated\]$/m);
  });

  test('create -f a RoleBinding, then AlreadyExists; a missing namespace is NotFound', async () => {
    fake.addNamespace('creating');
    const file = path.join(dir, 'rolebinding.yaml');
    const yaml = (ns: string) =>
      [
        'apiVersion: rbac.authorization.k8s.io/v1',
        'kind: RoleBinding',
        `metadata: {name: devs-view, namespace: ${ns}, labels: {app.kubernetes.io/managed-by: infra}}`,
        'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}',
        'subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]',
      ].join('\n');
    writeFileSync(file, yaml('creating'));
    const admin = as('admin');
    const created = await admin(['create', '-f', file, '--validate=false']);
    assert.equal(created.stdout, 'rolebinding.rbac.authorization.k8s.io/devs-view created\n');
    const [saved] = fake.roleBindings('creating');
    assert.equal(saved?.metadata.labels?.['app.kubernetes.io/managed-by'], 'infra');
    assert.match(saved?.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(saved?.metadata.resourceVersion ?? '', /^\d+$/);
    assert.match(saved?.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const again = await admin(['create', '-f', file, '--validate=false']);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /\(AlreadyExists\).*rolebindings.rbac.authorization.k8s.io "devs-view" already exists/,
    );
    writeFileSync(file, yaml('missing'));
    const missing = await admin(['create', '-f', file, '--validate=false']);
    assert.match(missing.stderr, /\(NotFound\).*namespaces "missing" not found/);
  });

  test('label selectors on list: =, !=, existence and comma-joined', async () => {
    fake.addNamespace('labels');
    for (const [name, team] of [
      ['a', 'red'],
      ['b', 'blue'],
      ['c', undefined],
    ] as const) {
      fake.seed(`rolebindings.${rbacGroup}`, {
        metadata: { name, namespace: 'labels', labels: team ? { team, app: 'x' } : { app: 'x' } },
        roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: 'view' },
        subjects: [],
      });
    }
    const admin = as('admin');
    const names = async (selector: string) =>
      (await admin(['get', 'rolebindings', '-n', 'labels', '-l', selector, '-o', 'name'])).stdout
        .replace(/rolebinding.rbac.authorization.k8s.io\//g, '')
        .split('\n')
        .filter(Boolean);
    const [red, notRed, hasTeam, both, defaults] = await Promise.all([
      names('team=red'),
      names('team!=red'),
      names('team'),
      names('app=x,!team'),
      admin([
        'get',
        'clusterroles',
        '-l',
        'kubernetes.io/bootstrapping=rbac-defaults',
        '-o',
        'name',
      ]),
    ]);
    assert.deepEqual([red, notRed, hasTeam, both], [['a'], ['b', 'c'], ['a', 'b'], ['c']]);
    for (const role of ['admin', 'cluster-admin', 'edit', 'view', 'system:discovery']) {
      assert.match(
        defaults.stdout,
        new RegExp(`^clusterrole.rbac.authorization.k8s.io/${role}$`, 'm'),
      );
    }
    const none = await admin(['get', 'rolebindings', '-n', 'labels', '-l', 'team=green']);
    assert.equal(none.stderr, 'No resources found in labels namespace.\n');
  });

  test('impersonation: allowed with the right, refused with the real wording', async () => {
    fake.seed(`clusterroles.${rbacGroup}`, {
      metadata: { name: 'impersonator' },
      rules: [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }],
    });
    fake.seed(`clusterrolebindings.${rbacGroup}`, {
      metadata: { name: 'connector-impersonates' },
      roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: 'impersonator' },
      subjects: [{ apiGroup: rbacGroup, kind: 'User', name: 'connector' }],
    });
    const [allowed, refused] = await Promise.all([
      as('connector')([
        '--as',
        'alice',
        '--as-group',
        'devs',
        '--as-group',
        'ops',
        'auth',
        'whoami',
      ]),
      // Discovery errors reach kubectl's output only as "unknown"; --raw shows the server's Status.
      as('mallory')(['--as', 'bob', 'get', '--raw', '/api/v1/namespaces/default/pods']),
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^Username\s+alice$/m);
    assert.match(allowed.stdout, /^Groups\s+\[devs ops system:authenticated\]$/m);
    const seen = fake.requests.find(
      (r) => r.authenticatedAs === 'connector' && r.verb === 'create',
    );
    assert.deepEqual(seen?.impersonation, { user: 'alice', groups: ['devs', 'ops'], extra: {} });
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'Error from server (Forbidden): users "bob" is forbidden: User "mallory" cannot impersonate resource "users" in API group "" at the cluster scope\n',
    );
  });

  test('impersonation: header values are bytes, read as UTF-8 as Go does', async () => {
    fake.seed(`clusterroles.${rbacGroup}`, {
      metadata: { name: 'impersonator-utf8' },
      rules: [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }],
    });
    fake.seed(`clusterrolebindings.${rbacGroup}`, {
      metadata: { name: 'proxy-impersonates' },
      roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: 'impersonator-utf8' },
      subjects: [{ apiGroup: rbacGroup, kind: 'User', name: 'proxy' }],
    });
    // kubectl (Go) sends the UTF-8 bytes of the names.
    const res = await as('proxy')(['--as', 'zoë', '--as-group', '運用', 'auth', 'whoami']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^Username\s+zoë$/m);
    assert.match(res.stdout, /^Groups\s+\[運用 system:authenticated\]$/m);
  });

  test('RBAC: forbidden, then view lists pods, and only edit may exec', async () => {
    fake.addNamespace('team');
    fake.addPod('team', 'web-1');
    const carol = as('carol', ['team-a']);
    const admin = as('admin');
    const forbidden = await carol(['get', 'pods', '-n', 'team']);
    assert.equal(
      forbidden.stderr,
      'Error from server (Forbidden): pods is forbidden: User "carol" cannot list resource "pods" in API group "" in the namespace "team"\n',
    );
    // `kubectl create rolebinding` sends protobuf; `create -f` sends JSON.
    const created = await admin([
      'create',
      'rolebinding',
      'carol-view',
      '--clusterrole=view',
      '--user=carol',
      '-n',
      'team',
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.match((await carol(['get', 'pods', '-n', 'team'])).stdout, /^web-1\s/m);
    const denied = await carol(['exec', '-n', 'team', 'web-1', '--', 'id']);
    assert.equal(denied.code, 1);
    // The websocket GET is refused, then kubectl's SPDY fallback (a POST).
    assert.equal(
      denied.stderr,
      'Error from server (Forbidden): pods "web-1" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "team"\n',
    );
    await admin(createFromStdin, rolebinding('team', 'team-a-edit', 'edit', 'Group', 'team-a'));
    const ran = await carol(['exec', '-n', 'team', 'web-1', '--', 'id']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'fake exec as carol groups=["team-a","system:authenticated"]\n');
    assert.deepEqual(fake.execs.find((e) => e.namespace === 'team')?.command, ['id']);
  });

  for (const [protocol, env, method] of [
    ['a websocket', {}, 'GET'],
    ['SPDY', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, 'POST'],
  ] as const) {
    test(`exec -i over ${protocol} echoes stdin after the identity line`, async () => {
      const ns = `stdin-${protocol === 'SPDY' ? 'spdy' : 'ws'}`;
      fake.addNamespace(ns);
      fake.addPod(ns, 'web-1');
      const kubectl = as('admin');
      const r = await kubectl(['exec', '-i', '-n', ns, 'web-1', '--', 'cat'], 'hello\n', env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^fake exec as kubernetes-admin groups=\["system:masters","system:authenticated"\]\nhello\n$/,
      );
      assert.equal(fake.execs.find((e) => e.namespace === ns)?.stdin, 'hello\n');
      // SPDY upgrades a POST; the websocket, a GET.
      const upgrade = fake.requests.find((r) =>
        r.url.includes(`/namespaces/${ns}/pods/web-1/exec`),
      );
      assert.equal(upgrade?.method, method);
      // Attach speaks the same protocols; the fake's container greets and echoes likewise.
      const attached = await kubectl(['attach', '-i', '-n', ns, 'web-1'], 'again\n', env);
      assert.equal(attached.code, 0, attached.stderr);
      assert.match(attached.stdout, /^fake attach as kubernetes-admin .*\nagain\n$/);
      // Without stdin the command prints and ends on its own.
      const once = await kubectl(['exec', '-n', ns, 'web-1', '--', 'id'], undefined, env);
      assert.equal(once.code, 0, once.stderr);
      assert.match(once.stdout, /^fake exec as kubernetes-admin/);
    });
  }

  for (const [protocol, env, verb] of [
    ['SPDY', {}, 'create'],
    ['SPDY in a websocket', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'true' }, 'get'],
  ] as const) {
    test(`port-forward over ${protocol}: the pod's port greets and echoes`, async () => {
      const ns = `forward-${protocol.length}`;
      fake.addNamespace(ns);
      fake.addPod(ns, 'web-1');
      const kubectl = as('admin');
      const child = kubectl.spawn(['port-forward', '-n', ns, 'pod/web-1', ':8080'], env);
      try {
        const ready = await readUntil(child.stdout!, /Forwarding from 127\.0\.0\.1:(\d+)/);
        const port = Number(/127\.0\.0\.1:(\d+)/.exec(ready)![1]);
        assert.equal(
          await talk(port, 'ping\n', /ping\n$/),
          `fake port-forward to ${ns}/web-1:8080 as kubernetes-admin\nping\n`,
        );
        assert.ok(fake.forwards.some((f) => f.namespace === ns && f.port === 8080));
        // SPDY upgrades a POST; the websocket, a GET.
        const upgrade = fake.requests.find((r) =>
          r.url.startsWith(`/api/v1/namespaces/${ns}/pods/web-1/portforward`),
        );
        assert.equal(upgrade?.verb, verb);
      } finally {
        child.kill();
      }
    });
  }

  test('binding a role one does not hold is refused as escalation', async () => {
    fake.addNamespace('escalation');
    fake.seed(`roles.${rbacGroup}`, {
      metadata: { name: 'binder', namespace: 'escalation' },
      rules: [{ apiGroups: [rbacGroup], resources: ['rolebindings'], verbs: ['create'] }],
    });
    fake.seed(`rolebindings.${rbacGroup}`, {
      metadata: { name: 'dave-binder', namespace: 'escalation' },
      roleRef: { apiGroup: rbacGroup, kind: 'Role', name: 'binder' },
      subjects: [{ apiGroup: rbacGroup, kind: 'User', name: 'dave' }],
    });
    const r = await as('dave')([
      'create',
      'rolebinding',
      'x',
      '--clusterrole=view',
      '--user=dave',
      '-n',
      'escalation',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "dave" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n/,
    );
    assert.match(
      r.stderr,
      /^\{APIGroups:\[""\], Resources:\["configmaps"\], Verbs:\["get" "list" "watch"\]\}$/m,
    );
  });

  test('minor 33: kubectl 1.33 runs, and its protobuf request bodies are understood', async () => {
    const other = await startFakeKube({ minor: '33' });
    try {
      const zed = as('zed', [], other);
      const [version, whoami, canI] = await Promise.all([
        zed(['version']),
        zed(['auth', 'whoami']),
        zed(['auth', 'can-i', 'get', 'pods']),
      ]);
      assert.match(version.stdout, /^Client Version: v1\.33\.[\s\S]*^Server Version: v1\.33\.0$/m);
      assert.match(whoami.stdout, /^Username\s+zed$/m);
      assert.deepEqual([canI.code, canI.stdout], [1, 'no\n']);
      const ssar = other.requests.find((r) => r.url.endsWith('/selfsubjectaccessreviews'));
      assert.deepEqual(
        [ssar?.contentType, ssar?.status],
        ['application/vnd.kubernetes.protobuf', 201],
      );
    } finally {
      await other.close();
    }
  });
});

describe('fake kube-apiserver over raw HTTPS', () => {
  const call = (
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ) =>
    rawRequest(`${fake.url}${url}`, {
      method,
      ca: fake.caPem,
      headers: {
        Authorization: `Bearer ${fake.adminToken}`,
        'Content-Type': 'application/json',
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  /** A watch whose events can be awaited as they arrive. */
  const openWatch = (url: string) => {
    const events: { type: string; object: KubeObject }[] = [];
    let arrived = () => {};
    const req = httpsRequest(
      `${fake.url}${url}`,
      { ca: fake.caPem, headers: { Authorization: `Bearer ${fake.adminToken}` } },
      (res) => {
        let partial = '';
        res.on('data', (chunk: Buffer) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop()!;
          events.push(...lines.map((l) => JSON.parse(l) as (typeof events)[number]));
          arrived();
        });
      },
    );
    req.end();
    return {
      next: async (n: number) => {
        while (events.length < n) await new Promise<void>((resolve) => (arrived = resolve));
        return events.slice(0, n);
      },
      close: () => req.destroy(),
    };
  };
  const rb = `/apis/${rbacGroup}/v1/namespaces/raw/rolebindings`;
  const binding = (role: string) => ({
    metadata: { name: 'b' },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: rbacGroup, kind: 'User', name: 'erin' }],
  });

  test('an unknown token is a 401 Status', async () => {
    const r = await call('GET', '/api', { Authorization: 'Bearer nope' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });

  test('Impersonate-Group without Impersonate-User is the filter’s plain-text 500', async () => {
    const r = await call('GET', '/api', { 'Impersonate-Group': 'devs' });
    assert.equal(r.status, 500);
    assert.equal(
      r.body,
      'Internal Server Error: "/api": requested [{Group  devs    }] without impersonating a user\n',
    );
  });

  test('updates: conflicts, immutable roleRef, no-op keeps the resourceVersion, merge patch', async () => {
    fake.addNamespace('raw');
    const created = (await call('POST', rb, {}, binding('view'))).json<{
      metadata: { resourceVersion: string };
    }>();
    const stale = { ...binding('view'), metadata: { name: 'b', resourceVersion: '1' } };
    const conflict = await call('PUT', `${rb}/b`, {}, stale);
    assert.equal(conflict.status, 409);
    assert.match(
      conflict.json<{ message: string }>().message,
      /^Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "b": the object has been modified/,
    );
    const same = await call('PUT', `${rb}/b`, {}, binding('view'));
    assert.equal(
      same.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion,
      created.metadata.resourceVersion,
    );
    const changed = await call('PUT', `${rb}/b`, {}, binding('edit'));
    assert.equal(changed.status, 422);
    assert.match(
      changed.json<{ message: string }>().message,
      /roleRef: Invalid value: rbac.RoleRef\{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"\}: cannot change roleRef$/,
    );
    const patched = await call(
      'PATCH',
      `${rb}/b`,
      { 'Content-Type': 'application/merge-patch+json' },
      { metadata: { labels: { a: 'b' } } },
    );
    assert.equal(patched.status, 200);
    assert.deepEqual(fake.roleBindings('raw')[0]?.metadata.labels, { a: 'b' });
  });

  test('PUT creates a missing RBAC object (as its strategy allows) but not a missing pod', async () => {
    fake.addNamespace('puts');
    // Names in paths arrive percent-encoded, as client-node sends `infra:view`.
    const url = `/apis/${rbacGroup}/v1/namespaces/puts/rolebindings/${encodeURIComponent('infra:view')}`;
    const created = await call(
      'PUT',
      url,
      {},
      { ...binding('view'), metadata: { name: 'infra:view' } },
    );
    assert.equal(created.status, 201);
    assert.equal((await call('DELETE', url)).status, 200);
    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'main' }] } };
    const missing = await call('PUT', '/api/v1/namespaces/puts/pods/p', {}, pod);
    assert.deepEqual(
      [missing.status, missing.json<{ message: string }>().message],
      [404, 'pods "p" not found'],
    );
  });

  test('watch: ADDED for what exists, then changes; leaving a selector is a DELETED', async () => {
    fake.addNamespace('watched');
    fake.addPod('watched', 'p1', { labels: { app: 'a' } });
    const all = openWatch('/api/v1/namespaces/watched/pods?watch=true');
    const selected = openWatch('/api/v1/namespaces/watched/pods?watch=true&labelSelector=app%3Da');
    await Promise.all([all.next(1), selected.next(1)]);
    const [pod] = fake.pods('watched');
    fake.seed('pods', { ...pod!, metadata: { ...pod!.metadata, labels: { app: 'b' } } });
    await call('DELETE', '/api/v1/namespaces/watched/pods/p1');
    const types = (events: { type: string }[]) => events.map((e) => e.type);
    assert.deepEqual(types(await all.next(3)), ['ADDED', 'MODIFIED', 'DELETED']);
    assert.deepEqual(types(await selected.next(2)), ['ADDED', 'DELETED']);
    all.close();
    selected.close();
  });

  test('failWrites makes writes fail for a while, then they work again', async () => {
    fake.addNamespace('failing');
    fake.failWrites(1, 503);
    const url = `/apis/${rbacGroup}/v1/namespaces/failing/rolebindings`;
    const failed = await call('POST', url, {}, binding('view'));
    assert.equal(failed.status, 503);
    assert.equal(failed.json<{ reason: string }>().reason, 'ServiceUnavailable');
    assert.equal((await call('POST', url, {}, binding('view'))).status, 201);
  });
});
