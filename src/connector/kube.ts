import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import type {
  KubeConfig,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1RoleBinding,
} from '@kubernetes/client-node';
import { parse } from 'yaml';

/** Labels on every object the connector writes, so it only ever touches its own. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'infra';
export const DESTINATION_LABEL = 'app.infrahq.com/destination';
/** ClusterRoles with this label may be granted (besides the Kubernetes defaults). */
export const INCLUDE_ROLE_LABEL = 'app.infrahq.com/include-role';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The control path re-reads credentials (a rotated token file) this often. */
const CREDENTIALS_TTL_MS = 10_000;
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const seg = (s: string) => encodeURIComponent(s);

/** Where and how to reach the kube-apiserver on the proxy's data path. */
export interface Upstream {
  host: string;
  port: number;
  /** Options for node:https / node:tls: CA, client certificate, and the credentials header. */
  tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
  authorization?: string;
}

/** A refusal or failure answered by the kube-apiserver, with its status code and Status body. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(method: string, apiPath: string, code: number, body: unknown) {
    const message = (body as { message?: unknown } | undefined)?.message;
    super(`${method} ${apiPath}: HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`);
    this.code = code;
    this.body = body;
  }
}

/** The parts of a kubeconfig the connector reads (kubectl's names). */
interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
}
interface UserEntry {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}
interface KubeconfigFile {
  clusters?: Array<{ name: string; cluster: ClusterEntry }>;
  users?: Array<{ name: string; user: UserEntry }>;
  contexts?: Array<{ name: string; context: { cluster: string; user?: string } }>;
  'current-context'?: string;
}

/** How to authenticate to the cluster, as read from a kubeconfig or the pod. */
interface Credentials {
  server: URL;
  ca?: string;
  caFile?: string;
  skipTlsVerify: boolean;
  servername?: string;
  token?: string;
  tokenFile?: string;
  cert?: string;
  key?: string;
  basic?: string;
  /** Exec plugins and auth providers: delegated to @kubernetes/client-node (loaded only then). */
  delegate?: string;
}

