/**
 * A fake kube-apiserver for tests, faithful where our connector and kubectl look: HTTPS only,
 * bearer tokens, impersonation, RBAC, discovery from the Kubernetes project's published
 * documents, CRUD + watch on every discovered resource (objects in memory), server-side tables,
 * pod logs (with follow) and websocket exec. See README.md for what it does not do.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import {
  createCertificateAuthority,
  issueServerCertificate,
} from '../../src/shared/tls/certificates.js';
import { Discovery } from './discovery.js';
import { decodeProtobufObject } from './protobuf.js';
import {
  bootstrapMetadata,
  defaultClusterRoleBindings,
  defaultClusterRoles,
  Rbac,
  RBAC_GROUP,
  type Attributes,
  type PolicyRule,
  type UserInfo,
} from './rbac.js';
import { Registry, type Target } from './registry.js';
import {
  accessDenied,
  aggregate,
  badRequest,
  internalError,
  methodNotAllowed,
  noSuchResource,
  PlainTextError,
  StatusError,
} from './status.js';
import {
  fieldSelector,
  labelSelector,
  SelectorError,
  Store,
  type KubeObject,
  type StoreEvent,
} from './store.js';
import { table } from './tables.js';
import { serveSpdy, type SpdyStream } from './spdy.js';
import { acceptWebSocket, pickProtocol } from './websocket.js';
import { isJson, isTrue, mediaTypes, notAcceptable, output, requestInfo } from './request.js';

export type { KubeObject } from './store.js';
export type { UserInfo } from './rbac.js';

export interface TokenIdentity {
  user: string;
  uid?: string;
  groups?: string[];
}

export interface FakeKubeOptions {
  /** Bearer tokens and whom they authenticate (`adminToken` is always there too). */
  tokens?: Record<string, TokenIdentity>;
  /** The server's minor version, "30" by default: /usr/bin/kubectl runs kubectl.1.<minor>. */
  minor?: string;
}

export interface Impersonation {
  user?: string;
  groups: string[];
  uid?: string;
  extra: Record<string, string[]>;
}

export interface RequestRecord {
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** The Impersonate-* headers as received (repeated headers kept apart). */
  impersonation: Impersonation;
  /** The token's owner, when the token was valid. */
  authenticatedAs?: string;
  /** Whom the request ran as (after impersonation), when it got that far. */
  user?: UserInfo;
  /** The RBAC verb of a resource request, or the lower-cased method of a non-resource one. */
  verb?: string;
  /** The request body's Content-Type, if any. */
  contentType?: string;
  status: number;
  /** Settles when the response, stream or upgraded connection is over. */
  finished: Promise<void>;
}

export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  user: UserInfo;
  /** What the client sent on stdin so far. */
  stdin: string;
}

export interface PortForwardRecord {
  namespace: string;
  pod: string;
  port: number;
  user: UserInfo;
}

/** The remote command protocols the fake's exec speaks, over a websocket or SPDY. */
const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** The websocket subprotocol kubectl tunnels port-forward's SPDY connection in. */
const PORT_FORWARD_TUNNEL = 'SPDY/3.1+portforward.k8s.io';

export interface FakeKube {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** The CA that signed the server's certificate. */
  caPem: string;
  /** Authenticates as `kubernetes-admin` in `system:masters`. */
  adminToken: string;
  /** A kubeconfig (JSON, which kubectl reads as YAML) for this server and `token`. */
  kubeconfig(token: string, namespace?: string): string;
  addToken(token: string, identity: TokenIdentity): void;
  /** Every request, in the order their response status was decided. */
  readonly requests: readonly RequestRecord[];
  /** The first request (seen or yet to come) that `match` accepts. */
  waitForRequest(match: (r: RequestRecord) => boolean): Promise<RequestRecord>;
  readonly execs: readonly ExecRecord[];
  /** The port-forward connections made, in order. */
  readonly forwards: readonly PortForwardRecord[];
  /**
   * Copies of the stored objects of a resource, named as kubectl names them: `pods`,
   * `roles.rbac.authorization.k8s.io`.
   */
  objects(resource: string, namespace?: string): KubeObject[];
  namespaces(): KubeObject[];
  pods(namespace?: string): KubeObject[];
  secrets(namespace?: string): KubeObject[];
  clusterRoles(): KubeObject[];
  clusterRoleBindings(): KubeObject[];
  roles(namespace?: string): KubeObject[];
  roleBindings(namespace?: string): KubeObject[];
  /** Creates or replaces an object directly (no authorization or admission); watchers see it. */
  seed(resource: string, object: KubeObject): KubeObject;
  addNamespace(name: string, labels?: Record<string, string>): KubeObject;
  /** A running pod with one container per name (default `main`). */
  addPod(
    namespace: string,
    name: string,
    options?: { containers?: string[]; labels?: Record<string, string> },
  ): KubeObject;
  /** Appends a line to the pod's log; `logs -f` followers receive it at once. */
  appendLog(namespace: string, pod: string, line: string): void;
  /**
   * Makes writes (create, update, patch, delete, deletecollection) fail: `true` until turned off,
   * a number for that many writes. 429 comes with Retry-After: 1, which client-go retries itself.
   */
  failWrites(failing: boolean | number, code?: 429 | 500 | 503): void;
  close(): Promise<void>;
}

