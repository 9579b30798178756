import { readFile } from 'node:fs/promises';
import type { SecretStore } from './secrets.js';

const POD_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

interface KubernetesStoreOptions {
  /** Namespace of the Secrets; default: the kubeconfig context's, else the pod's, else `default`. */
  namespace?: string;
  /** kubeconfig file; empty: the in-cluster service account. */
  kubeconfig?: string;
}

/**
 * `kubernetes:<secret>/<key>`: one key of a core/v1 Secret, read with the service account (or a
 * kubeconfig) when first needed. @kubernetes/client-node loads only then, so commands that never
 * read a Kubernetes secret do not pay for it.
 */
export function kubernetesStore(options: KubernetesStoreOptions): SecretStore {
  let client:
    | Promise<{
        read(name: string, namespace: string): Promise<Record<string, string> | undefined>;
        namespace: string;
      }>
    | undefined;
  const connect = async () => {
    const k8s = await import('@kubernetes/client-node');
    const config = new k8s.KubeConfig();
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromCluster();
    if (!config.getCurrentCluster()) {
      throw new Error(
        options.kubeconfig
          ? `${options.kubeconfig} has no current cluster`
          : 'not running in a Kubernetes cluster; give the storage a config.kubeconfig',
      );
    }
    const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
    const namespace =
      options.namespace ||
      contextNamespace ||
      (options.kubeconfig
        ? ''
        : (await readFile(POD_NAMESPACE_FILE, 'utf8').catch(() => '')).trim()) ||
      'default';
    const core = config.makeApiClient(k8s.CoreV1Api);
    return {
      namespace,
      async read(name: string, ns: string) {
        const secret = await core.readNamespacedSecret({ name, namespace: ns });
        return secret.data;
      },
    };
  };
  return {
    async get(name) {
      const slash = name.indexOf('/');
      if (slash <= 0 || slash === name.length - 1) {
        throw new Error('a Kubernetes secret reference has the form <secret>/<key>');
      }
      const [secretName, key] = [name.slice(0, slash), name.slice(slash + 1)];
      client ??= connect();
      let kube;
      try {
        kube = await client;
      } catch (err) {
        client = undefined;
        throw err;
      }
      let data: Record<string, string> | undefined;
      try {
        data = await kube.read(secretName, kube.namespace);
      } catch (err) {
        const code = (err as { code?: number | string }).code;
        if (code === 404)
          throw new Error(`secret ${secretName} not found in namespace ${kube.namespace}`, {
            cause: err,
          });
        if (code === 403 || code === 401) {
          throw new Error(
            `Kubernetes refused to read secret ${secretName} in namespace ${kube.namespace} (${code}); grant get on secrets`,
            { cause: err },
          );
        }
        throw new Error(
          `cannot read secret ${secretName} in namespace ${kube.namespace}: ${typeof code === 'string' ? code : (code ?? (err as Error).message)}`,
          { cause: err },
        );
      }
      const encoded = data?.[key];
      if (encoded === undefined) {
        throw new Error(`secret ${secretName} in namespace ${kube.namespace} has no key ${key}`);
      }
      return Buffer.from(encoded, 'base64').toString('utf8');
    },
  };
}