function serviceAccount(): Credentials {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a Kubernetes cluster');
  return {
    server: new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`),
    caFile: path.join(SERVICE_ACCOUNT_DIR, 'ca.crt'),
    skipTlsVerify: false,
    // Projected service account tokens rotate: read at each refresh.
    tokenFile: path.join(SERVICE_ACCOUNT_DIR, 'token'),
  };
}

function fromKubeconfig(file: string): Credentials {
  const config = (parse(readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
  const context = config.contexts?.find((c) => c.name === config['current-context'])?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (!context || !cluster?.server) throw new Error(`${file} has no current cluster`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  const dir = path.dirname(file);
  const read = (data: string | undefined, ref: string | undefined) =>
    data !== undefined
      ? Buffer.from(data, 'base64').toString('utf8')
      : ref !== undefined
        ? readFileSync(path.resolve(dir, ref), 'utf8')
        : undefined;
  return {
    server: new URL(cluster.server),
    ca: cluster['certificate-authority-data']
      ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
      : undefined,
    caFile: cluster['certificate-authority']
      ? path.resolve(dir, cluster['certificate-authority'])
      : undefined,
    skipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    servername: cluster['tls-server-name'],
    token: user.token,
    tokenFile: user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined,
    cert: read(user['client-certificate-data'], user['client-certificate']),
    key: read(user['client-key-data'], user['client-key']),
    basic:
      user.username !== undefined
        ? Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')
        : undefined,
    delegate: user.exec || user['auth-provider'] ? file : undefined,
  };
}

/**
 * The connector's access to its cluster: in-cluster (service account) or through a kubeconfig.
 * Its few control-path calls (namespaces, roles, bindings) and the proxy's data path both use
 * bare node:https. @kubernetes/client-node (~80 MB and half a second to load) is loaded only for
 * kubeconfig users with an exec plugin or an auth provider, to compute their credentials.
 */
export class Kube {
  readonly #credentials: Credentials;
  #delegate: Promise<KubeConfig> | undefined;
  #current: { upstream: Upstream; at: number; agent: Agent } | undefined;

  private constructor(credentials: Credentials) {
    this.#credentials = credentials;
  }

  static load(kubeconfig: string | undefined): Kube {
    return new Kube(kubeconfig ? fromKubeconfig(kubeconfig) : serviceAccount());
  }

  /** A stable id for the cluster: the SHA-256 of its CA, or of its URL when it has none. */
  uniqueId(): string {
    const c = this.#credentials;
    const material = c.ca ?? (c.caFile ? readFileSync(c.caFile, 'utf8') : c.server.href);
    return createHash('sha256').update(material).digest('hex');
  }

  /** Connection details for the proxy, with fresh credentials (tokens from exec plugins expire). */
  async upstream(): Promise<Upstream> {
    const c = this.#credentials;
    const upstream: Upstream = {
      host: c.server.hostname.replace(/^\[|\]$/g, ''),
      port: Number(c.server.port || 443),
      tls: {
        ca: c.ca ?? (c.caFile ? readFileSync(c.caFile, 'utf8') : undefined),
        cert: c.cert,
        key: c.key,
        rejectUnauthorized: !c.skipTlsVerify,
        servername: c.servername,
      },
      authorization: c.token
        ? `Bearer ${c.token}`
        : c.tokenFile
          ? `Bearer ${readFileSync(c.tokenFile, 'utf8').trim()}`
          : c.basic
            ? `Basic ${c.basic}`
            : undefined,
    };
    if (c.delegate) {
      this.#delegate ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
        const config = new KubeConfig();
        config.loadFromFile(c.delegate!);
        return config;
      });
      const options: RequestOptions = {};
      await (await this.#delegate).applyToHTTPSOptions(options);
      const headers = (options.headers ?? {}) as Record<string, string>;
      upstream.authorization = headers.Authorization ?? headers.authorization;
      if (options.cert) upstream.tls.cert = options.cert;
      if (options.key) upstream.tls.key = options.key;
    }
    return upstream;
  }

  /** A JSON call to the kube-apiserver; throws KubeApiError for any answer but 2xx. */
  async #call<T>(method: string, apiPath: string, body?: unknown): Promise<T> {
    if (!this.#current || Date.now() - this.#current.at > CREDENTIALS_TTL_MS) {
      this.#current?.agent.destroy();
      const upstream = await this.upstream();
      const agent = new Agent({ keepAlive: true, maxSockets: 16, ...upstream.tls });
      this.#current = { upstream, at: Date.now(), agent };
    }
    const { upstream, agent } = this.#current;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          host: upstream.host,
          port: upstream.port,
          method,
          path: apiPath,
          agent,
          timeout: 30_000,
          headers: {
            accept: 'application/json',
            ...(upstream.authorization ? { authorization: upstream.authorization } : {}),
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (a proxy's error page): kept as text in the error.
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve(parsed as T);
            else reject(new KubeApiError(method, apiPath, code, parsed));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${apiPath}: no answer in 30s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async listNamespaces(): Promise<string[]> {
    const list = await this.#call<{ items: Array<{ metadata: { name: string } }> }>(
      'GET',
      '/api/v1/namespaces',
    );
    return list.items.map((n) => n.metadata.name).sort();
  }

  #listClusterRoles(labelSelector?: string): Promise<{ items: V1ClusterRole[] }> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    return this.#call('GET', `${RBAC}/clusterroles${query}`);
  }

  /** ClusterRoles that may be granted: Kubernetes defaults and labelled ones, never system:*. */
  async listGrantableRoles(): Promise<string[]> {
    const [defaults, included] = await Promise.all([
      this.#listClusterRoles('kubernetes.io/bootstrapping=rbac-defaults'),
      this.#listClusterRoles(`${INCLUDE_ROLE_LABEL}=true`),
    ]);
    const names = [...defaults.items, ...included.items].map((r) => r.metadata!.name!);
    return [...new Set(names)].filter((n) => !n.startsWith('system:')).sort();
  }

  /** Creates the ClusterRoles that are missing; leaves existing ones (admins may have tuned them). */
  async ensureClusterRoles(roles: V1ClusterRole[]): Promise<string[]> {
    const existing = new Set((await this.#listClusterRoles()).items.map((r) => r.metadata!.name!));
    const created: string[] = [];
    for (const role of roles) {
      if (existing.has(role.metadata!.name!)) continue;
      await this.#call('POST', `${RBAC}/clusterroles`, role);
      created.push(role.metadata!.name!);
    }
    return created;
  }

  async listClusterRoleBindings(labelSelector: string): Promise<V1ClusterRoleBinding[]> {
    const query = `?labelSelector=${encodeURIComponent(labelSelector)}`;
    return (
      await this.#call<{ items: V1ClusterRoleBinding[] }>(
        'GET',
        `${RBAC}/clusterrolebindings${query}`,
      )
    ).items;
  }

  async listRoleBindings(labelSelector: string): Promise<V1RoleBinding[]> {
    const query = `?labelSelector=${encodeURIComponent(labelSelector)}`;
    return (await this.#call<{ items: V1RoleBinding[] }>('GET', `${RBAC}/rolebindings${query}`))
      .items;
  }

  /** Writes of RoleBindings and ClusterRoleBindings, named as in @kubernetes/client-node. */
  readonly rbac = {
    createNamespacedRoleBinding: (a: { namespace: string; body: V1RoleBinding }) =>
      this.#call<V1RoleBinding>(
        'POST',
        `${RBAC}/namespaces/${seg(a.namespace)}/rolebindings`,
        a.body,
      ),
    createClusterRoleBinding: (a: { body: V1ClusterRoleBinding }) =>
      this.#call<V1ClusterRoleBinding>('POST', `${RBAC}/clusterrolebindings`, a.body),
    replaceNamespacedRoleBinding: (a: { name: string; namespace: string; body: V1RoleBinding }) =>
      this.#call<V1RoleBinding>(
        'PUT',
        `${RBAC}/namespaces/${seg(a.namespace)}/rolebindings/${seg(a.name)}`,
        a.body,
      ),
    replaceClusterRoleBinding: (a: { name: string; body: V1ClusterRoleBinding }) =>
      this.#call<V1ClusterRoleBinding>('PUT', `${RBAC}/clusterrolebindings/${seg(a.name)}`, a.body),
    deleteNamespacedRoleBinding: (a: { name: string; namespace: string }) =>
      this.#call<unknown>(
        'DELETE',
        `${RBAC}/namespaces/${seg(a.namespace)}/rolebindings/${seg(a.name)}`,
      ),
    deleteClusterRoleBinding: (a: { name: string }) =>
      this.#call<unknown>('DELETE', `${RBAC}/clusterrolebindings/${seg(a.name)}`),
  };

  /** Closes idle connections of the control path. */
  close(): void {
    this.#current?.agent.destroy();
    this.#current = undefined;
  }
}