type Out =
  { kind: 'http'; res: ServerResponse } | { kind: 'upgrade'; socket: Duplex; head: Buffer };

interface Exchange {
  req: IncomingMessage;
  url: URL;
  out: Out;
  record: RequestRecord;
}

const groupVersion = (t: Target) => (t.group ? `${t.group}/${t.version}` : t.version);
const full = (t: Target, o: KubeObject): KubeObject => ({
  kind: t.kind,
  apiVersion: groupVersion(t),
  ...o,
});

/** Deletes answer with the object for these, and with a Success Status otherwise. */
const DELETE_RETURNS_OBJECT = new Set(['/pods', '/namespaces']);

/** How long the fake's exec "process" takes to start when the client sends nothing first. */
const PROCESS_START_MS = 100;

const SYSTEM_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

/** Field labels every resource supports, plus the extra ones of a few kinds. */
const FIELD_LABELS: Record<string, string[]> = {
  '/pods': [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
  ],
  '/secrets': ['type'],
  '/namespaces': ['status.phase'],
};

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const minor = options.minor ?? '30';
  const now = Date.now();
  const ca = await createCertificateAuthority(now, 'fake-kube CA');
  const leaf = await issueServerCertificate(ca, ['localhost', '127.0.0.1'], now, 2);

  const discovery = new Discovery();
  const store = new Store();
  const rbac = new Rbac(store);
  const registry = new Registry(store, rbac);
  const adminToken = randomBytes(16).toString('hex');
  const tokens = new Map<string, TokenIdentity>(Object.entries(options.tokens ?? {}));
  tokens.set(adminToken, { user: 'kubernetes-admin', groups: ['system:masters'] });
  const requests: RequestRecord[] = [];
  const waiters = new Set<{
    match: (r: RequestRecord) => boolean;
    resolve: (r: RequestRecord) => void;
  }>();
  const execs: ExecRecord[] = [];
  const forwards: PortForwardRecord[] = [];
  const logs = new Map<string, string[]>();
  const logFollowers = new Map<string, Set<(line: string) => void>>();
  const upgraded = new Set<Duplex>();
  const failure = { remaining: 0, code: 503 };

  function target(group: string, version: string, resource: string): Target | undefined {
    const api = discovery.resource(group, version, resource);
    return (
      api && {
        group,
        version,
        resource,
        kind: api.kind,
        namespaced: api.namespaced,
        store: `${group}/${resource}`,
      }
    );
  }

  /** `pods`, `rolebindings.rbac.authorization.k8s.io` → the preferred version's target. */
  function named(qualifiedName: string): Target {
    const [resource = '', ...rest] = qualifiedName.split('.');
    const group = rest.join('.');
    const version = group ? discovery.group(group)?.preferredVersion.version : 'v1';
    const t = version ? target(group, version, resource) : undefined;
    if (!t) throw new Error(`fake-kube: no resource ${qualifiedName}`);
    return t;
  }

  // A fresh cluster: its namespaces and the default RBAC policy.
  for (const ns of SYSTEM_NAMESPACES) {
    registry.seed(named('namespaces'), { metadata: { name: ns } });
  }
  for (const [name, rules, labels] of defaultClusterRoles) {
    registry.seed(named(`clusterroles.${RBAC_GROUP}`), {
      metadata: bootstrapMetadata(name, labels),
      rules,
    });
  }
  for (const [name, role, groups] of defaultClusterRoleBindings) {
    registry.seed(named(`clusterrolebindings.${RBAC_GROUP}`), {
      metadata: bootstrapMetadata(name),
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
      subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
    });
  }

  // ---- responses ----

  function publish(ex: Exchange, status: number) {
    if (ex.record.status) return;
    ex.record.status = status;
    requests.push(ex.record);
    for (const w of waiters) {
      if (w.match(ex.record)) {
        waiters.delete(w);
        w.resolve(ex.record);
      }
    }
  }

  function respond(ex: Exchange, status: number, body: string, headers: Record<string, string>) {
    publish(ex, status);
    const all = {
      'Audit-Id': randomUUID(),
      'Cache-Control': 'no-cache, private',
      ...headers,
      'Content-Length': String(Buffer.byteLength(body)),
    };
    if (ex.out.kind === 'http') {
      ex.out.res.writeHead(status, all).end(body);
      return;
    }
    const head = Object.entries({ ...all, Connection: 'close' })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    ex.out.socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`);
  }

  // Go's json.Encoder ends each document with a newline; so does the apiserver.
  const json = (
    ex: Exchange,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    respond(ex, status, `${JSON.stringify(body)}\n`, {
      'Content-Type': 'application/json',
      ...headers,
    });

  /** Starts a streamed 200 (watch, log follow) and returns the response to write to. */
  function stream(ex: Exchange, contentType: string): ServerResponse {
    if (ex.out.kind !== 'http') throw badRequest('streaming requests cannot be upgraded');
    publish(ex, 200);
    const res = ex.out.res;
    res.writeHead(200, {
      'Audit-Id': randomUUID(),
      'Cache-Control': 'no-cache, private',
      'Content-Type': contentType,
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    return res;
  }

  function fail(ex: Exchange, err: unknown) {
    if (ex.record.status) {
      // Already streaming: all that can be done is to drop the connection.
      if (ex.out.kind === 'http') ex.out.res.destroy();
      else ex.out.socket.destroy();
      return;
    }
    if (err instanceof SelectorError) err = badRequest(err.message);
    if (err instanceof PlainTextError) {
      respond(ex, err.code, `${err.message}\n`, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      });
    } else if (err instanceof StatusError) {
      json(ex, err.code, err.body, err.headers);
    } else {
      json(ex, 500, internalError(err instanceof Error ? err.message : String(err)).body);
    }
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** A JSON, YAML or (for the kinds protobuf.ts knows) protobuf request body. */
  async function readObject(ex: Exchange): Promise<unknown> {
    const type = (ex.req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
    const body = await readBody(ex.req);
    const unsupported = (why: string) =>
      new StatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (${why})`,
      );
    if (type === 'application/vnd.kubernetes.protobuf') {
      try {
        return decodeProtobufObject(body);
      } catch (err) {
        throw unsupported(`fake-kube: ${(err as Error).message}`);
      }
    }
    if (type !== 'application/json' && type !== 'application/yaml') throw unsupported(type);
    try {
      return type === 'application/yaml' ? parseYaml(body.toString()) : JSON.parse(body.toString());
    } catch (err) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
    }
  }

  // ---- authentication and impersonation ----

  /** A token's user, with the group every authenticated user gets. */
  function userOf(token: string): UserInfo | undefined {
    const id = tokens.get(token);
    if (!id) return undefined;
    const groups = id.groups ?? [];
    return {
      username: id.user,
      ...(id.uid && { uid: id.uid }),
      groups: groups.includes('system:authenticated')
        ? groups
        : [...groups, 'system:authenticated'],
    };
  }

  function authenticate(req: IncomingMessage): UserInfo {
    const [scheme, token] = (req.headers.authorization ?? '').trim().split(' ');
    const user = scheme?.toLowerCase() === 'bearer' && token ? userOf(token) : undefined;
    if (!user) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    return user;
  }

  function impersonationHeaders(req: IncomingMessage): Impersonation {
    // Node reads header values as Latin-1, one character per byte; Go keeps the bytes, which
    // RBAC then compares with the UTF-8 of subject names: decode the bytes as UTF-8.
    const h: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      h[name] = (values ?? []).map((v) => Buffer.from(v, 'latin1').toString('utf8'));
    }
    const extra: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(h)) {
      if (name.startsWith('impersonate-extra-')) {
        extra[decodeURIComponent(name.slice('impersonate-extra-'.length))] = values;
      }
    }
    return {
      ...(h['impersonate-user']?.[0] && { user: h['impersonate-user'][0] }),
      groups: h['impersonate-group'] ?? [],
      ...(h['impersonate-uid']?.[0] && { uid: h['impersonate-uid'][0] }),
      extra,
    };
  }

  /** filters.WithImpersonation: every impersonated value must be authorized, one by one. */
  function impersonate(ex: Exchange, requestor: UserInfo): UserInfo {
    const imp = ex.record.impersonation;
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(imp.user ?? '');
    type Ref = Pick<Attributes, 'apiGroup' | 'resource' | 'subresource' | 'name' | 'namespace'> & {
      kind: string;
    };
    const ref = (kind: string, resource: string, name: string, more: Partial<Ref> = {}): Ref => ({
      kind,
      apiGroup: '',
      resource,
      subresource: '',
      name,
      namespace: '',
      ...more,
    });
    const auth = { apiGroup: 'authentication.k8s.io' };
    const refs: Ref[] = [
      ...(sa ? [ref('ServiceAccount', 'serviceaccounts', sa[2]!, { namespace: sa[1]! })] : []),
      ...(imp.user && !sa ? [ref('User', 'users', imp.user)] : []),
      ...imp.groups.map((g) => ref('Group', 'groups', g)),
      ...Object.entries(imp.extra).flatMap(([key, values]) =>
        values.map((v) => ref('UserExtra', 'userextras', v, { ...auth, subresource: key })),
      ),
      ...(imp.uid ? [ref('UID', 'uids', imp.uid, auth)] : []),
    ];
    if (refs.length === 0) return requestor;
    if (!imp.user) {
      // Not a Status: the real filter answers with http.Error and Go's %v of ObjectReferences.
      const goRefs = refs.map(
        (r) =>
          `{${r.kind} ${r.namespace} ${r.name}  ${r.apiGroup ? `${r.apiGroup}/v1` : ''}  ${r.subresource}}`,
      );
      const message = `Internal Server Error: ${JSON.stringify(ex.req.url)}: requested [${goRefs.join(' ')}] without impersonating a user`;
      throw new PlainTextError(
        500,
        message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
      );
    }
    for (const r of refs) {
      const attrs: Attributes = {
        ...r,
        user: requestor,
        verb: 'impersonate',
        resourceRequest: true,
        path: ex.url.pathname,
        apiVersion: r.apiGroup ? 'v1' : '',
      };
      const d = rbac.authorize(attrs);
      if (!d.allowed) throw accessDenied(attrs, d.reason);
    }
    const username = imp.user;
    let groups = [...imp.groups];
    if (sa && groups.length === 0) {
      groups = ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`];
    }
    if (username === 'system:anonymous') {
      if (!groups.includes('system:unauthenticated')) groups.push('system:unauthenticated');
    } else if (
      !groups.includes('system:authenticated') &&
      !groups.includes('system:unauthenticated')
    ) {
      groups.push('system:authenticated');
    }
    return {
      username,
      ...(imp.uid && { uid: imp.uid }),
      groups,
      ...(Object.keys(imp.extra).length && { extra: imp.extra }),
    };
  }

  // ---- routing ----

  async function handle(req: IncomingMessage, out: Out) {
    const url = new URL(req.url ?? '/', 'https://fake-kube');
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    (out.kind === 'http' ? out.res : out.socket).once('close', finish);
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      impersonation: impersonationHeaders(req),
      ...(req.headers['content-type'] && { contentType: req.headers['content-type'] }),
      status: 0,
      finished,
    };
    const ex: Exchange = { req, url, out, record };
    try {
      const requestor = authenticate(req);
      record.authenticatedAs = requestor.username;
      const user = impersonate(ex, requestor);
      record.user = user;
      const a: Attributes = { ...requestInfo(record.method, url), user };
      record.verb = a.verb;
      const d = rbac.authorize(a);
      if (!d.allowed) throw accessDenied(a, d.reason);
      await (a.resourceRequest ? resource(ex, a) : nonResource(ex, a));
    } catch (err) {
      fail(ex, err);
    }
  }

  function nonResource(ex: Exchange, a: Attributes) {
    const path = a.path.replace(/\/$/, '') || '/';
    if (ex.record.method !== 'GET') throw noSuchResource();
    if (path === '/version') {
      return json(ex, 200, {
        major: '1',
        minor,
        gitVersion: `v1.${minor}.0`,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2024-01-01T00:00:00Z',
        goVersion: 'go1.22.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    }
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      return respond(ex, 200, 'ok', { 'Content-Type': 'text/plain; charset=utf-8' });
    }
    if (path === '/api') return discoveryDocument(ex, discovery.api, discovery.coreGroups);
    if (path === '/apis') return discoveryDocument(ex, discovery.apis, discovery.groups);
    const m = /^\/(?:api|apis\/([^/]+))(?:\/([^/]+))?$/.exec(path);
    const doc =
      m &&
      (m[2]
        ? discovery.resourceList(m[1] ? `${m[1]}/${m[2]}` : m[2])
        : m[1] && discovery.group(m[1]));
    if (!doc) throw noSuchResource();
    return json(ex, 200, doc);
  }

  /** /api and /apis: aggregated discovery (v2 or v2beta1) when the client asks for it first. */
  function discoveryDocument(ex: Exchange, legacy: object, items: object[]) {
    for (const m of mediaTypes(ex.req.headers.accept)) {
      if (!isJson(m.type)) continue;
      const { as, g, v } = m.params;
      if (!as) return json(ex, 200, legacy, { Vary: 'Accept' });
      if (
        as === 'APIGroupDiscoveryList' &&
        g === 'apidiscovery.k8s.io' &&
        (v === 'v2' || v === 'v2beta1')
      ) {
        const body = {
          kind: 'APIGroupDiscoveryList',
          apiVersion: `apidiscovery.k8s.io/${v}`,
          metadata: {},
          items,
        };
        return json(ex, 200, body, {
          'Content-Type': `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`,
          Vary: 'Accept',
        });
      }
    }
    throw notAcceptable();
  }

  async function resource(ex: Exchange, a: Attributes) {
    const t = target(a.apiGroup, a.apiVersion, a.resource);
    const sub = a.subresource
      ? target(a.apiGroup, a.apiVersion, `${a.resource}/${a.subresource}`)
      : t;
    if (!t || !sub) throw noSuchResource();
    // For namespaces themselves the request info's namespace is the name.
    const namespace = t.store === '/namespaces' ? '' : a.namespace;
    if (!t.namespaced && namespace) throw noSuchResource();
    const verbs = discovery.resource(a.apiGroup, a.apiVersion, sub.resource)!.verbs;
    if (!verbs.includes(a.verb)) throw methodNotAllowed();
    // Across all namespaces there is only list and watch.
    if (t.namespaced && !namespace && a.verb !== 'list' && a.verb !== 'watch') {
      throw methodNotAllowed();
    }

    if (a.subresource === 'log') return podLog(ex, t, namespace, a.name);
    if (a.subresource === 'exec' || a.subresource === 'attach') return exec(ex, a, t, namespace);
    if (a.subresource === 'portforward') return portForward(ex, a, t, namespace);
    if (a.subresource) throw noSuchResource();
    if (t.group === 'authorization.k8s.io' || t.group === 'authentication.k8s.io') {
      return review(ex, a, t, namespace);
    }
    return crud(ex, a, t, namespace);
  }

  async function crud(ex: Exchange, a: Attributes, t: Target, namespace: string) {
    const { user, name } = a;
    if (['create', 'update', 'patch', 'delete', 'deletecollection'].includes(a.verb)) {
      injectFailure();
    }
    switch (a.verb) {
      case 'get':
        return sendObjects(ex, t, [registry.get(t, namespace, name)], true);
      case 'list':
      case 'watch': {
        const matches = selector(ex, t, name);
        if (a.verb === 'watch') return watch(ex, t, namespace, matches);
        return sendObjects(
          ex,
          t,
          store.list(t.store, namespace || undefined).filter(matches),
          false,
        );
      }
      case 'create': {
        const body = await readObject(ex);
        return json(ex, 201, full(t, registry.create(t, namespace, body, user)));
      }
      case 'update': {
        const body = await readObject(ex);
        const { object, created } = registry.update(t, namespace, name, body, user);
        return json(ex, created ? 201 : 200, full(t, object));
      }
      case 'patch': {
        const type = (ex.req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const types = [
          'application/json-patch+json',
          'application/merge-patch+json',
          'application/strategic-merge-patch+json',
        ];
        if (!types.includes(type)) {
          throw new StatusError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${types.join(', ')}`,
          );
        }
        const body = (await readBody(ex.req)).toString();
        return json(ex, 200, full(t, registry.patch(t, namespace, name, type, body, user)));
      }
      case 'delete': {
        const gone = registry.delete(t, namespace, name);
        if (DELETE_RETURNS_OBJECT.has(t.store)) return json(ex, 200, full(t, gone));
        return json(ex, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: {
            name,
            ...(t.group && { group: t.group }),
            kind: t.resource,
            uid: gone.metadata.uid,
          },
        });
      }
      case 'deletecollection': {
        const matches = selector(ex, t, '');
        const gone = store
          .list(t.store, namespace)
          .filter(matches)
          .map((o) => registry.delete(t, namespace, o.metadata.name));
        return json(ex, 200, {
          kind: `${t.kind}List`,
          apiVersion: groupVersion(t),
          metadata: { resourceVersion: store.resourceVersion },
          items: gone,
        });
      }
      default:
        throw methodNotAllowed();
    }
  }

  function injectFailure() {
    if (failure.remaining <= 0) return;
    failure.remaining--;
    if (failure.code === 500) throw internalError('etcdserver: request timed out');
    if (failure.code === 429) {
      throw new StatusError(
        429,
        'TooManyRequests',
        'Too many requests, please try again later.',
        { retryAfterSeconds: 1 },
        { 'Retry-After': '1' },
      );
    }
    throw new StatusError(
      503,
      'ServiceUnavailable',
      'the server is currently unable to handle the request',
      {},
    );
  }

  function selector(ex: Exchange, t: Target, name: string): (o: KubeObject) => boolean {
    const q = ex.url.searchParams;
    const labels = labelSelector(q.get('labelSelector') ?? '');
    const fields = fieldSelector(q.get('fieldSelector') ?? '', [
      'metadata.name',
      'metadata.namespace',
      ...(FIELD_LABELS[t.store] ?? []),
    ]);
    return (o) => (!name || o.metadata.name === name) && labels(o.metadata.labels) && fields(o);
  }

  /** A get or list response in the negotiated form, with limit/continue paging for lists. */
  function sendObjects(ex: Exchange, t: Target, objects: KubeObject[], single: boolean) {
    const q = ex.url.searchParams;
    const meta: Record<string, unknown> = {
      resourceVersion: single ? objects[0]!.metadata.resourceVersion : store.resourceVersion,
    };
    if (!single) {
      const start = q.get('continue')
        ? Number(Buffer.from(q.get('continue')!, 'base64url').toString())
        : 0;
      const limit = Number(q.get('limit') ?? 0);
      const end = limit > 0 ? start + limit : objects.length;
      if (end < objects.length) {
        meta.continue = Buffer.from(String(end)).toString('base64url');
        meta.remainingItemCount = objects.length - end;
      }
      objects = objects.slice(start, end);
    }
    const out = output(ex.req, ex.url);
    if (out.as === 'Table') {
      return json(ex, 200, {
        ...table(t.store, objects, {
          ...out,
          resourceVersion: String(meta.resourceVersion),
          full: (o) => full(t, o),
        }),
        metadata: meta,
      });
    }
    if (out.as === 'PartialObjectMetadata') {
      const partial = (o: KubeObject) => ({
        kind: 'PartialObjectMetadata',
        apiVersion: out.apiVersion,
        metadata: o.metadata,
      });
      return json(
        ex,
        200,
        single
          ? partial(objects[0]!)
          : {
              kind: 'PartialObjectMetadataList',
              apiVersion: out.apiVersion,
              metadata: meta,
              items: objects.map(partial),
            },
      );
    }
    // Items of a list carry no kind or apiVersion, as in the apiserver's JSON.
    return json(
      ex,
      200,
      single
        ? full(t, objects[0]!)
        : { kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata: meta, items: objects },
    );
  }

  /**
   * A watch: from resourceVersion (unset or "0": synthetic ADDED events for what exists), as
   * newline-delimited JSON events until the client goes away or timeoutSeconds pass. An object
   * that starts or stops matching the selectors arrives as ADDED or DELETED, as from the cacher.
   */
  function watch(ex: Exchange, t: Target, namespace: string, matches: (o: KubeObject) => boolean) {
    const out = output(ex.req, ex.url);
    const q = ex.url.searchParams;
    const res = stream(ex, 'application/json');
    let first = true;
    const encode = (o: KubeObject) => {
      if (out.as === 'Object') return full(t, o);
      if (out.as === 'PartialObjectMetadata')
        return { kind: 'PartialObjectMetadata', apiVersion: out.apiVersion, metadata: o.metadata };
      // Only the first event's table has column definitions, as the apiserver sends them.
      const tb = table(t.store, [o], {
        ...out,
        resourceVersion: o.metadata.resourceVersion!,
        noHeaders: !first,
        full: (x) => full(t, x),
      });
      first = false;
      return tb;
    };
    const send = (type: string, o: KubeObject) =>
      res.write(`${JSON.stringify({ type, object: encode(o) })}\n`);
    const deliver = (e: StoreEvent) => {
      if (e.store !== t.store || (namespace && e.object.metadata.namespace !== namespace)) return;
      const now = matches(e.object);
      const before = e.previous !== undefined && matches(e.previous);
      if (e.type !== 'MODIFIED') {
        if (now) send(e.type, e.object);
      } else if (now) send(before ? 'MODIFIED' : 'ADDED', e.object);
      else if (before) send('DELETED', e.object);
    };
    const from = q.get('resourceVersion') ?? '';
    if (from === '' || from === '0') {
      for (const o of store.list(t.store, namespace || undefined).filter(matches)) send('ADDED', o);
    } else {
      for (const e of store.events) if (e.resourceVersion > Number(from)) deliver(e);
    }
    const unsubscribe = store.subscribe(deliver);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      unsubscribe();
      clearTimeout(timer);
    });
  }

  function container(pod: KubeObject, asked: string | null): string {
    const names = ((pod.spec as { containers?: { name: string }[] }).containers ?? []).map(
      (c) => c.name,
    );
    if (asked) {
      if (!names.includes(asked))
        throw badRequest(`container ${asked} is not valid for pod ${pod.metadata.name}`);
      return asked;
    }
    if (names.length !== 1) {
      throw badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
      );
    }
    return names[0]!;
  }

  function podLog(ex: Exchange, t: Target, namespace: string, name: string) {
    const q = ex.url.searchParams;
    container(registry.get(t, namespace, name), q.get('container'));
    const key = `${namespace}/${name}`;
    const lines = logs.get(key) ?? [];
    const tail = q.get('tailLines');
    const from = tail === null ? 0 : Math.max(lines.length - Number(tail), 0);
    const text = lines
      .slice(from)
      .map((l) => `${l}\n`)
      .join('');
    if (!isTrue(q.get('follow'))) return respond(ex, 200, text, { 'Content-Type': 'text/plain' });
    const res = stream(ex, 'text/plain');
    res.write(text);
    const followers = logFollowers.get(key) ?? new Set();
    logFollowers.set(key, followers);
    const follower = (line: string) => res.write(`${line}\n`);
    followers.add(follower);
    res.on('close', () => followers.delete(follower));
  }

  /**
   * Exec and attach over the websocket stream protocols (v5 and v4 channel.k8s.io) or SPDY.
   * The "command" (or the container attached to) prints who ran it, then echoes stdin until the
   * client closes it or goes away.
   */
  function exec(ex: Exchange, a: Attributes, t: Target, namespace: string) {
    // The websocket upgrade is a GET, authorized as `get`; since 1.35 (the
    // AuthorizePodWebsocketUpgradeCreatePermission gate) it also needs `create`, as SPDY's POST does.
    const create = { ...a, verb: 'create' };
    const d = rbac.authorize(create);
    if (!d.allowed) throw accessDenied(create, d.reason);
    const q = ex.url.searchParams;
    const pod = registry.get(t, namespace, a.name);
    const name = container(pod, q.get('container'));
    if (ex.out.kind !== 'upgrade') throw badRequest('Upgrade request required');
    const spdy = /^SPDY\/3\.1$/i.test(ex.req.headers.upgrade ?? '');
    if (!spdy && !/^websocket$/i.test(ex.req.headers.upgrade ?? '')) {
      throw badRequest('exec needs a websocket or SPDY/3.1 upgrade');
    }
    // As the kubelet: the first version the client offers that is also ours.
    const protocol = spdy
      ? String(ex.req.headers['x-stream-protocol-version'] ?? '')
          .split(',')
          .map((p) => p.trim())
          .find((p) => EXEC_PROTOCOLS.includes(p))
      : pickProtocol(ex.req, EXEC_PROTOCOLS);
    if (!protocol) throw badRequest('no supported stream protocol offered');
    const record: ExecRecord = {
      namespace,
      pod: a.name,
      container: name,
      command: q.getAll('command'),
      user: a.user,
      stdin: '',
    };
    execs.push(record);
    const { socket, head } = ex.out;
    upgraded.add(socket);
    publish(ex, 101);
    const greeting = `fake ${a.subresource} as ${a.user.username} groups=${JSON.stringify(a.user.groups)}\n`;
    if (spdy) {
      socket.once('close', () => upgraded.delete(socket));
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
      );
      if (head.length > 0) socket.unshift(head);
      spdyExec(socket, q, record, greeting);
      return;
    }
    const channel = (n: number, data: Buffer | string) =>
      Buffer.concat([Buffer.from([n]), Buffer.from(data)]);
    const wants = (s: string) => isTrue(q.get(s));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      ws.send(channel(3, JSON.stringify({ metadata: {}, status: 'Success' })));
      ws.close(1000);
    };
    const ws = acceptWebSocket(
      ex.req,
      socket,
      head,
      protocol,
      (message) => {
        start();
        if (message[0] === 0 && wants('stdin')) {
          record.stdin += message.subarray(1).toString();
          if (wants('stdout')) ws.send(channel(1, message.subarray(1)));
        }
        // v5: channel 255 closes the stream named by the next byte; 0 is stdin.
        if (message[0] === 255 && message[1] === 0) finish();
      },
      () => upgraded.delete(socket),
    );
    // client-go starts reading before it has set up its streams and drops what arrives in
    // between, so the "process" starts once the client is ready: at its first stdin message, or,
    // without stdin (the client then never speaks first), after a real process's start-up time.
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      if (wants('stdout')) ws.send(channel(1, greeting));
      if (!wants('stdin')) finish();
    };
    const timer = wants('stdin') ? undefined : setTimeout(start, PROCESS_START_MS);
    socket.once('close', () => clearTimeout(timer));
  }

  /**
   * Exec over SPDY/3.1 (kubectl's fallback, or KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false): the
   * client opens a stream per channel, named by `streamtype`. The "process" starts once every
   * stream the request asks for is open, as the kubelet waits for them; it echoes stdin until
   * the client half-closes it, then answers a Success Status on the error stream.
   */
  function spdyExec(socket: Duplex, q: URLSearchParams, record: ExecRecord, greeting: string) {
    const wants = (s: string) => isTrue(q.get(s));
    const tty = wants('tty');
    const expected =
      1 + Number(wants('stdin')) + Number(wants('stdout')) + Number(wants('stderr')) + Number(tty);
    const streams = new Map<string, SpdyStream>();
    let started = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const error = streams.get('error');
      error?.write(JSON.stringify({ metadata: {}, status: 'Success' }));
      for (const s of streams.values()) s.end();
    };
    const start = () => {
      if (started) return;
      started = true;
      streams.get('stdout')?.write(greeting);
      if (!wants('stdin')) finish();
    };
    serveSpdy(socket, (stream) => {
      const type = stream.headers.streamtype ?? '';
      streams.set(type, stream);
      if (type === 'stdin') {
        stream.onData((data) => {
          record.stdin += data.toString();
          streams.get('stdout')?.write(data);
        });
        stream.onEnd(finish);
      }
      if (streams.size === expected) start();
    });
  }

  /**
   * Port-forward: SPDY/3.1 with the portforward.k8s.io streams, either tunnelled in a websocket
   * (kubectl >= 1.31 first tries `SPDY/3.1+portforward.k8s.io`) or on the upgraded connection
   * itself (its fallback). Every port of every pod runs the same "server": it greets the client,
   * naming the pod, port and user, then echoes what it receives.
   */
  function portForward(ex: Exchange, a: Attributes, t: Target, namespace: string) {
    const create = { ...a, verb: 'create' };
    const d = rbac.authorize(create);
    if (!d.allowed) throw accessDenied(create, d.reason);
    registry.get(t, namespace, a.name);
    if (ex.out.kind !== 'upgrade') throw badRequest('Upgrade request required');
    const { socket, head } = ex.out;
    const serve = (connection: Duplex) =>
      serveSpdy(connection, (stream) => {
        if (stream.headers.streamtype !== 'data') return;
        const port = Number(stream.headers.port);
        forwards.push({ namespace, pod: a.name, port, user: a.user });
        stream.write(`fake port-forward to ${namespace}/${a.name}:${port} as ${a.user.username}\n`);
        stream.onData((chunk) => stream.write(chunk));
        stream.onEnd(() => stream.end());
      });
    if (/^websocket$/i.test(ex.req.headers.upgrade ?? '')) {
      const protocol = pickProtocol(ex.req, [PORT_FORWARD_TUNNEL]);
      if (!protocol) throw badRequest('websocket: no supported subprotocol offered');
      upgraded.add(socket);
      publish(ex, 101);
      // The websocket's binary messages carry the SPDY connection's bytes.
      const spdy = new PassThrough();
      const toClient = new PassThrough();
      const ws = acceptWebSocket(
        ex.req,
        socket,
        head,
        protocol,
        (message) => spdy.write(message),
        () => {
          upgraded.delete(socket);
          spdy.destroy();
        },
      );
      toClient.on('data', (chunk: Buffer) => ws.send(chunk));
      serve(Duplex.from({ readable: spdy, writable: toClient }));
      return;
    }
    if (!/^SPDY\/3\.1$/i.test(ex.req.headers.upgrade ?? '')) {
      throw badRequest('port-forward needs a websocket or SPDY/3.1 upgrade');
    }
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    publish(ex, 101);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        'X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
    );
    if (head.length > 0) socket.unshift(head);
    serve(socket);
  }

  /** The access and identity reviews: computed on the spot, never stored. */
  async function review(ex: Exchange, a: Attributes, t: Target, namespace: string) {
    const body = (await readObject(ex)) as { spec?: Record<string, unknown> } | null;
    const spec = body?.spec ?? {};
    let status: object;
    switch (t.resource) {
      case 'selfsubjectreviews':
        return json(ex, 201, {
          kind: t.kind,
          apiVersion: groupVersion(t),
          metadata: { creationTimestamp: null },
          status: { userInfo: a.user },
        });
      case 'tokenreviews': {
        const user = userOf(String(spec.token ?? ''));
        status = user ? { authenticated: true, user } : { user: {} };
        break;
      }
      case 'selfsubjectrulesreviews': {
        if (!spec.namespace) throw badRequest('no namespace on request');
        const { rules, errors } = rbac.rulesFor(a.user, String(spec.namespace));
        const pick = (r: PolicyRule, keys: (keyof PolicyRule)[]) =>
          Object.fromEntries(keys.filter((k) => r[k]?.length).map((k) => [k, r[k]]));
        status = {
          resourceRules: rules
            .filter((r) => r.resources?.length)
            .map((r) => pick(r, ['verbs', 'apiGroups', 'resources', 'resourceNames'])),
          nonResourceRules: rules
            .filter((r) => r.nonResourceURLs?.length)
            .map((r) => pick(r, ['verbs', 'nonResourceURLs'])),
          incomplete: errors.length > 0,
          ...(errors.length && { evaluationError: aggregate(errors) }),
        };
        break;
      }
      default: {
        const ra = spec.resourceAttributes as Record<string, string> | undefined;
        const nra = spec.nonResourceAttributes as Record<string, string> | undefined;
        if (t.resource === 'localsubjectaccessreviews' && ra?.namespace !== namespace) {
          throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${namespace}`);
        }
        const subject: UserInfo = t.resource.startsWith('self')
          ? a.user
          : {
              username: String(spec.user ?? ''),
              groups: (spec.groups as string[] | undefined) ?? [],
              ...(spec.uid ? { uid: String(spec.uid) } : {}),
            };
        const d = rbac.authorize({
          user: subject,
          verb: (ra ?? nra)?.verb ?? '',
          resourceRequest: ra !== undefined,
          path: nra?.path ?? '',
          apiGroup: ra?.group ?? '',
          apiVersion: ra?.version ?? '',
          resource: ra?.resource ?? '',
          subresource: ra?.subresource ?? '',
          name: ra?.name ?? '',
          namespace: ra?.namespace ?? '',
        });
        status = { allowed: d.allowed, ...(d.reason && { reason: d.reason }) };
      }
    }
    return json(ex, 201, {
      kind: t.kind,
      apiVersion: groupVersion(t),
      metadata: { creationTimestamp: null },
      spec,
      status,
    });
  }

  // ---- the server ----

  const server = createServer({ key: leaf.privateKey, cert: leaf.certificate });
  server.on('request', (req, res) => void handle(req, { kind: 'http', res }));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void handle(req, { kind: 'upgrade', socket, head });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const list = (resource: string, namespace?: string) =>
    structuredClone(store.list(named(resource).store, namespace));

  return {
    url,
    port,
    caPem: ca.certificate,
    adminToken,
    kubeconfig: (token, namespace = 'default') =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'fake-kube',
            cluster: {
              server: url,
              'certificate-authority-data': Buffer.from(ca.certificate).toString('base64'),
            },
          },
        ],
        users: [{ name: 'fake-kube', user: { token } }],
        contexts: [
          { name: 'fake-kube', context: { cluster: 'fake-kube', user: 'fake-kube', namespace } },
        ],
        'current-context': 'fake-kube',
      }),
    addToken: (token, identity) => void tokens.set(token, identity),
    requests,
    waitForRequest: (match) =>
      new Promise((resolve) => {
        const seen = requests.find(match);
        if (seen) resolve(seen);
        else waiters.add({ match, resolve });
      }),
    execs,
    forwards,
    objects: list,
    namespaces: () => list('namespaces'),
    pods: (ns) => list('pods', ns),
    secrets: (ns) => list('secrets', ns),
    clusterRoles: () => list(`clusterroles.${RBAC_GROUP}`),
    clusterRoleBindings: () => list(`clusterrolebindings.${RBAC_GROUP}`),
    roles: (ns) => list(`roles.${RBAC_GROUP}`, ns),
    roleBindings: (ns) => list(`rolebindings.${RBAC_GROUP}`, ns),
    seed: (resource, object) => structuredClone(registry.seed(named(resource), object)),
    addNamespace: (name, labels) =>
      structuredClone(
        registry.seed(named('namespaces'), { metadata: { name, ...(labels && { labels }) } }),
      ),
    addPod: (namespace, name, opts = {}) =>
      structuredClone(
        registry.seed(named('pods'), {
          metadata: { name, namespace, ...(opts.labels && { labels: opts.labels }) },
          spec: {
            containers: (opts.containers ?? ['main']).map((c) => ({ name: c, image: 'busybox' })),
          },
        }),
      ),
    appendLog: (namespace, pod, line) => {
      const key = `${namespace}/${pod}`;
      logs.set(key, [...(logs.get(key) ?? []), line]);
      for (const follower of logFollowers.get(key) ?? []) follower(line);
    },
    failWrites: (failing, code = 503) => {
      failure.remaining = failing === true ? Infinity : failing === false ? 0 : failing;
      failure.code = code;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
      await closed;
    },
  };
}
