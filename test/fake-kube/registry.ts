/**
 * The storage layer behind each resource, as the apiserver's generic registry and its
 * per-kind strategies behave: namespace admission, create/update/patch/delete with
 * AlreadyExists, NotFound and resourceVersion conflicts, create-on-update where the real
 * strategy allows it, no-op updates that keep the resourceVersion, and the kind rules that
 * matter to us (pod and namespace defaults, secret stringData, RBAC validation and escalation).
 */
import { randomBytes } from 'node:crypto';
import { MASTERS, RBAC_GROUP, type PolicyRule, type Rbac, type UserInfo } from './rbac.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  internalError,
  invalid,
  notFound,
  notSupported,
  required,
  type FieldError,
} from './status.js';
import {
  jsonPatch,
  mergePatch,
  PatchError,
  timestamp,
  type KubeObject,
  type Store,
} from './store.js';

/** A resource as discovery describes it, with the store that holds its objects. */
export interface Target {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  store: string;
}

/** Strategies whose AllowCreateOnUpdate is true (PUT creates a missing object). */
const CREATE_ON_UPDATE = new Set(
  ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'].map((r) => `${RBAC_GROUP}/${r}`),
);

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const generateName = (prefix: string) =>
  prefix + [...randomBytes(5)].map((b) => NAME_CHARS[b % NAME_CHARS.length]).join('');

