import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { ApiClient } from '../api/client.js';
import { repoRoot, workstation, type Workstation } from '../../test/cli.js';
import { assertGolden } from '../../test/golden.js';
import { createSignedInUser, startAdminServer, type SignedIn } from '../../test/identity.js';
import type { TestServer } from '../../test/server.js';

const CONNECTOR_CA = '-----BEGIN CERTIFICATE-----\nMIIBconnector\n-----END CERTIFICATE-----\n';
const execFileAsync = promisify(execFile);
const golden = (name: string) => path.join(import.meta.dirname, 'testdata', name);

interface Kubeconfig {
  'current-context'?: string;
  clusters: Array<{
    name: string;
    cluster: { server: string; 'certificate-authority-data': string };
  }>;
  users: Array<{
    name: string;
    user: {
      exec?: {
        command: string;
        args: string[];
        apiVersion: string;
        interactiveMode: string;
        provideClusterInfo: boolean;
      };
    };
  }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
}

const readKubeconfig = (ws: Workstation) =>
  parse(readFileSync(ws.kubeconfig, 'utf8')) as Kubeconfig;

describe('infra CLI', () => {
  let server: TestServer;
  let admin: ApiClient;
  let alice: SignedIn;
  let aliceKey: string;

  before(async () => {
    ({ server, admin } = await startAdminServer('sqlite'));
    for (const [name, namespaces] of [
      ['prod', ['default', 'web']],
      ['production', ['default']],
      ['staging', ['default']],
    ] as const) {
      await admin.createDestination({
        name,
        uniqueID: name,
        connection: { url: `https://${name}.example.com:9443`, ca: CONNECTOR_CA },
        namespaces: [...namespaces],
        roles: ['view', 'edit', 'exec'],
      });
    }
    alice = await createSignedInUser(server, admin, 'alice@example.com');
    await admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
    await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod.web' });
    aliceKey = (await alice.client.createAccessKey({ name: 'laptop', expiry: '24h' })).accessKey;
  });
  after(() => server.close());

  const fingerprint = () => server.running.fingerprint;
  const host = () => new URL(server.url).host;
  const login = (ws: Workstation) =>
    ws.run('login', host(), '--tls-trusted-fingerprint', fingerprint(), '--key', aliceKey);

  describe('login', () => {
    it('refuses an untrusted server without a terminal, naming its fingerprint', async () => {
      const ws = workstation();
      const res = await ws.run('login', host(), '--key', aliceKey);
      assert.equal(res.code, 1);
      assert.equal(
        res.stderr,
        `infra: The certificate of ${host()} is not trusted (SHA-256 fingerprint ${fingerprint()}); if that is the fingerprint the server logged, pass --tls-trusted-fingerprint ${fingerprint()}\n`,
      );
      assert.equal(existsSync(path.join(ws.home, '.infra', 'config')), false);
    });

    it('needs a key without a terminal', async () => {
      const ws = workstation();
      const res = await ws.run('login', host(), '--tls-trusted-fingerprint', fingerprint());
      assert.equal(res.code, 1);
      assert.match(res.stderr, /pass --key \(or set INFRA_ACCESS_KEY\) to log in/);
    });

    it('refuses a wrong key and a wrong fingerprint', async () => {
      const ws = workstation();
      const wrongKey = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        fingerprint(),
        '--key',
        `${aliceKey.slice(0, -2)}${aliceKey.endsWith('xx') ? 'yy' : 'xx'}`,
      );
      assert.equal(wrongKey.code, 1);
      assert.equal(
        wrongKey.stderr,
        'infra: Login failed: the access key is not valid or has expired\n',
      );
      const wrongFingerprint = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        // Another first byte (a fingerprint may itself start with 00).
        `${fingerprint().startsWith('00') ? 'FF' : '00'}${fingerprint().slice(2)}`,
        '--key',
        aliceKey,
      );
      assert.equal(wrongFingerprint.code, 1);
      assert.match(wrongFingerprint.stderr, /not the trusted (00|FF):/);
    });

    it('takes the fingerprint as sha256sum prints it, and refuses what is not one', async () => {
      const ws = workstation();
      const plain = fingerprint().replaceAll(':', '').toLowerCase();
      const res = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        plain,
        '--key',
        aliceKey,
      );
      assert.equal(res.code, 0, res.stderr);
      const short = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        plain.slice(2),
        '--key',
        aliceKey,
      );
      assert.deepEqual(
        [short.code, short.stderr],
        [
          2,
          'infra: --tls-trusted-fingerprint must be a SHA-256 fingerprint: 64 hex digits, with or without colons (AB:CD:… as the server logs it)\n',
        ],
      );
    });

    it('logs in with a key, saves the session privately, and writes kubeconfig contexts', async () => {
      const ws = workstation();
      const res = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        fingerprint(),
        '--key',
        aliceKey,
      );
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stderr, /^Logged in as alice@example.com\nYou can reach: prod, prod\.web\./);
      const configFile = path.join(ws.home, '.infra', 'config');
      assert.equal(statSync(configFile).mode & 0o777, 0o600);
      const config = JSON.parse(readFileSync(configFile, 'utf8'));
      assert.equal(config.servers[0].url, `https://${host()}`);
      assert.equal(config.servers[0].session.name, 'alice@example.com');
      assert.notEqual(
        config.servers[0].session.accessKey,
        aliceKey,
        'a session of its own, not the key',
      );
      assert.equal(statSync(ws.kubeconfig).mode & 0o777, 0o600);
      const kube = readKubeconfig(ws);
      assert.deepEqual(
        kube.contexts.map((c) => c.name),
        ['infra:prod', 'infra:prod:web'],
      );
      assert.deepEqual(kube.contexts[1]!.context, {
        cluster: 'infra:prod',
        user: 'infra:prod',
        namespace: 'web',
      });
      assert.deepEqual(kube.clusters, [
        {
          name: 'infra:prod',
          cluster: {
            server: 'https://prod.example.com:9443',
            'certificate-authority-data': Buffer.from(CONNECTOR_CA).toString('base64'),
          },
        },
      ]);
      const exec = kube.users[0]!.user.exec!;
      assert.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
      assert.equal(exec.interactiveMode, 'IfAvailable');
      assert.equal(exec.provideClusterInfo, true, 'kubectl tells the plugin where the token goes');
      // No `infra` on this PATH: this node and this checkout's command.
      assert.equal(exec.command, process.execPath);
      assert.deepEqual(exec.args, [
        path.join(repoRoot, 'bin', 'infra.cjs'),
        'tokens',
        '--server',
        `https://${host()}`,
        'prod',
      ]);
      assert.equal(kube['current-context'], undefined, 'login does not switch contexts by itself');
    });

    it('names the installed `infra` found on PATH, and rewrites older entries to it', async () => {
      const ws = workstation();
      assert.equal((await login(ws)).code, 0);
      // What earlier versions wrote: node and the checkout's plugin bundle. It still works.
      const older = readKubeconfig(ws).users[0]!.user.exec!;
      assert.equal(older.command, process.execPath);
      const execInfo = {
        KUBERNETES_EXEC_INFO: JSON.stringify({
          apiVersion: 'client.authentication.k8s.io/v1',
          kind: 'ExecCredential',
          spec: {
            interactive: false,
            cluster: {
              server: 'https://prod.example.com:9443',
              'certificate-authority-data': Buffer.from(CONNECTOR_CA).toString('base64'),
            },
          },
        }),
      };
      // As npm install -g lays it out: PATH/infra is a link to the package's bin/infra.cjs.
      const prefixBin = path.join(ws.home, 'prefix', 'bin');
      mkdirSync(prefixBin, { recursive: true });
      symlinkSync(path.join(repoRoot, 'bin', 'infra.cjs'), path.join(prefixBin, 'infra'));
      const onPath = { ...ws.env, PATH: `${prefixBin}${path.delimiter}${ws.env.PATH}` };
      ws.env.PATH = onPath.PATH;
      const relist = await ws.run('list');
      assert.equal(relist.code, 0);
      assert.equal(relist.stderr, '', 'rewriting its own entry is no edit to report');
      const exec = readKubeconfig(ws).users[0]!.user.exec!;
      assert.equal(exec.command, path.join(prefixBin, 'infra'));
      assert.deepEqual(exec.args, ['tokens', '--server', `https://${host()}`, 'prod']);
      // Run as kubectl runs it: the command itself (its #! line finds node on PATH).
      const { stdout } = await execFileAsync(exec.command, exec.args, {
        env: { ...onPath, ...execInfo },
      });
      assert.equal(JSON.parse(stdout).kind, 'ExecCredential');
      // An `infra` on PATH that is another installation is not this one's command.
      const otherBin = path.join(ws.home, 'other', 'bin');
      mkdirSync(otherBin, { recursive: true });
      writeFileSync(path.join(otherBin, 'infra'), '#!/bin/sh\n', { mode: 0o755 });
      ws.env.PATH = `${otherBin}${path.delimiter}${onPath.PATH}`;
      assert.equal((await ws.run('list')).code, 0);
      assert.equal(readKubeconfig(ws).users[0]!.user.exec!.command, process.execPath);
    });

    it("leaves other people's kubeconfig entries exactly as they were", async () => {
      const ws = workstation();
      const kubectl = (...args: string[]) =>
        execFileSync('kubectl', [...args, '--kubeconfig', ws.kubeconfig]);
      mkdirSync(path.dirname(ws.kubeconfig), { recursive: true });
      kubectl('config', 'set-cluster', 'other', '--server=https://other.example.com');
      kubectl('config', 'set-credentials', 'other-user', '--token=keep-me');
      kubectl('config', 'set-context', 'other', '--cluster=other', '--user=other-user');
      kubectl('config', 'set-context', 'infra:prod', '--cluster=other', '--user=other-user');
      kubectl('config', 'use-context', 'other');
      const before = readFileSync(ws.kubeconfig, 'utf8');
      const res = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        fingerprint(),
        '--key',
        aliceKey,
      );
      assert.equal(res.code, 0, res.stderr);
      assert.equal(
        res.stderr,
        [
          `Did not write the kubeconfig context infra:prod: the context infra:prod in ${ws.kubeconfig} was not written by Infra. Remove or rename it (kubectl config rename-context infra:prod NEW-NAME), then run \`infra list\`.`,
          'Logged in as alice@example.com',
          'You can reach: prod.web. Use `infra use` to pick one.',
          '',
        ].join('\n'),
      );
      const after = readFileSync(ws.kubeconfig, 'utf8');
      // Every line that was there is still there, in the same order.
      const lines = after.split('\n');
      let at = 0;
      for (const line of before.split('\n')) {
        at = lines.indexOf(line, at);
        assert.ok(at >= 0, `kept: ${line}`);
      }
      const kube = readKubeconfig(ws);
      assert.equal(kube['current-context'], 'other');
      assert.deepEqual(kube.contexts.find((c) => c.name === 'infra:prod')!.context, {
        cluster: 'other',
        user: 'other-user',
      });
      assert.ok(kube.contexts.some((c) => c.name === 'infra:prod:web'));

      const out = await ws.run('logout');
      assert.equal(out.code, 0);
      assert.equal(
        readFileSync(ws.kubeconfig, 'utf8'),
        before,
        'logout removes exactly what Infra wrote',
      );
    });
    it("writes no context over someone else's user entry, and `infra use` says why", async () => {
      const ws = workstation();
      mkdirSync(path.dirname(ws.kubeconfig), { recursive: true });
      execFileSync('kubectl', [
        ...['config', 'set-credentials', 'infra:prod', '--token=theirs'],
        ...['--kubeconfig', ws.kubeconfig],
      ]);
      const res = await login(ws);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(
        res.stderr,
        [
          `Did not write the kubeconfig contexts infra:prod, infra:prod:web: the user entry infra:prod in ${ws.kubeconfig} was not written by Infra. Remove or rename it (kubectl config delete-user infra:prod), then run \`infra list\`.`,
          'Logged in as alice@example.com',
          '',
        ].join('\n'),
      );
      const kube = readKubeconfig(ws);
      assert.deepEqual(kube.contexts, []);
      assert.deepEqual(kube.clusters, [], 'no cluster entry without a context of Infra to use it');
      assert.deepEqual(kube.users, [{ name: 'infra:prod', user: { token: 'theirs' } }]);
      const use = await ws.run('use', 'prod.web');
      assert.equal(use.code, 1);
      assert.match(
        use.stderr,
        /\ninfra: Infra did not write the context infra:prod:web \(see above\); fix that, then run `infra use prod.web` again\n$/,
      );
    });

    it("removes what an earlier version wrote over a cluster entry that is not Infra's", async () => {
      const ws = workstation();
      const config = (...args: string[]) =>
        execFileAsync('kubectl', ['config', ...args, '--kubeconfig', ws.kubeconfig]);
      mkdirSync(path.dirname(ws.kubeconfig), { recursive: true });
      await config('set-cluster', 'infra:prod', '--server=https://elsewhere.example.com');
      assert.equal((await login(ws)).code, 0);
      // Earlier versions wrote the user and context over someone else's cluster entry.
      await config('set-credentials', 'infra:prod', '--token=minted-by-infra');
      await config('set-context', 'infra:prod', '--cluster=infra:prod', '--user=infra:prod');
      await config('use-context', 'infra:prod');
      const stateFile = path.join(ws.home, '.infra', 'config');
      const state = JSON.parse(readFileSync(stateFile, 'utf8'));
      state.servers[0].kubeconfig = {
        file: ws.kubeconfig,
        clusters: [],
        users: ['infra:prod'],
        contexts: ['infra:prod'],
      };
      writeFileSync(stateFile, JSON.stringify(state));
      const res = await ws.run('list');
      assert.match(
        res.stderr,
        /^Did not write the kubeconfig contexts infra:prod, infra:prod:web: the cluster entry infra:prod/,
      );
      const kube = readKubeconfig(ws);
      assert.deepEqual(kube.contexts, []);
      assert.deepEqual(kube.users, []);
      assert.deepEqual(
        kube.clusters.map((c) => c.cluster.server),
        ['https://elsewhere.example.com'],
      );
      assert.equal(kube['current-context'], '');
    });

    it('rewrites an entry of its own that was changed, and says so', async () => {
      const ws = workstation();
      assert.equal((await login(ws)).code, 0);
      const written = readFileSync(ws.kubeconfig, 'utf8');
      const config = (...args: string[]) =>
        execFileAsync('kubectl', ['config', ...args, '--kubeconfig', ws.kubeconfig]);
      // kubectl rewrites the whole file (key order, `env: null`) when it changes anything: no edit.
      await config('set-context', 'other', '--cluster=other');
      assert.equal((await ws.run('list')).stderr, '');
      await config('set-cluster', 'infra:prod', '--server=https://elsewhere.example.com');
      await config('set-context', 'infra:prod:web', '--user=other');
      // A second entry of the same name: kubectl would use it rather than Infra's.
      const doc = parse(readFileSync(ws.kubeconfig, 'utf8')) as Kubeconfig;
      doc.users.push({ name: 'infra:prod', user: {} });
      writeFileSync(ws.kubeconfig, JSON.stringify(doc));
      const res = await ws.run('list');
      assert.equal(
        res.stderr,
        ['cluster entry infra:prod', 'user entry infra:prod', 'context infra:prod:web']
          .map(
            (entry) =>
              `Rewrote the ${entry} in ${ws.kubeconfig}: it had been changed since Infra wrote it. Infra manages the entries it writes; keep your own under another name.\n`,
          )
          .join(''),
      );
      const kube = readKubeconfig(ws);
      const before = parse(written) as Kubeconfig;
      assert.deepEqual(kube.clusters, before.clusters);
      assert.deepEqual(kube.users, before.users);
      assert.deepEqual(
        kube.contexts.filter((c) => c.name !== 'other'),
        before.contexts,
      );
      assert.equal((await ws.run('list')).stderr, '', 'settled');
    });
  });

  describe('as a signed-in user', () => {
    let ws: Workstation;
    before(async () => {
      ws = workstation();
      const res = await ws.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        fingerprint(),
        '--key',
        aliceKey,
      );
      assert.equal(res.code, 0, res.stderr);
    });

    it('lists what you can reach, matching clusters by exact name', async () => {
      const res = await ws.run('list');
      assert.equal(res.code, 0);
      assertGolden(golden('list.txt'), res.stdout);
      const expected = [
        { name: 'prod', context: 'infra:prod', roles: ['view'] },
        { name: 'prod.web', context: 'infra:prod:web', roles: ['edit'] },
      ];
      assert.deepEqual(JSON.parse((await ws.run('list', '-o', 'json')).stdout), expected);
      const yaml = await ws.run('list', '--output', 'yaml');
      assertGolden(golden('list.yaml'), yaml.stdout);
      assert.deepEqual(parse(yaml.stdout), expected);
      assert.equal((await ws.run('list', '-o', 'name')).stdout, 'prod\nprod.web\n');
    });

    it('prints lists as table, json, yaml or name, and refuses any other format', async () => {
      // --format is the older spelling of -o.
      assert.deepEqual(
        parse((await ws.run('list', '--format', 'yaml')).stdout),
        JSON.parse((await ws.run('list', '--format', 'json')).stdout),
      );
      assert.equal(
        (await ws.run('list', '--format', 'json', '-o', 'name')).stdout,
        'prod\nprod.web\n',
      );
      for (const argv of [
        ['list', '-o', 'wide'],
        ['list', '--format', 'yml'],
        ['about', '-o', 'xml'],
      ]) {
        const res = await ws.run(...argv);
        assert.equal(res.code, 2, argv.join(' '));
        assert.equal(res.stdout, '');
        assert.match(
          res.stderr,
          /^error: option '(-o, --output|--format) <format>' argument '\w+' is invalid\. Allowed choices are table, json, yaml, name\.\n/,
        );
      }
      const about = parse((await ws.run('about', '-o', 'yaml')).stdout) as Record<string, unknown>;
      assert.equal(about.user, 'alice@example.com');
      assert.equal((await ws.run('about', '-o', 'name')).stdout, 'alice@example.com\n');
    });

    it('prints the usage of infra tokens with --help, logged in or not', async () => {
      for (const w of [ws, workstation()]) {
        const res = await w.exec(['tokens', '--help']);
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, /^Usage: infra tokens \[--server URL\] DESTINATION\n/);
      }
      const unknown = await ws.exec(['tokens', '--sever', 'https://x', 'prod']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /^error: unknown option '--sever'\nUsage: infra tokens/);
    });

    it('switches kubectl context with use', async () => {
      const res = await ws.run('use', 'prod.web');
      assert.equal(res.code, 0);
      assert.equal(res.stderr, 'Switched to context "infra:prod:web".\n');
      assert.equal(readKubeconfig(ws)['current-context'], 'infra:prod:web');
      const missing = await ws.run('use', 'staging');
      assert.equal(missing.code, 1);
      assert.equal(
        missing.stderr,
        'infra: You have no access to staging; `infra list` shows what you can reach\n',
      );
    });

    it('drops a context when its grant goes away', async () => {
      const grant = (await admin.listGrants({ user: alice.id, resource: 'prod.web' })).items[0]!;
      await admin.deleteGrant({ id: grant.id });
      await ws.run('list');
      assert.deepEqual(
        readKubeconfig(ws).contexts.map((c) => c.name),
        ['infra:prod'],
      );
      assert.equal(readKubeconfig(ws)['current-context'], '', 'the current context went with it');
      await admin.createGrant({ user: alice.id, privilege: 'edit', resource: 'prod.web' });
      await ws.run('list');
    });

    it('prints kubectl credentials from the built binary, reusing a cached token', async () => {
      const url = `https://${host()}`;
      const first = await ws.exec(['tokens', '--server', url, 'prod']);
      assert.equal(first.code, 0, first.stderr);
      const credential = JSON.parse(first.stdout);
      assert.equal(credential.apiVersion, 'client.authentication.k8s.io/v1');
      assert.equal(credential.kind, 'ExecCredential');
      assert.match(credential.status.token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
      const cache = path.join(ws.home, '.infra', 'tokens.json');
      assert.equal(statSync(cache).mode & 0o777, 0o600);
      const second = await ws.exec(['tokens', '--server', url, 'prod']);
      assert.equal(
        JSON.parse(second.stdout).status.token,
        credential.status.token,
        'served from the cache',
      );
      const denied = await ws.exec(['tokens', '--server', url, 'staging']);
      assert.equal(denied.code, 1);
      assert.equal(
        denied.stderr,
        'infra: You have no access to staging; ask an Infra admin for a grant, then run `infra login`\n',
      );
    });

    it('gives kubectl a token only for the connector Infra knows for the cluster', async () => {
      const url = `https://${host()}`;
      const tokens = (destination: string, cluster?: Record<string, unknown>) =>
        ws.exec(['tokens', '--server', url, destination], {
          KUBERNETES_EXEC_INFO: JSON.stringify({
            apiVersion: 'client.authentication.k8s.io/v1',
            kind: 'ExecCredential',
            spec: { interactive: false, ...(cluster ? { cluster } : {}) },
          }),
        });
      const prod = {
        server: 'https://prod.example.com:9443',
        'certificate-authority-data': Buffer.from(CONNECTOR_CA).toString('base64'),
        config: null,
      };
      const ok = await tokens('prod', prod);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).kind, 'ExecCredential');

      const refused = (destination: string, where: string) =>
        `infra: Refused to give kubectl a token for ${destination}: it would send it to a server Infra does not know for ${destination} (${where}). Use the context Infra wrote (\`infra use ${destination}\`); \`infra list\` restores Infra's kubeconfig entries\n`;
      const otherCa = Buffer.from(CONNECTOR_CA.replace('connector', 'someone')).toString('base64');
      for (const [cluster, where] of [
        [{ ...prod, server: 'https://prod.example.com:9444' }, 'https://prod.example.com:9444'],
        [
          { ...prod, 'certificate-authority-data': otherCa },
          `${prod.server}, trusting another certificate authority`,
        ],
        [
          { server: prod.server, 'insecure-skip-tls-verify': true },
          `${prod.server}, without verifying its certificate`,
        ],
        [
          { ...prod, 'tls-server-name': 'other.example.com' },
          `${prod.server}, with another TLS server name`,
        ],
      ] as const) {
        const res = await tokens('prod', cluster);
        assert.deepEqual([res.code, res.stdout, res.stderr], [1, '', refused('prod', where)]);
      }
      // A cluster Infra wrote no context for (no grant) gets nothing either, before any request.
      const staging = await tokens('staging', {
        ...prod,
        server: 'https://staging.example.com:9443',
      });
      assert.equal(staging.stderr, refused('staging', 'https://staging.example.com:9443'));
      const unsaid = await tokens('prod');
      assert.equal(unsaid.code, 1);
      assert.equal(
        unsaid.stderr,
        "infra: Refused to give kubectl a token for prod: kubectl did not say which server it would send it to (the kubeconfig user entry must set provideClusterInfo: true); run `infra list` to rewrite Infra's kubeconfig entries\n",
      );
    });

    it('says what to do when the session has expired or been revoked', async () => {
      const other = workstation();
      const key = (await alice.client.createAccessKey({ expiry: '1h' })).accessKey;
      await other.run('login', host(), '--tls-trusted-fingerprint', fingerprint(), '--key', key);
      const config = path.join(other.home, '.infra', 'config');
      const state = JSON.parse(readFileSync(config, 'utf8'));
      await server.client({ accessKey: state.servers[0].session.accessKey }).logout();
      const res = await other.exec(['tokens', '--server', `https://${host()}`, 'prod']);
      assert.equal(res.code, 1);
      assert.equal(
        res.stderr,
        'infra: Session expired; run `infra login` to start a new session\n',
      );
      state.servers[0].session.expires = new Date(Date.now() - 1000).toISOString();
      writeFileSync(config, JSON.stringify(state));
      const expired = await other.run('list');
      assert.equal(expired.code, 1);
      assert.equal(
        expired.stderr,
        'infra: Session expired; run `infra login` to start a new session\n',
      );
      const nobody = await workstation().run('list');
      assert.equal(nobody.stderr, 'infra: Not logged in; run `infra login` first\n');
      // A removed user is not told to log in again: that cannot work.
      const gone = await createSignedInUser(server, admin, 'gone@example.com');
      const goneWs = workstation();
      const goneKey = (await gone.client.createAccessKey({ expiry: '1h' })).accessKey;
      assert.equal(
        (
          await goneWs.run(
            'login',
            host(),
            '--tls-trusted-fingerprint',
            fingerprint(),
            '--key',
            goneKey,
          )
        ).code,
        0,
      );
      await admin.deleteUser({ id: gone.id });
      const removed =
        'infra: Your Infra user was removed by an admin, so you cannot log in again; ask an Infra admin if you still need access\n';
      assert.deepEqual(await goneWs.run('list'), { code: 1, stdout: '', stderr: removed });
      const again = await goneWs.run(
        'login',
        host(),
        '--tls-trusted-fingerprint',
        fingerprint(),
        '--key',
        goneKey,
      );
      assert.deepEqual([again.code, again.stderr], [1, removed]);
    });

    it('logs out: the session ends on the server and the local state goes', async () => {
      const session = JSON.parse(readFileSync(path.join(ws.home, '.infra', 'config'), 'utf8'))
        .servers[0].session;
      const res = await ws.run('logout');
      assert.equal(res.code, 0);
      assert.equal(res.stderr, `Logged out of https://${host()}\n`);
      await assert.rejects(
        server.client({ accessKey: session.accessKey }).getUser({ id: 'self' }),
        { status: 401 },
      );
      assert.deepEqual(readKubeconfig(ws).contexts ?? [], []);
      assert.equal(existsSync(path.join(ws.home, '.infra', 'tokens.json')), false);
    });
  });

  describe('admin commands', () => {
    let ws: Workstation;
    before(async () => {
      ws = workstation();
      const key = (await admin.createAccessKey({ expiry: '1h' })).accessKey;
      assert.equal(
        (await ws.run('login', host(), '--tls-trusted-fingerprint', fingerprint(), '--key', key))
          .code,
        0,
      );
    });

    it('manage users, groups and grants', async () => {
      const added = await ws.run('users', 'add', 'bob@example.com');
      assert.equal(added.code, 0);
      assert.match(
        added.stdout,
        /^Added user bob@example.com\nOne-time password: [0-9A-Za-z]{16}\n$/,
      );
      assert.equal((await ws.run('groups', 'add', 'oncall')).code, 0);
      const joined = await ws.run('groups', 'adduser', 'bob@example.com', 'oncall');
      assert.deepEqual([joined.code, joined.stderr], [0, 'Added bob@example.com to oncall\n']);
      const again = await ws.run('groups', 'adduser', 'bob@example.com', 'oncall');
      assert.deepEqual(
        [again.code, again.stderr],
        [0, 'bob@example.com is already a member of oncall; nothing changed\n'],
      );
      assertGolden(golden('groups-list.txt'), (await ws.run('groups', 'list')).stdout);
      assert.equal((await ws.run('groups', 'list', '-o', 'name')).stdout, 'oncall\n');
      assert.deepEqual(
        (parse((await ws.run('users', 'list', '-o', 'yaml')).stdout) as Array<{ name: string }>)
          .map((u) => u.name)
          .sort(),
        ['admin@example.com', 'alice@example.com', 'bob@example.com'],
      );

      const granted = await ws.run(
        'grants',
        'add',
        'oncall',
        'staging',
        '--group',
        '--role',
        'view',
      );
      assert.equal(granted.stderr, 'Granted view on staging to oncall\n');
      assert.equal(
        (await ws.run('grants', 'add', 'oncall', 'staging', '--group', '--role', 'view')).stderr,
        'oncall already has view on staging; nothing changed\n',
      );
      // A forgotten (or extra) -g: the CLI says which kind the name is.
      for (const [argv, message] of [
        [
          ['grants', 'add', 'oncall', 'staging', '--role', 'view'],
          'oncall is a group, not a user: add -g (--group)',
        ],
        [
          ['grants', 'remove', 'oncall', 'staging'],
          'oncall is a group, not a user: add -g (--group)',
        ],
        [
          ['grants', 'add', 'bob@example.com', 'staging', '-g', '--role', 'view'],
          'bob@example.com is a user, not a group: leave out -g (--group)',
        ],
        [
          ['grants', 'remove', 'bob@example.com', 'staging', '-g'],
          'bob@example.com is a user, not a group: leave out -g (--group)',
        ],
        [
          ['grants', 'add', 'nobody', 'staging', '--role', 'view'],
          'No user named nobody: users are named by their email address; for a group, add -g (--group)',
        ],
      ] as const) {
        const res = await ws.run(...argv);
        assert.deepEqual([res.code, res.stderr], [1, `infra: ${message}\n`], argv.join(' '));
      }
      const noRole = await ws.run(
        'grants',
        'add',
        'bob@example.com',
        'staging',
        '--role',
        'cluster-admin',
      );
      assert.equal(noRole.code, 1);
      assert.equal(
        noRole.stderr,
        'infra: Cluster staging offers no role cluster-admin (it offers edit, exec, view); pass --force to grant it anyway\n',
      );
      const noNamespace = await ws.run(
        'grants',
        'add',
        'bob@example.com',
        'staging.nope',
        '--role',
        'view',
      );
      assert.equal(
        noNamespace.stderr,
        'infra: Cluster staging has no namespace nope; pass --force to grant it anyway\n',
      );
      assert.equal(
        (await ws.run('grants', 'add', 'bob@example.com', 'nowhere', '--role', 'view', '--force'))
          .code,
        0,
      );
      assertGolden(
        golden('grants-list.txt'),
        (await ws.run('grants', 'list', '--cluster', 'staging')).stdout,
      );
      const revoked = await ws.run('grants', 'remove', 'oncall', 'staging', '--group');
      assert.equal(revoked.stderr, 'Revoked 1 grant of oncall on staging\n');
      assert.equal(
        (await ws.run('grants', 'list', '--destination', 'staging')).stdout,
        'No grants found; grant a role with `infra grants add SUBJECT RESOURCE --role ROLE`\n',
      );
      assert.equal(
        (await ws.run('grants', 'list', '--destination', 'staging', '-o', 'name')).stdout,
        '',
      );
      assert.equal(
        (await ws.run('grants', 'list', '--destination', 'staging', '-o', 'json')).stdout,
        '[]\n',
      );

      assert.equal(
        (await ws.run('users', 'remove', 'bob@example.com')).stderr,
        'Removed user bob@example.com\n',
      );
      const gone = await ws.run('users', 'remove', 'bob@example.com');
      assert.equal(gone.code, 1);
      assert.equal(gone.stderr, 'infra: No user named bob@example.com; nothing removed\n');
      assert.equal((await ws.run('users', 'remove', 'bob@example.com', '--force')).code, 0);
    });

    it('create keys for the connector', async () => {
      assert.equal(
        (await ws.run('keys', 'list', '--user', 'connector')).stdout,
        'No access keys; create one with `infra keys add`\n',
      );
      const res = await ws.run('keys', 'add', '--connector', '--name', 'prod-connector');
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^[0-9A-Za-z]{10}\.[0-9A-Za-z]{24}\n$/);
      const list = JSON.parse(
        (await ws.run('keys', 'list', '--user', 'connector', '--format', 'json')).stdout,
      );
      assert.equal(list[0].name, 'prod-connector');
      assert.ok(
        Date.parse(list[0].expires) - Date.now() > 360 * 86_400_000,
        'connector keys last about a year',
      );
      assert.equal(
        (await ws.run('keys', 'remove', 'prod-connector', '--user', 'connector')).code,
        0,
      );
      const bound = await ws.run('keys', 'add', '--connector', '--cluster', 'staging');
      assert.equal(bound.code, 0, bound.stderr);
      assert.match(
        bound.stderr,
        /^Created key staging-connector for connector \(cluster staging only\)/,
      );
      const [key] = JSON.parse(
        (await ws.run('keys', 'list', '--user', 'connector', '--format', 'json')).stdout,
      ) as Array<{ name: string; destination: string }>;
      assert.deepEqual([key?.name, key?.destination], ['staging-connector', 'staging']);
      // The documented rotation: the same command again adds a second key; the first still works.
      const rotated = await ws.run('keys', 'add', '--connector', '--cluster', 'staging');
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(
        rotated.stderr,
        /^Created key staging-connector-2 for connector \(cluster staging only\), expiring \S+\nstaging-connector still works; once the connector runs with the new key, remove it: `infra keys remove staging-connector --user connector`\n$/,
      );
      const third = await ws.run('keys', 'add', '--connector', '--destination', 'staging');
      assert.match(
        third.stderr,
        /^Created key staging-connector-3 .*\nstaging-connector, staging-connector-2 still work; once the connector runs with the new key, remove them: `infra keys remove staging-connector --user connector`, `infra keys remove staging-connector-2 --user connector`\n$/,
      );
      const taken = await ws.run('keys', 'add', '--connector', '--name', 'staging-connector');
      assert.equal(taken.code, 1);
      assert.equal(
        taken.stderr,
        'infra: connector already has a key named staging-connector; pick another --name, or remove that key first (`infra keys remove staging-connector --user connector`)\n',
      );
      for (const name of ['staging-connector-2', 'staging-connector-3'])
        assert.equal((await ws.run('keys', 'remove', name, '--user', 'connector')).code, 0);
      // A name alone would lose the key's secret: not offered.
      const nameOnly = await ws.run('keys', 'add', '--connector', '-o', 'name');
      assert.equal(nameOnly.code, 2);
      assert.match(nameOnly.stderr, /Allowed choices are table, json, yaml\./);
      const yaml = parse(
        (await ws.run('keys', 'add', '--connector', '--name', 'as-yaml', '-o', 'yaml')).stdout,
      ) as { name: string; accessKey: string };
      assert.equal(yaml.name, 'as-yaml');
      assert.match(yaml.accessKey, /^[0-9A-Za-z]{10}\.[0-9A-Za-z]{24}$/);
      await ws.run('keys', 'remove', 'as-yaml', '--user', 'connector');
      const mine = await ws.run('keys', 'add', '--cluster', 'staging');
      assert.equal(mine.code, 2);
      assert.match(mine.stderr, /--cluster is for connector keys: add --connector/);
      await ws.run('keys', 'remove', 'staging-connector', '--user', 'connector');
    });

    it('lists clusters and refuses what it does not understand with exit code 2', async () => {
      const listed = (await ws.run('clusters', 'list')).stdout;
      assert.match(
        listed,
        /^NAME\s+MODE\s+URL\s+STATUS\s+LAST SEEN\nprod\s+direct\s+https:\/\/prod.example.com:9443\s+connected/,
      );
      // The API's word keeps working, for scripts written before (names: no "seconds ago").
      const names = (await ws.run('clusters', 'list', '-o', 'name')).stdout;
      assert.match(names, /^prod\n/);
      assert.equal((await ws.run('destinations', 'ls', '-o', 'name')).stdout, names);
      assert.equal((await ws.run('no-such-command')).code, 2);
      // Help for a mistyped command is the mistake pointed out, not the top-level help.
      for (const argv of [
        ['help', 'lgoin'],
        ['lgoin', '--help'],
        ['-h', 'lgoin'],
      ]) {
        const res = await ws.run(...argv);
        assert.deepEqual(
          [res.code, res.stdout, res.stderr],
          [
            2,
            '',
            "error: unknown command 'lgoin'\n(Did you mean login?)\n(run with --help for usage)\n",
          ],
          argv.join(' '),
        );
      }
      const typo = await ws.run('users', 'help', 'lsit');
      assert.deepEqual([typo.code, typo.stderr.split('\n')[1]], [2, '(Did you mean list?)']);
      const nested = await ws.run('help', 'users', 'list');
      assert.equal(nested.code, 0);
      assert.match(nested.stdout, /^Usage: infra users list\|ls \[options\]/);
      assert.equal((await ws.run('help')).code, 0);
      assert.equal(
        (await ws.run('providers', 'list')).stdout,
        'No identity providers; add one with `infra providers add NAME --kind okta|azure|google|oidc --url ISSUER --client-id ID`\n',
      );
      assert.equal((await ws.run('grants', 'add', 'only-one-argument')).code, 2);
      const help = await ws.run('grants', 'add', '--help');
      assert.equal(help.code, 0);
      assert.match(
        help.stdout,
        /Example:\n {2}infra grants add alice@example.com prod.web --role edit/,
      );
    });
  });
});
