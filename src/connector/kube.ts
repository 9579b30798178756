import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import {
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1RoleBinding,
} from '@kubernetes/client-node';

/** Labels on every object the connector writes, so it only ever touches its own. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'infra';
export const DESTINATION_LABEL = 'app.infrahq.com/destination';
/** ClusterRoles with this label may be granted (besides the Kubernetes defaults). */
export const INCLUDE_ROLE_LABEL = 'app.infrahq.com/include-role';

const IN_CLUSTER_CA = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';

/** Where and how to reach the kube-apiserver on the proxy's data path. */
export interface Upstream {
  host: string;
  port: number;
  /** Options for node:https / node:tls: CA, client certificate, and the credentials header. */
  tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  authorization?: string;
}

/**
 * The connector's access to its cluster: in-cluster (service account) or through a kubeconfig.
 * The control path (RBAC sync, discovery of namespaces and roles) uses @kubernetes/client-node;
 * the proxy's data path uses `upstream()` with bare node:https.
 */
export class Kube {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly rbac: RbacAuthorizationV1Api;

  private constructor(config: KubeConfig) {
    this.config = config;
    this.core = config.makeApiClient(CoreV1Api);
    this.rbac = config.makeApiClient(RbacAuthorizationV1Api);
  }

  static load(kubeconfig: string | undefined): Kube {
    const config = new KubeConfig();
    if (kubeconfig) config.loadFromFile(kubeconfig);
    else config.loadFromCluster();
    if (!config.getCurrentCluster()) {
      throw new Error(
        kubeconfig ? `${kubeconfig} has no current cluster` : 'not running in a Kubernetes cluster',
      );
    }
    return new Kube(config);
  }

  /** A stable id for the cluster: the SHA-256 of its CA, or of its URL when it has none. */
  uniqueId(): string {
    const cluster = this.config.getCurrentCluster()!;
    let material: string = cluster.server;
    if (cluster.caData) material = Buffer.from(cluster.caData, 'base64').toString('utf8');
    else if (cluster.caFile) material = readFileSync(cluster.caFile, 'utf8');
    else if (cluster.server.includes('kubernetes.default'))
      material = readFileSync(IN_CLUSTER_CA, 'utf8');
    return createHash('sha256').update(material).digest('hex');
  }

  /** Connection details for the proxy, with fresh credentials (tokens from exec plugins expire). */
  async upstream(): Promise<Upstream> {
    const cluster = this.config.getCurrentCluster()!;
    const url = new URL(cluster.server);
    const options: RequestOptions = {};
    await this.config.applyToHTTPSOptions(options);
    const headers = (options.headers ?? {}) as Record<string, string>;
    return {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      tls: {
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        rejectUnauthorized: !cluster.skipTLSVerify,
        servername: cluster.tlsServerName,
      },
      authorization: headers.Authorization ?? headers.authorization,
    };
  }

  async listNamespaces(): Promise<string[]> {
    const list = await this.core.listNamespace();
    return list.items.map((n) => n.metadata!.name!).sort();
  }

  /** ClusterRoles that may be granted: Kubernetes defaults and labelled ones, never system:*. */
  async listGrantableRoles(): Promise<string[]> {
    const [defaults, included] = await Promise.all([
      this.rbac.listClusterRole({ labelSelector: 'kubernetes.io/bootstrapping=rbac-defaults' }),
      this.rbac.listClusterRole({ labelSelector: `${INCLUDE_ROLE_LABEL}=true` }),
    ]);
    const names = [...defaults.items, ...included.items].map((r) => r.metadata!.name!);
    return [...new Set(names)].filter((n) => !n.startsWith('system:')).sort();
  }

  /** Creates the ClusterRoles that are missing; leaves existing ones (admins may have tuned them). */
  async ensureClusterRoles(roles: V1ClusterRole[]): Promise<string[]> {
    const existing = new Set(
      (await this.rbac.listClusterRole()).items.map((r) => r.metadata!.name!),
    );
    const created: string[] = [];
    for (const role of roles) {
      if (existing.has(role.metadata!.name!)) continue;
      await this.rbac.createClusterRole({ body: role });
      created.push(role.metadata!.name!);
    }
    return created;
  }

  async listClusterRoleBindings(labelSelector: string): Promise<V1ClusterRoleBinding[]> {
    return (await this.rbac.listClusterRoleBinding({ labelSelector })).items;
  }

  async listRoleBindings(labelSelector: string): Promise<V1RoleBinding[]> {
    return (await this.rbac.listRoleBindingForAllNamespaces({ labelSelector })).items;
  }
}
