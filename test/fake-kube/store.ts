/**
 * The fake's etcd: objects per resource ("<group>/<resource>", e.g. "/pods",
 * "rbac.authorization.k8s.io/rolebindings"), one resourceVersion counter, and a change log that
 * watches replay from a resourceVersion. Also the selector and patch semantics of the apiserver.
 */
import { randomUUID } from 'node:crypto';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  metadata: ObjectMeta;
  [key: string]: unknown;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  resourceVersion: number;
  store: string;
  object: KubeObject;
  /** The object before a MODIFIED, so a selector-filtered watch can tell enter from leave. */
  previous?: KubeObject;
}

const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

/** RFC 3339 without fractional seconds, as metav1.Time marshals. */
export const timestamp = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export class Store {
  private version = 1;
  private readonly data = new Map<string, Map<string, KubeObject>>();
  readonly events: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  get resourceVersion(): string {
    return String(this.version);
  }

  list(store: string, namespace?: string): KubeObject[] {
    const all = [...(this.data.get(store)?.values() ?? [])];
    return all
      .filter((o) => !namespace || o.metadata.namespace === namespace)
      .sort((a, b) =>
        key(a.metadata.namespace, a.metadata.name).localeCompare(
          key(b.metadata.namespace, b.metadata.name),
        ),
      );
  }

  get(store: string, namespace: string, name: string): KubeObject | undefined {
    return this.data.get(store)?.get(key(namespace || undefined, name));
  }

  /** Creates or replaces `object`, stamping uid, creationTimestamp and a new resourceVersion. */
  put(store: string, object: KubeObject): KubeObject {
    const objects = this.data.get(store) ?? new Map<string, KubeObject>();
    this.data.set(store, objects);
    const k = key(object.metadata.namespace, object.metadata.name);
    const previous = objects.get(k);
    const saved = structuredClone(object);
    saved.metadata.uid = previous?.metadata.uid || saved.metadata.uid || randomUUID();
    saved.metadata.creationTimestamp =
      previous?.metadata.creationTimestamp || saved.metadata.creationTimestamp || timestamp();
    saved.metadata.resourceVersion = String(++this.version);
    objects.set(k, saved);
    this.emit({ type: previous ? 'MODIFIED' : 'ADDED', store, object: saved, previous });
    return saved;
  }

  remove(store: string, namespace: string, name: string): KubeObject | undefined {
    const objects = this.data.get(store);
    const k = key(namespace || undefined, name);
    const gone = objects?.get(k);
    if (!gone) return undefined;
    objects!.delete(k);
    // The DELETED event carries the resourceVersion of the deletion.
    const object = structuredClone(gone);
    object.metadata.resourceVersion = String(++this.version);
    this.emit({ type: 'DELETED', store, object });
    return object;
  }

  /** Deletes every object in `namespace`, as the namespace controller does after a delete. */
  removeNamespace(namespace: string) {
    for (const [store, objects] of this.data) {
      for (const o of [...objects.values()]) {
        if (o.metadata.namespace === namespace) this.remove(store, namespace, o.metadata.name);
      }
    }
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: Omit<StoreEvent, 'resourceVersion'>) {
    const event = { ...e, resourceVersion: this.version };
    this.events.push(event);
    for (const l of this.listeners) l(event);
  }
}

export class SelectorError extends Error {}

type Matcher = (value: (field: string) => string | undefined) => boolean;

/** Splits on commas outside parentheses (`a in (x,y),b`). */
function requirements(selector: string): string[] {
  return selector
    .split(/,(?![^(]*\))/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** labels.Parse: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. */
export function labelSelector(selector: string): (labels?: Record<string, string>) => boolean {
  const parsed: Matcher[] = requirements(selector).map((req) => {
    let m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(req);
    if (m) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      return op === '!=' ? (get) => get(k) !== v : (get) => get(k) === v;
    }
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
    if (m) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      return op === 'in'
        ? (get) => values.includes(get(k) ?? '\0')
        : (get) => !values.includes(get(k) ?? '\0');
    }
    m = /^(!?)([\w./-]+)$/.exec(req);
    if (m) {
      const [, not, k] = m as unknown as [string, string, string];
      return not ? (get) => get(k) === undefined : (get) => get(k) !== undefined;
    }
    throw new SelectorError(`unable to parse requirement: ${req}`);
  });
  return (labels = {}) => parsed.every((match) => match((k) => labels[k]));
}

/** fields.ParseSelector over the field labels a resource supports (`metadata.name=x`). */
export function fieldSelector(
  selector: string,
  supported: readonly string[],
): (object: KubeObject) => boolean {
  const parsed = requirements(selector).map((req) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(req);
    if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${req}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!supported.includes(field)) throw new SelectorError(`field label not supported: ${field}`);
    return { field, negate: op === '!=', value };
  });
  return (object) =>
    parsed.every(({ field, negate, value }) => {
      const actual = field
        .split('.')
        .reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], object);
      return (String(actual ?? '') === value) !== negate;
    });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class PatchError extends Error {}

/** RFC 6902 JSON patch: add, remove, replace, test (move/copy are not used by our clients). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const op of ops as { op: string; path: string; value?: unknown }[]) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) {
      doc = op.value;
      continue;
    }
    const parent = parts.reduce<unknown>(
      (o, p) => (o as Record<string, unknown> | undefined)?.[p],
      doc,
    ) as Record<string, unknown> | unknown[] | undefined;
    if (parent === undefined || typeof parent !== 'object') {
      throw new PatchError(`doc is missing path: "${op.path}": missing value`);
    }
    const arr = Array.isArray(parent) ? parent : undefined;
    const index = last === '-' ? (arr?.length ?? 0) : Number(last);
    const exists = arr ? index < arr.length : last in parent;
    switch (op.op) {
      case 'add':
        if (arr) arr.splice(index, 0, op.value);
        else (parent as Record<string, unknown>)[last] = op.value;
        break;
      case 'replace':
      case 'remove':
        if (!exists) {
          throw new PatchError(`doc is missing key: ${op.path}: missing value`);
        }
        if (op.op === 'replace') {
          if (arr) arr[index] = op.value;
          else (parent as Record<string, unknown>)[last] = op.value;
        } else if (arr) arr.splice(index, 1);
        else delete (parent as Record<string, unknown>)[last];
        break;
      case 'test': {
        const actual = arr ? arr[index] : (parent as Record<string, unknown>)[last];
        if (JSON.stringify(actual) !== JSON.stringify(op.value)) {
          throw new PatchError(`testing value ${op.path} failed: test failed`);
        }
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
