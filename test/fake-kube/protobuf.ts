/**
 * Reads the protobuf request bodies kubectl's typed clients send (`kubectl create rolebinding`,
 * and from kubectl 1.33 `auth can-i` / `auth whoami` too): the `k8s\0` envelope around a
 * runtime.Unknown, then the object, decoded into its JSON form for the kinds listed here (field
 * numbers from the k8s.io/api generated.proto files). Fields not listed are skipped.
 */

type Type = 'string' | 'bytes' | 'bool' | 'raw' | Message | { map: 'string' | 'bytes' };
interface Message {
  [field: number]: [name: string, type: Type, repeated?: 'repeated'];
}

const objectMeta: Message = {
  1: ['name', 'string'],
  2: ['generateName', 'string'],
  3: ['namespace', 'string'],
  5: ['uid', 'string'],
  6: ['resourceVersion', 'string'],
  11: ['labels', { map: 'string' }],
  12: ['annotations', { map: 'string' }],
  14: ['finalizers', 'string', 'repeated'],
};
const fields = (type: Type, names: string[], repeated?: 'repeated'): Message =>
  Object.fromEntries(
    names.map((name, i): [number, Message[number]] => [i + 1, [name, type, repeated]]),
  );
const strings = (...names: string[]) => fields('string', names);

const subject = strings('kind', 'apiGroup', 'name', 'namespace');
const roleRef = strings('apiGroup', 'kind', 'name');
const binding: Message = {
  1: ['metadata', objectMeta],
  2: ['subjects', subject, 'repeated'],
  3: ['roleRef', roleRef],
};
const policyRule = fields(
  'string',
  ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'],
  'repeated',
);
const role: Message = { 1: ['metadata', objectMeta], 2: ['rules', policyRule, 'repeated'] };
const resourceAttributes = strings(
  'namespace',
  'verb',
  'group',
  'version',
  'resource',
  'subresource',
  'name',
);
const accessSpec: Message = {
  1: ['resourceAttributes', resourceAttributes],
  2: ['nonResourceAttributes', strings('path', 'verb')],
  3: ['user', 'string'],
  4: ['groups', 'string', 'repeated'],
  6: ['uid', 'string'],
};
const review = (spec: Message): Message => ({ 1: ['metadata', objectMeta], 2: ['spec', spec] });

const kinds: Record<string, Message> = {
  RoleBinding: binding,
  ClusterRoleBinding: binding,
  Role: role,
  ClusterRole: role,
  Namespace: { 1: ['metadata', objectMeta] },
  ServiceAccount: { 1: ['metadata', objectMeta] },
  ConfigMap: {
    1: ['metadata', objectMeta],
    2: ['data', { map: 'string' }],
    3: ['binaryData', { map: 'bytes' }],
    4: ['immutable', 'bool'],
  },
  Secret: {
    1: ['metadata', objectMeta],
    2: ['data', { map: 'bytes' }],
    3: ['type', 'string'],
    4: ['stringData', { map: 'string' }],
    5: ['immutable', 'bool'],
  },
  SelfSubjectAccessReview: review(accessSpec),
  SubjectAccessReview: review(accessSpec),
  LocalSubjectAccessReview: review(accessSpec),
  SelfSubjectRulesReview: review(strings('namespace')),
  SelfSubjectReview: { 1: ['metadata', objectMeta] },
  TokenReview: review({ 1: ['token', 'string'], 2: ['audiences', 'string', 'repeated'] }),
};

function decode(buf: Buffer, schema: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let i = 0;
  const varint = () => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated protobuf');
      n += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return n;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    let value: number | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const length = varint();
      value = buf.subarray(i, i + length);
      i += length;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
      continue;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    const field = schema[Math.floor(tag / 8)];
    if (!field) continue;
    const [name, type, repeated] = field;
    const bytes = value as Buffer;
    if (typeof type === 'object' && 'map' in type) {
      const entry = decode(bytes, { 1: ['key', 'string'], 2: ['value', type.map] });
      out[name] = { ...(out[name] as object), [String(entry.key)]: entry.value ?? '' };
      continue;
    }
    const v =
      type === 'string'
        ? bytes.toString('utf8')
        : type === 'bytes'
          ? bytes.toString('base64')
          : type === 'raw'
            ? bytes
            : type === 'bool'
              ? value !== 0
              : decode(bytes, type);
    // gogo-protobuf writes every string field, so "" means unset (omitempty in the JSON form).
    if (repeated) out[name] = [...((out[name] as unknown[] | undefined) ?? []), v];
    else if (v === '') continue;
    else out[name] = v;
  }
  return out;
}

/** The JSON form of a `application/vnd.kubernetes.protobuf` body, or an Error saying why not. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new Error('missing k8s magic');
  const unknown = decode(body.subarray(4), {
    1: ['typeMeta', strings('apiVersion', 'kind')],
    2: ['raw', 'raw'],
  }) as { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Buffer };
  const kind = unknown.typeMeta?.kind ?? '';
  const schema = kinds[kind];
  if (!schema) throw new Error(`no protobuf schema for kind ${JSON.stringify(kind)}`);
  return {
    apiVersion: unknown.typeMeta?.apiVersion,
    kind,
    ...decode(unknown.raw ?? Buffer.alloc(0), schema),
  };
}