/** JSON with object keys sorted, so that equal objects compare equal whatever their key order. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );

interface RoleRef {
  apiGroup?: string;
  kind?: string;
  name?: string;
}
interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
  apiGroup?: string;
}

export class Registry {
  private podIPs = 0;

  private readonly store: Store;
  private readonly rbac: Rbac;

  constructor(store: Store, rbac: Rbac) {
    this.store = store;
    this.rbac = rbac;
  }

  get(t: Target, namespace: string, name: string): KubeObject {
    const o = this.store.get(t.store, namespace, name);
    if (!o) throw notFound(t.group, t.resource, name);
    return o;
  }

  create(t: Target, namespace: string, body: unknown, user: UserInfo): KubeObject {
    const object = this.decode(t, namespace, body);
    const meta = object.metadata;
    if (!meta.name && meta.generateName) meta.name = generateName(meta.generateName);
    if (t.namespaced) this.requireNamespace(namespace);
    this.checkEscalation(t, namespace, object, user);
    this.validate(t, object);
    if (meta.resourceVersion) {
      throw internalError('resourceVersion should not be set on objects to be created');
    }
    if (this.store.get(t.store, namespace, meta.name)) {
      throw alreadyExists(t.group, t.resource, meta.name);
    }
    return this.store.put(t.store, this.prepareCreate(t, object));
  }

  /** PUT. `created` tells 201 from 200. */
  update(
    t: Target,
    namespace: string,
    name: string,
    body: unknown,
    user: UserInfo,
  ): { object: KubeObject; created: boolean } {
    const object = this.decode(t, namespace, body);
    if (object.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const existing = this.store.get(t.store, namespace, name);
    if (!existing) {
      if (!CREATE_ON_UPDATE.has(t.store)) throw notFound(t.group, t.resource, name);
      delete object.metadata.resourceVersion;
      return { object: this.create(t, namespace, object, user), created: true };
    }
    return { object: this.replace(t, existing, object, user), created: false };
  }

  patch(
    t: Target,
    namespace: string,
    name: string,
    contentType: string,
    body: string,
    user: UserInfo,
  ): KubeObject {
    const existing = this.get(t, namespace, name);
    let patched: unknown;
    try {
      const patch = JSON.parse(body) as unknown;
      patched =
        contentType === 'application/json-patch+json'
          ? jsonPatch(existing, patch)
          : mergePatch(existing, patch);
    } catch (err) {
      if (err instanceof PatchError || err instanceof SyntaxError) throw badRequest(err.message);
      throw err;
    }
    return this.replace(t, existing, this.decode(t, namespace, patched), user);
  }

  delete(t: Target, namespace: string, name: string): KubeObject {
    const existing = this.get(t, namespace, name);
    if (t.store === '/namespaces') {
      // The namespace controller empties it; here that happens at once.
      this.store.removeNamespace(name);
      existing.status = { phase: 'Terminating' };
      existing.metadata.deletionTimestamp = timestamp();
    }
    this.store.remove(t.store, namespace, name);
    return existing;
  }

  /** Creates or replaces an object without admission, for test setup. */
  seed(t: Target, object: KubeObject): KubeObject {
    const o = structuredClone(object);
    // Stored objects carry no kind or apiVersion; responses add those of the request.
    delete o.kind;
    delete o.apiVersion;
    const existing = this.store.get(t.store, o.metadata.namespace ?? '', o.metadata.name);
    return this.store.put(t.store, existing ? o : this.prepareCreate(t, o));
  }

  private decode(t: Target, namespace: string, body: unknown): KubeObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest(`the object provided is unrecognized (must be of type ${t.kind})`);
    }
    const object = structuredClone(body) as KubeObject;
    delete object.kind;
    delete object.apiVersion;
    object.metadata = { ...(object.metadata ?? {}) } as KubeObject['metadata'];
    if (!t.namespaced) delete object.metadata.namespace;
    else if (object.metadata.namespace && object.metadata.namespace !== namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    } else object.metadata.namespace = namespace;
    if (!object.metadata.name && !object.metadata.generateName) {
      throw invalid(t.group, t.kind, '', [
        { ...required('metadata.name'), body: 'Required value: name or generateName is required' },
      ]);
    }
    return object;
  }

  private replace(t: Target, existing: KubeObject, object: KubeObject, user: UserInfo) {
    const name = existing.metadata.name;
    const rv = object.metadata.resourceVersion;
    if (rv && rv !== existing.metadata.resourceVersion) throw conflict(t.group, t.resource, name);
    object.metadata.uid = existing.metadata.uid;
    object.metadata.creationTimestamp = existing.metadata.creationTimestamp;
    object.metadata.resourceVersion = existing.metadata.resourceVersion;
    this.normalize(t, object);
    // A write that changes nothing keeps the resourceVersion and wakes no watcher.
    if (canonical(existing) === canonical(object)) return existing;
    const ref = (o: KubeObject) => o.roleRef as RoleRef | undefined;
    if (t.store.endsWith('bindings') && canonical(ref(existing)) !== canonical(ref(object))) {
      const r = ref(object) ?? {};
      throw invalid(t.group, t.kind, name, [
        {
          type: 'FieldValueInvalid',
          field: 'roleRef',
          body: `Invalid value: rbac.RoleRef{APIGroup:"${r.apiGroup ?? ''}", Kind:"${r.kind ?? ''}", Name:"${r.name ?? ''}"}: cannot change roleRef`,
        },
      ]);
    }
    this.checkEscalation(t, existing.metadata.namespace ?? '', object, user);
    this.validate(t, object);
    return this.store.put(t.store, object);
  }

  private requireNamespace(namespace: string) {
    if (!this.store.get('/namespaces', '', namespace)) throw notFound('', 'namespaces', namespace);
  }

  /** What the strategy does on every write: secrets' stringData becomes data. */
  private normalize(t: Target, o: KubeObject) {
    if (t.store !== '/secrets') return;
    const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
    const stringData = (o.stringData as Record<string, string> | undefined) ?? {};
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString('base64');
    delete o.stringData;
    o.type ??= 'Opaque';
    if (Object.keys(data).length) o.data = data;
  }

  /** What the strategy, admission or a controller add to a new object. */
  private prepareCreate(t: Target, o: KubeObject): KubeObject {
    this.normalize(t, o);
    const name = o.metadata.name;
    if (t.store === '/namespaces') {
      o.metadata.labels = { ...o.metadata.labels, 'kubernetes.io/metadata.name': name };
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    }
    if (t.store === '/pods') {
      // No scheduler or kubelet: a pod is bound and running as soon as it exists.
      const spec = (o.spec ?? {}) as { containers?: { name: string; image?: string }[] };
      const started = timestamp();
      o.spec = { ...spec, nodeName: 'fake-node' };
      o.status = {
        phase: 'Running',
        hostIP: '10.0.0.1',
        podIP: `10.244.0.${++this.podIPs}`,
        startTime: started,
        containerStatuses: (spec.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: started } },
        })),
      };
    }
    return o;
  }

  private validate(t: Target, o: KubeObject) {
    const errors: FieldError[] = [];
    if (t.store === '/pods') {
      const containers = (o.spec as { containers?: unknown[] } | undefined)?.containers;
      if (!containers?.length) errors.push(required('spec.containers'));
    }
    if (t.group === RBAC_GROUP && t.store.endsWith('bindings')) {
      const ref = (o.roleRef ?? {}) as RoleRef;
      const kinds = t.namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
      if (ref.apiGroup !== RBAC_GROUP) {
        errors.push(notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [RBAC_GROUP]));
      }
      if (!kinds.includes(ref.kind ?? '')) {
        errors.push(notSupported('roleRef.kind', ref.kind ?? '', kinds));
      }
      if (!ref.name) errors.push(required('roleRef.name'));
      ((o.subjects ?? []) as Subject[]).forEach((s, i) => {
        const at = `subjects[${i}]`;
        if (!s.name) errors.push(required(`${at}.name`));
        if (s.kind === 'ServiceAccount') {
          if (!t.namespaced && !s.namespace) errors.push(required(`${at}.namespace`));
        } else if (s.kind === 'User' || s.kind === 'Group') {
          if (s.apiGroup !== RBAC_GROUP) {
            errors.push(notSupported(`${at}.apiGroup`, s.apiGroup ?? '', [RBAC_GROUP]));
          }
        } else {
          errors.push(
            notSupported(`${at}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']),
          );
        }
      });
    }
    if (errors.length) throw invalid(t.group, t.kind, o.metadata.name, errors);
  }

  /**
   * The policy-based RBAC storage: writing a role needs `escalate` or holding its rules; writing
   * a binding needs `bind` on the role or holding the role's rules. system:masters skips both.
   */
  private checkEscalation(t: Target, namespace: string, o: KubeObject, user: UserInfo) {
    if (t.group !== RBAC_GROUP || user.groups.includes(MASTERS)) return;
    const isBinding = t.store.endsWith('bindings');
    const ref = (o.roleRef ?? {}) as RoleRef;
    const clusterRole = isBinding ? ref.kind === 'ClusterRole' : t.resource === 'clusterroles';
    const allowed = this.rbac.authorize({
      user,
      verb: isBinding ? 'bind' : 'escalate',
      resourceRequest: true,
      path: '',
      apiGroup: RBAC_GROUP,
      apiVersion: '',
      resource: clusterRole ? 'clusterroles' : 'roles',
      subresource: '',
      name: isBinding ? (ref.name ?? '') : o.metadata.name,
      namespace,
    }).allowed;
    if (allowed) return;
    let rules = (o.rules as PolicyRule[] | undefined) ?? [];
    if (isBinding) {
      const resolved = this.rbac.roleRefRules(
        { apiGroup: ref.apiGroup ?? '', kind: ref.kind ?? '', name: ref.name ?? '' },
        namespace,
      );
      if (typeof resolved === 'string') {
        throw notFound(RBAC_GROUP, clusterRole ? 'clusterroles' : 'roles', ref.name ?? '');
      }
      rules = resolved;
    }
    const escalation = this.rbac.escalation(user, namespace, rules);
    if (escalation) throw forbidden(t.group, t.resource, o.metadata.name, escalation);
  }
}
