/**
 * The package people install (`npm pack`, then `npm install -g`) and the image deploy/ runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from './cli.js';
import { createSignedInUser, startAdminServer } from './identity.js';
import type { TestServer } from './server.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};

/** `npm pack` of the built tree (the test runner builds it; `prepack` builds for people). */
async function pack(): Promise<{ tarball: string; files: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-pack-'));
  const { stdout } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
    { cwd: repoRoot },
  );
  const [result] = JSON.parse(stdout) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  return { tarball: path.join(dir, result!.filename), files: result!.files.map((f) => f.path) };
}

/**
 * Lays the tarball out as `npm install -g --prefix PREFIX` does: the package in
 * lib/node_modules, its command a link in bin. Its dependencies are this checkout's (installing
 * them takes the network and minutes: `scripts/check-npm-install.sh` does that, outside the suite).
 */
async function installLikeNpm(tarball: string): Promise<{ bin: string }> {
  const prefix = mkdtempSync(path.join(tmpdir(), 'infra-prefix-'));
  const lib = path.join(prefix, 'lib', 'node_modules');
  mkdirSync(lib, { recursive: true });
  await run('tar', ['xzf', tarball, '-C', lib]);
  const pkgDir = path.join(lib, pkg.name);
  renameSync(path.join(lib, 'package'), pkgDir);
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(pkgDir, 'node_modules'));
  mkdirSync(path.join(prefix, 'bin'));
  symlinkSync(
    path.join('..', 'lib', 'node_modules', pkg.name, pkg.bin.infra!),
    path.join(prefix, 'bin', 'infra'),
  );
  return { bin: path.join(prefix, 'bin') };
}

describe('the packed package', () => {
  let packed: { tarball: string; files: string[] };
  before(async () => {
    packed = await pack();
  });

  it('holds the command and the bundles, and no sources, tests or state', () => {
    const { files } = packed;
    for (const needed of [
      'package.json',
      'README.md',
      pkg.bin.infra!,
      'dist/infra.mjs',
      'dist/tokens.cjs',
      'dist/mint.mjs',
    ])
      assert.ok(files.includes(needed), `${needed} is packed`);
    const unwanted = files.filter(
      (f) =>
        /^(src|test|bench|scripts|deploy|docs|node_modules|\.tmp)\//.test(f) ||
        /\.test\.|\.db$|\.key$|tsconfig|package-lock/.test(f) ||
        (f.startsWith('dashboard/') && !f.startsWith('dashboard/dist/')),
    );
    assert.deepEqual(unwanted, []);
    assert.match(
      readFileSync(path.join(repoRoot, pkg.bin.infra!), 'utf8'),
      /^#!\/usr\/bin\/env node\n/,
    );
  });

  describe('installed', () => {
    let server: TestServer;
    let key: string;
    before(async () => {
      const started = await startAdminServer('sqlite');
      server = started.server;
      await started.admin.createDestination({
        name: 'prod',
        uniqueID: 'prod',
        connection: { url: 'https://prod.example.com:9443', ca: CA },
        namespaces: ['default'],
        roles: ['view'],
      });
      const alice = await createSignedInUser(server, started.admin, 'alice@example.com');
      await started.admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
      key = (await alice.client.createAccessKey({ name: 'laptop', expiry: '1h' })).accessKey;
    });
    after(() => server.close());

    it('runs `infra --version`, and `infra login` writes contexts that run the installed infra', async () => {
      const { bin } = await installLikeNpm(packed.tarball);
      const home = mkdtempSync(path.join(tmpdir(), 'infra-home-'));
      const env = {
        HOME: home,
        KUBECONFIG: path.join(home, '.kube', 'config'),
        PATH: `${bin}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}/usr/bin:/bin`,
      };
      const infra = path.join(bin, 'infra');
      assert.equal((await run(infra, ['--version'], { env })).stdout, `${pkg.version}\n`);
      const host = new URL(server.url).host;
      const login = await run(
        infra,
        ['login', host, '--tls-trusted-fingerprint', server.running.fingerprint, '--key', key],
        { env },
      );
      assert.match(login.stderr, /^Logged in as alice@example\.com\n/);
      const kube = parse(readFileSync(env.KUBECONFIG, 'utf8')) as {
        users: Array<{ user: { exec: { command: string; args: string[] } } }>;
      };
      const exec = kube.users[0]!.user.exec;
      assert.equal(exec.command, infra, 'the command on PATH, nothing in a checkout');
      assert.deepEqual(exec.args, ['tokens', '--server', `https://${host}`, 'prod']);
      assert.ok(!JSON.stringify(kube).includes(repoRoot));
      // As kubectl runs it; the token comes from the installed package's bundles.
      const { stdout } = await run(exec.command, exec.args, {
        env: {
          ...env,
          KUBERNETES_EXEC_INFO: JSON.stringify({
            apiVersion: 'client.authentication.k8s.io/v1',
            kind: 'ExecCredential',
            spec: {
              interactive: false,
              cluster: {
                server: 'https://prod.example.com:9443',
                'certificate-authority-data': Buffer.from(CA).toString('base64'),
              },
            },
          }),
        },
      });
      assert.match(JSON.parse(stdout).status.token, /^ey/);
    });
  });
});

const CA = '-----BEGIN CERTIFICATE-----\nMIIBpackage\n-----END CERTIFICATE-----\n';

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/));

  it('builds the image deploy/ runs, with the user deploy/ runs it as', () => {
    const images = ['server', 'connector'].map((dir) => {
      const k = parse(
        readFileSync(path.join(repoRoot, 'deploy', dir, 'kustomization.yaml'), 'utf8'),
      );
      return `${k.images[0].newName}:${k.images[0].newTag}`;
    });
    assert.deepEqual(images, [images[0], images[0]], 'one image for both');
    assert.equal(images[0]!.split(':')[1], pkg.version, 'tagged with the package version');
    // The build command the Dockerfile and the docs give makes that image.
    for (const doc of ['Dockerfile', 'README.md'])
      assert.ok(
        readFileSync(path.join(repoRoot, doc), 'utf8').includes(`docker build -t ${images[0]} .`),
        doc,
      );
    for (const file of ['deploy/server/statefulset.yaml', 'deploy/connector/deployment.yaml']) {
      const pod = parse(readFileSync(path.join(repoRoot, file), 'utf8')).spec.template.spec;
      const ids = `${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`;
      assert.deepEqual(
        instructions.find((i) => i[0] === 'USER'),
        ['USER', ids],
        file,
      );
      assert.equal(pod.containers[0].image, 'infra');
    }
    assert.deepEqual(instructions.at(-1), ['ENTRYPOINT', '["infra"]']);
    assert.match(instructions[0]!.join(' '), /^FROM node:20(\.\d+)*-slim$/);
  });

  it('copies what `npm pack` makes, and .dockerignore lets it through', () => {
    const copies = instructions.filter((i) => i[0] === 'COPY');
    assert.ok(copies.length > 0);
    const tarball = `${pkg.name}-${pkg.version}.tgz`;
    const glob = (pattern: string) =>
      new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    for (const copy of copies) {
      for (const source of copy.slice(1, -1)) assert.match(tarball, glob(source), copy.join(' '));
    }
    const ignore = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    // Later lines win: the last one matching the tarball must let it through.
    const last = ignore.filter((l) => glob(l.replace(/^!/, '')).test(tarball)).at(-1);
    assert.ok(last?.startsWith('!'), 'the tarball is in the build context');
  });
});
