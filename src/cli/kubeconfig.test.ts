import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { workstation, type Workstation } from '../../test/cli.js';
import { kubectl, startCluster, type Cluster } from '../../test/cluster.js';
import { createSignedInUser } from '../../test/identity.js';
import { createCertificateAuthority, issueServerCertificate } from '../shared/tls/certificates.js';

/** An HTTPS server Infra knows nothing about; it keeps every Authorization header it receives. */
async function startForeignServer() {
  const ca = await createCertificateAuthority(Date.now(), 'Someone Else CA');
  const leaf = await issueServerCertificate(ca, ['127.0.0.1'], Date.now(), 1);
  const authorizations: string[] = [];
  const server = createServer({ key: leaf.privateKey, cert: leaf.certificate }, (req, res) => {
    if (req.headers.authorization) authorizations.push(req.headers.authorization);
    res.writeHead(401, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'Unauthorized',
        code: 401,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: ca.certificate,
    authorizations,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('kubeconfig entries Infra did not write, with real kubectl', () => {
  let cluster: Cluster;
  let foreign: Awaited<ReturnType<typeof startForeignServer>>;
  let aliceKey: string;

  before(async () => {
    [cluster, foreign] = await Promise.all([startCluster('sqlite'), startForeignServer()]);
    const alice = await createSignedInUser(cluster.server, cluster.admin, 'alice@example.com');
    await cluster.admin.createGrant({ user: alice.id, privilege: 'view', resource: 'prod' });
    await cluster.connectorCaughtUp();
    aliceKey = (await alice.client.createAccessKey({ expiry: '1h' })).accessKey;
  });
  beforeEach(() => {
    foreign.authorizations.length = 0;
  });
  after(async () => {
    await cluster.close();
    await foreign.close();
  });

  /**
   * `kubectl config ...` on the workstation's kubeconfig, as a person would type it. Not
   * blocking this process: the kubectl here (a version dispatcher) may call its servers.
   */
  const config = async (ws: Workstation, ...args: string[]) => {
    mkdirSync(path.dirname(ws.kubeconfig), { recursive: true });
    await promisify(execFile)('kubectl', ['config', ...args, '--kubeconfig', ws.kubeconfig]);
  };
  const foreignCaFile = (ws: Workstation) => {
    const file = path.join(ws.home, 'foreign-ca.pem');
    writeFileSync(file, foreign.ca);
    return file;
  };
  const login = (ws: Workstation) =>
    ws.run(
      'login',
      new URL(cluster.server.url).host,
      '--tls-trusted-fingerprint',
      cluster.server.running.fingerprint,
      '--key',
      aliceKey,
    );

  it('writes no context over a cluster entry it did not write, and says how to fix it', async () => {
    const ws = workstation();
    await config(
      ws,
      'set-cluster',
      'infra:prod',
      `--server=${foreign.url}`,
      `--certificate-authority=${foreignCaFile(ws)}`,
      '--embed-certs',
    );
    const res = await login(ws);
    assert.equal(res.code, 0, res.stderr);
    const used = await kubectl(ws, ['--context', 'infra:prod', 'get', 'pods']);
    assert.notEqual(used.code, 0);
    assert.deepEqual(foreign.authorizations, [], 'no credential reached the foreign server');
    assert.equal(
      res.stderr,
      [
        `Did not write the kubeconfig context infra:prod: the cluster entry infra:prod in ${ws.kubeconfig} was not written by Infra, and kubectl would send your Infra credentials to its server. Remove or rename it (kubectl config delete-cluster infra:prod), then run \`infra list\`.`,
        'Logged in as alice@example.com',
        '',
      ].join('\n'),
    );

    // The fix the message gives works.
    await config(ws, 'delete-cluster', 'infra:prod');
    const list = await ws.run('list');
    assert.equal(list.stderr, '');
    const fixed = await kubectl(ws, ['--context', 'infra:prod', 'get', 'pods']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stdout, /app-1/);
    assert.deepEqual(foreign.authorizations, []);
  });

  it('gives kubectl no token for a server other than the one Infra knows for the cluster', async () => {
    const ws = workstation();
    assert.equal((await login(ws)).code, 0);
    const ca = foreignCaFile(ws);
    // A context of the user's own that borrows Infra's user entry for another server.
    await config(
      ws,
      'set-cluster',
      'elsewhere',
      `--server=${foreign.url}`,
      `--certificate-authority=${ca}`,
    );
    await config(ws, 'set-context', 'borrowed', '--cluster=elsewhere', '--user=infra:prod');
    for (const args of [
      ['--context', 'borrowed'],
      ['--context', 'infra:prod', '--server', foreign.url, '--certificate-authority', ca],
      ['--context', 'infra:prod', '--server', foreign.url, '--insecure-skip-tls-verify'],
    ]) {
      // `get --raw`: one request, without the retries of API discovery.
      const res = await kubectl(ws, [...args, 'get', '--raw', '/api/v1/namespaces/default/pods']);
      assert.notEqual(res.code, 0, args.join(' '));
      assert.match(
        res.stderr,
        /infra: Refused to give kubectl a token for prod: it would send it to a server Infra does not know for prod/,
        args.join(' '),
      );
    }
    assert.deepEqual(foreign.authorizations, [], 'no credential reached the foreign server');
    const own = await kubectl(ws, ['--context', 'infra:prod', 'get', 'pods']);
    assert.equal(own.code, 0, own.stderr);
  });

  it('refuses a cluster entry of its own that was edited to point elsewhere, and restores it', async () => {
    const ws = workstation();
    assert.equal((await login(ws)).code, 0);
    await config(
      ws,
      'set-cluster',
      'infra:prod',
      `--server=${foreign.url}`,
      `--certificate-authority=${foreignCaFile(ws)}`,
      '--embed-certs',
    );
    const edited = await kubectl(ws, ['--context', 'infra:prod', 'get', 'pods']);
    assert.notEqual(edited.code, 0);
    assert.match(edited.stderr, /infra: Refused to give kubectl a token for prod/);
    assert.deepEqual(foreign.authorizations, [], 'no credential reached the foreign server');

    const list = await ws.run('list');
    assert.equal(
      list.stderr,
      `Rewrote the cluster entry infra:prod in ${ws.kubeconfig}: it had been changed since Infra wrote it. Infra manages the entries it writes; keep your own under another name.\n`,
    );
    const restored = await kubectl(ws, ['--context', 'infra:prod', 'get', 'pods']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(foreign.authorizations, []);
  });
});
