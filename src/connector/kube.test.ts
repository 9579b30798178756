import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeKube, type FakeKube } from '../../test/fake-kube/server.js';
import { Kube, KubeApiError } from './kube.js';

/** kubectl's kubeconfig, with this cluster and user entry. */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  });
}

describe('Kube: reaching the cluster from a kubeconfig', () => {
  let kube: FakeKube;
  let dir: string;
  let ca: string;
  before(async () => {
    kube = await startFakeKube();
    kube.addNamespace('web');
    dir = mkdtempSync(path.join(tmpdir(), 'infra-kube-'));
    const config = JSON.parse(kube.kubeconfig(kube.adminToken)) as {
      clusters: Array<{ cluster: Record<string, string> }>;
    };
    ca = Buffer.from(config.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(
      'utf8',
    );
  });
  after(() => kube.close());

  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads a CA file and a token file relative to the kubeconfig, and lists namespaces', async () => {
    write('ca.crt', ca);
    write('token', `${kube.adminToken}\n`);
    const file = write(
      'relative.yaml',
      kubeconfig({ server: kube.url, 'certificate-authority': 'ca.crt' }, { tokenFile: 'token' }),
    );
    const k = Kube.load(file);
    try {
      assert.ok((await k.listNamespaces()).includes('web'));
      assert.equal(k.uniqueId(), createHash('sha256').update(ca).digest('hex'));
      const upstream = await k.upstream();
      assert.equal(upstream.authorization, `Bearer ${kube.adminToken}`);
      assert.equal(upstream.tls.rejectUnauthorized, true);
    } finally {
      k.close();
    }
  });

  it('gets credentials from an exec plugin', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: kube.adminToken },
    });
    const file = write(
      'exec.yaml',
      kubeconfig(
        { server: kube.url, 'certificate-authority-data': Buffer.from(ca).toString('base64') },
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: process.execPath,
            args: ['-e', `process.stdout.write(${JSON.stringify(credential)})`],
            interactiveMode: 'Never',
          },
        },
      ),
    );
    const k = Kube.load(file);
    try {
      assert.ok((await k.listNamespaces()).includes('web'));
      assert.equal((await k.upstream()).authorization, `Bearer ${kube.adminToken}`);
    } finally {
      k.close();
    }
  });

  it("throws the apiserver's refusal with its status code", async () => {
    const file = write(
      'wrong-token.yaml',
      kubeconfig(
        { server: kube.url, 'certificate-authority-data': Buffer.from(ca).toString('base64') },
        { token: 'not-a-token' },
      ),
    );
    const k = Kube.load(file);
    try {
      await assert.rejects(
        k.listNamespaces(),
        (err: unknown) => err instanceof KubeApiError && err.code === 401,
      );
    } finally {
      k.close();
    }
  });

  it('refuses a kubeconfig without a current cluster, and a pod without a service', () => {
    const file = write(
      'no-context.yaml',
      JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], 'current-context': 'x' }),
    );
    assert.throws(() => Kube.load(file), /no-context\.yaml has no current cluster/);
    const host = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      assert.throws(() => Kube.load(undefined), /not running in a Kubernetes cluster/);
    } finally {
      if (host !== undefined) process.env.KUBERNETES_SERVICE_HOST = host;
    }
  });
});
