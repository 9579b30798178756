import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  spec?: { template?: { spec: PodSpec } };
}
interface PodSpec {
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  containers: Array<{
    securityContext?: Record<string, unknown>;
    resources?: { limits?: Record<string, string> };
  }>;
}

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await promisify(execFile)('kubectl', [
    'kustomize',
    path.join(root, 'deploy', dir),
  ]);
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

function assertHardened(pod: PodSpec): void {
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  for (const c of pod.containers) {
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'] });
    assert.ok(c.resources?.limits?.memory, 'a memory limit');
  }
}

describe('deploy/ manifests (rendered with kubectl kustomize)', () => {
  it('install the connector in its own namespace with least privileges', async () => {
    const objects = await render('connector');
    for (const o of objects.filter((o) => !CLUSTER_SCOPED.has(o.kind))) {
      assert.equal(o.metadata.namespace, 'infra-connector', `${o.kind} ${o.metadata.name}`);
    }
    const role = objects.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'infra-connector',
    )!;
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterrolebindings', 'rolebindings'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
      },
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles'],
        verbs: ['get', 'list', 'watch', 'bind'],
      },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    ]);
    for (const rule of role.rules!) {
      assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*'), 'no wildcards');
      assert.ok(!rule.resources.includes('secrets'), 'no secrets');
    }
    assert.deepEqual(
      objects
        .filter((o) => o.kind === 'ClusterRole' && o.metadata.name !== 'infra-connector')
        .map((o) => o.metadata.name),
      ['exec', 'logs', 'port-forward'],
    );
    assertHardened(objects.find((o) => o.kind === 'Deployment')!.spec!.template!.spec);
  });

  it('install the server in its own namespace without API access', async () => {
    const objects = await render('server');
    for (const o of objects.filter((o) => !CLUSTER_SCOPED.has(o.kind))) {
      assert.equal(o.metadata.namespace, 'infra', `${o.kind} ${o.metadata.name}`);
    }
    assert.equal(
      objects.filter((o) => o.kind.includes('Role')).length,
      0,
      'the server has no RBAC rights',
    );
    const pod = objects.find((o) => o.kind === 'StatefulSet')!.spec!.template!.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assertHardened(pod);
  });
});
