/**
 * The standing attacker's suite: every operation in the OpenAPI document the server serves (so a
 * new endpoint is attacked without anyone writing a case for it), under every kind of caller
 * (anonymous, a user with no role, view, a connector key, admin), gets a battery of malformed
 * requests over raw HTTP: wrong JSON types for each body field, huge strings, arrays and bodies,
 * deep nesting, prototype keys, bad and non-UTF-8 percent-encoding in the path and the query,
 * path parameters that are not ids, unknown and repeated query parameters, wrong content types,
 * malformed cookies, oversized and odd headers, broken Authorization headers, methods no route
 * has, and over the wire as written CONNECT, a target naming another host and Host twice.
 * Attacks whose fate does not depend on the caller beyond being signed in (input is validated
 * before roles are checked) are spread over the identities in turn. Then:
 *
 * - no answer is a 5xx, and the server logs no error;
 * - every 4xx is the one error shape `{code, message}` (with `fieldErrors` for validation) as
 *   JSON, and every 401 says only `unauthenticated`;
 * - every attack on an operation that writes is refused: each carries something the server must
 *   refuse (an invalid body, a credential that is not one, a method no route has);
 * - the refused requests change nothing: every table of the database is compared before and
 *   after, except what a refusal is meant to touch (refusals in the audit log, login throttling,
 *   a key's last use).
 *
 * A second batch puts hostile strings (NUL, lone surrogates, bidi controls, 100 KB...) into every
 * string field and query parameter of an otherwise valid request, as an admin, so that they reach
 * the database: no 5xx there either. Both batches run on SQLite and PostgreSQL. How to extend it:
 * test/security/README.md.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ApiClient } from '../../src/api/client.js';
import { BODY_LIMIT } from '../../src/server/http/app.js';
import { openDb, type OpenDb } from '../../src/server/data/db.js';
import { newId, type IdKind } from '../../src/shared/ids.js';
import { TestClock } from '../clock.js';
import { engines } from '../engines.js';
import { rawExchange, rawRequest } from '../http.js';
import { ADMIN, startAdminServer } from '../identity.js';
import type { TestServer } from '../server.js';
import { generateSshCa } from '../../src/shared/ssh.js';

type Identity = 'anonymous' | 'no role' | 'view' | 'connector' | 'admin';
const identities: Identity[] = ['anonymous', 'no role', 'view', 'connector', 'admin'];

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

interface JsonSchema {
  $ref?: string;
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        parameters?: Array<{ name: string; in: string; required?: boolean; schema: JsonSchema }>;
        requestBody?: { content: { 'application/json': { schema: JsonSchema } } };
      }
    >
  >;
  components: { schemas: Record<string, JsonSchema> };
}

/** One operation as the OpenAPI document describes it. */
interface Operation {
  id: string;
  method: string;
  /** The OpenAPI path, `/api/users/{id}`. */
  template: string;
  pathParams: string[];
  query: Array<{ name: string; schema: JsonSchema; required: boolean }>;
  /** Whether it takes a JSON body (POST, PUT, PATCH), and the body's schema if it has fields. */
  hasBody: boolean;
  body?: JsonSchema;
}

/** One malformed request. */
interface Attack {
  operation: string;
  identity: Identity;
  what: string;
  method: string;
  /** Path and query, exactly as sent (already percent-encoded). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The server must refuse it (4xx): every attack on an operation that writes. */
  refuse: boolean;
  /**
   * Sent as written over a connection of its own (with `Connection: close`), for what Node's
   * client will not send: CONNECT, a request target in absolute form, a header line twice.
   */
  wire?: { target: string; lines: string[] };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * The kind of id a path parameter takes, by the path's first segment after `/api/`. A new kind
 * of object needs its line here (the suite fails and says so).
 */
const ID_KINDS: Record<string, IdKind> = {
  users: 'user',
  groups: 'group',
  grants: 'grant',
  'access-keys': 'accessKey',
  destinations: 'destination',
  providers: 'provider',
  'request-policies': 'requestPolicy',
  'access-requests': 'accessRequest',
};

/**
 * Valid requests, for the batch that puts hostile strings into each field and query parameter.
 * An operation with a JSON body or a required query parameter needs one here (the suite fails
 * for one without): its path parameters, and a body or query the operation accepts, or would
 * but for the state (a finished setup, a wrong password, a key that does not exist).
 */
interface Example {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

function examples(f: Fixtures): Record<string, Example> {
  const destination = {
    name: 'attacked',
    uniqueID: 'attacked-cluster',
    connection: { url: 'https://attacked.example.com', ca: '' },
    namespaces: ['default'],
    roles: ['view'],
    version: '1.0.0',
  };
  const provider = {
    name: 'unreachable',
    kind: 'oidc',
    url: 'http://127.0.0.1:1',
    clientID: 'client',
    clientSecret: 'secret',
    scopes: ['openid', 'email'],
    groupsClaim: 'groups',
  };
  const policy = {
    roles: ['view'],
    resources: ['attacked.*'],
    requesters: { users: ['plain@example.com'], groups: ['attackers'] },
    approvers: { users: ['viewer@example.com'], groups: [] },
    approvalsRequired: 1,
    maxDuration: '2h',
    pendingExpiry: '1h',
    reasonRequired: false,
  };
  return {
    setup: { body: { token: 'token', name: 'first@example.com', password: 'first-password-1' } },
    login: { body: { passwordCredentials: { name: ADMIN.name, password: 'not-the-password' } } },
    createUser: { body: { name: 'hostile@example.com' } },
    updateUser: { params: { id: f.plainUserId }, body: { password: 'a-new-password-1' } },
    createGroup: { body: { name: 'hostile' } },
    updateGroupUsers: {
      params: { id: f.groupId },
      body: { usersToAdd: [f.plainUserId], usersToRemove: [f.viewUserId] },
    },
    createGrant: {
      body: {
        userName: 'plain@example.com',
        privilege: 'edit',
        resource: 'attacked.default',
        expiresAt: new Date(f.now + 3_600_000).toISOString(),
      },
    },
    updateGrants: {
      body: {
        grantsToAdd: [{ groupName: 'attackers', privilege: 'view', resource: 'attacked' }],
        grantsToRemove: [{ id: f.grantId }],
      },
    },
    createAccessKey: { body: { name: 'hostile', expiry: '1h', inactivityTimeout: '30m' } },
    createDestination: { body: { ...destination, name: 'other', uniqueID: 'other-cluster' } },
    updateDestination: { params: { id: f.destinationId }, body: destination },
    createToken: { body: { destination: 'attacked' } },
    createProvider: { body: provider },
    updateProvider: { params: { id: newId('provider') }, body: provider },
    startProviderLogin: {
      params: { id: newId('provider') },
      body: { redirectURL: 'http://127.0.0.1:5000/callback' },
    },
    createScimKey: { params: { id: newId('provider') }, body: { expiry: '1h' } },
    createKubeEvents: {
      params: { destination: 'attacked' },
      body: {
        events: [
          {
            kind: 'Event',
            apiVersion: 'audit.k8s.io/v1',
            level: 'Metadata',
            auditID: randomUUID(),
            stage: 'ResponseComplete',
            requestURI: '/api/v1/namespaces/default/pods',
            verb: 'list',
            user: { username: 'plain@example.com', groups: ['attackers'] },
            sourceIPs: ['127.0.0.1'],
            userAgent: 'kubectl',
            objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
            responseStatus: { metadata: {}, code: 200 },
            requestReceivedTimestamp: '2026-01-02T03:04:05.000000Z',
            stageTimestamp: '2026-01-02T03:04:05.000000Z',
          },
        ],
      },
    },
    createKubeRecordingChunk: {
      params: { destination: 'attacked' },
      body: {
        id: randomUUID(),
        seq: 0,
        data: '{"version":2,"width":80,"height":24}\n',
        recording: {
          user: { username: 'plain@example.com' },
          namespace: 'default',
          pod: 'web-1',
          container: 'app',
          command: ['sh'],
          subresource: 'exec',
          stdinRecorded: false,
          startedAt: '2026-01-02T03:04:05.000Z',
        },
      },
    },
    getDeviceStatus: { body: { deviceCode: 'device-code' } },
    approveDevice: { body: { userCode: 'BBBB-BBBB' } },
    deleteAccessKeys: { query: { name: 'no-such-key' } },
    getAccessFeed: { query: { destination: 'attacked' } },
    createSshCertificate: { body: { destination: 'attacked-host', publicKey: SSH_KEY } },
    syncSshHost: { body: { destination: 'attacked-host' } },
    createSshHostCertificate: { body: { destination: 'attacked-host' } },
    rotateSshAuthority: { body: { purpose: 'user' } },
    explainAccess: {
      query: { user: 'self', destination: 'attacked.default', verb: 'get', resource: 'pods' },
    },
    createRequestPolicy: { body: { name: 'hostile', ...policy } },
    updateRequestPolicy: { params: { id: newId('requestPolicy') }, body: policy },
    createAccessRequest: {
      body: { role: 'view', resource: 'attacked.default', duration: '1h', reason: 'INC-1' },
    },
    reviewAccessRequest: {
      params: { id: newId('accessRequest') },
      body: { decision: 'approve', comment: 'ok' },
    },
    cancelAccessRequest: { params: { id: newId('accessRequest') }, body: {} },
  };
}

interface Fixtures {
  now: number;
  plainUserId: string;
  viewUserId: string;
  groupId: string;
  grantId: string;
  destinationId: string;
}

/** An Ed25519 public key line (for SSH hosts and certificates). */
const SSH_KEY = generateSshCa('attacked').publicKey;
const BAD_PERCENT = '%E0%A4%A';
/** A string under every length limit but the largest (a CA bundle, 64 KiB). */
const HUGE = 'a'.repeat(100_000);
const HUGE_ARRAY_LENGTH = 20_000;
const NESTING = 100_000;
const IN_FLIGHT = 16;
/** An answer later than this is a failure (a request the server holds, a regex gone wild). */
const ANSWER_WITHIN_MS = 20_000;

/** What the unchanged example is called in the hostile batch. */
const CONTROL = 'the valid request (control)';

/** Strings that have broken servers: each goes into every field of a valid request. */
const HOSTILE: Array<[string, string]> = [
  ['NUL', 'attack\u0000value'],
  ['a lone surrogate', 'attack\ud800value'],
  ['a right-to-left override', 'attack\u202evalue'],
  ['a line separator', 'attack\u2028value'],
  ['emoji outside the BMP', '😀'.repeat(50)],
  ['SQL', "x'); drop table users; --"],
  ['a path', '../../../../etc/passwd'],
  ['HTML', '<script>alert(1)</script>'],
  ['100 KB', HUGE],
  ['only spaces', '        '],
];

/** Every UTF-8 byte of `text` percent-encoded (a lone surrogate becomes U+FFFD). */
const percentEncoded = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Raw bytes in a header: Node sends a header string's characters as Latin-1 bytes. */
const bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

function operationsOf(doc: OpenApiDocument): Operation[] {
  const ops: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? [];
      const upper = method.toUpperCase();
      ops.push({
        id: op.operationId,
        method: upper,
        template,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        hasBody: ['POST', 'PUT', 'PATCH'].includes(upper),
        body: op.requestBody?.content['application/json'].schema,
      });
    }
  }
  return ops;
}

function resolver(doc: OpenApiDocument) {
  return function resolve(schema: JsonSchema): JsonSchema {
    if (!schema.$ref) return schema;
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    assert.ok(target, `unresolvable ${schema.$ref}`);
    return resolve(target);
  };
}

/** The JSON types a schema accepts, or undefined when it cannot tell (then anything may go). */
function acceptedTypes(
  schema: JsonSchema,
  resolve: (s: JsonSchema) => JsonSchema,
): Set<JsonType> | undefined {
  const s = resolve(schema);
  const union = s.anyOf ?? s.oneOf;
  if (union) {
    const all = new Set<JsonType>();
    for (const part of union) {
      const types = acceptedTypes(part, resolve);
      if (!types) return undefined;
      for (const t of types) all.add(t);
    }
    return all;
  }
  const values = s.enum ?? (s.const !== undefined ? [s.const] : undefined);
  if (values) {
    return new Set(
      values.map((v): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeOf(v))),
    );
  }
  if (s.type === undefined) return undefined;
  return new Set(Array.isArray(s.type) ? s.type : [s.type]);
}

function typeOf(v: unknown): JsonType {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' ? t : 'object';
}

/** A value of each JSON type, for the fields that take another. */
const VALUES_BY_TYPE: Array<[JsonType, unknown]> = [
  ['string', 'attack'],
  ['integer', 7],
  ['number', 1.5],
  ['boolean', true],
  ['null', null],
  ['array', ['attack']],
  ['object', { attack: 1 }],
];

function wrongValues(types: Set<JsonType>): Array<[JsonType, unknown]> {
  return VALUES_BY_TYPE.filter(([t]) => !types.has(t) && !(t === 'integer' && types.has('number')));
}

/** A field of a body, as the keys leading to it (`[]` steps into an array's items). */
type FieldPath = string[];

/** Every field of a body schema, nested objects and array items included, with its schema. */
function fieldsOf(
  schema: JsonSchema,
  resolve: (s: JsonSchema) => JsonSchema,
  prefix: FieldPath = [],
): Array<[FieldPath, JsonSchema]> {
  const s = resolve(schema);
  const out: Array<[FieldPath, JsonSchema]> = [];
  const objects = [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])].map(resolve);
  for (const o of objects) {
    for (const [name, field] of Object.entries(o.properties ?? {})) {
      const path = [...prefix, name];
      if (out.some(([p]) => p.join('.') === path.join('.'))) continue;
      out.push([path, field]);
      if (prefix.length >= 4) continue;
      out.push(...fieldsOf(field, resolve, path));
      const items = resolve(field).items;
      if (items) out.push(...fieldsOf(items, resolve, [...path, '[]']));
    }
  }
  return out;
}

/** A body holding `value` at `path` and nothing else (so the rest of the body is missing). */
function bodyWith(path: FieldPath, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  return head === '[]' ? [bodyWith(rest, value)] : { [head!]: bodyWith(rest, value) };
}

/** `example` with the value at `path` replaced (or false when the example has no such field). */
function replaceIn(example: unknown, path: FieldPath, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (head === '[]') {
    if (!Array.isArray(example) || example.length === 0) return false;
    const inner = replaceIn(example[0], rest, value);
    return inner === false ? false : [inner, ...example.slice(1)];
  }
  if (typeof example !== 'object' || example === null || Array.isArray(example)) return false;
  const record = example as Record<string, unknown>;
  if (!(head! in record)) return false;
  const inner = replaceIn(record[head!], rest, value);
  return inner === false ? false : { ...record, [head!]: inner };
}

function stringFieldsOf(example: unknown, prefix: FieldPath = []): FieldPath[] {
  if (typeof example === 'string') return [prefix];
  if (Array.isArray(example))
    return example.length > 0 ? stringFieldsOf(example[0], [...prefix, '[]']) : [];
  if (typeof example === 'object' && example !== null) {
    return Object.entries(example).flatMap(([k, v]) => stringFieldsOf(v, [...prefix, k]));
  }
  return [];
}

/**
 * Well-formed ids for an operation's path parameters that name nothing (a recording is named
 * by the UUID of its exec request, everything else by an id of its kind), and one of another kind.
 */
function idsOf(op: Operation): { nobody: () => string; other: string } {
  const segment = op.template.split('/')[2] ?? '';
  if (segment === 'recordings') return { nobody: () => randomUUID(), other: newId('user') };
  const kind = ID_KINDS[segment];
  assert.ok(kind, `${op.id} (${op.template}): add the kind of id its path takes to ID_KINDS`);
  return { nobody: () => newId(kind), other: newId(kind === 'user' ? 'group' : 'user') };
}

/** The operation's path with each parameter set (already encoded), and a query. */
function pathOf(op: Operation, value: string | ((name: string) => string), query = ''): string {
  const path = op.template.replace(/\{([A-Za-z]+)\}/g, (_m, name: string) =>
    typeof value === 'string' ? value : value(name),
  );
  return query ? `${path}?${query}` : path;
}

/** Sends requests over one keep-alive agent, `IN_FLIGHT` at a time. */
async function sendAll(
  baseUrl: string,
  ca: string,
  requests: Attack[],
): Promise<Array<Answer | Error>> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT, ca });
  const answers = new Array<Answer | Error>(requests.length);
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const i = next++;
      const a = requests[i]!;
      answers[i] = await (a.wire ? sendWire(url, ca, a) : sendOne(agent, url, a)).catch(
        (err: Error) => err,
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    agent.destroy();
  }
  return answers;
}

async function sendWire(url: URL, ca: string, a: Attack): Promise<Answer> {
  const { target, lines } = a.wire!;
  const head = [
    `${a.method} ${target} HTTP/1.1`,
    ...lines,
    ...Object.entries(a.headers).map(([k, v]) => `${k}: ${v}`),
    'connection: close',
  ].join('\r\n');
  const request = Buffer.concat([
    Buffer.from(`${head}\r\n\r\n`, 'latin1'),
    a.body ?? Buffer.alloc(0),
  ]);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)),
      ANSWER_WITHIN_MS,
    );
  });
  try {
    return await Promise.race([rawExchange(Number(url.port), request, { ca }), late]);
  } finally {
    clearTimeout(timer);
  }
}

function sendOne(agent: Agent, url: URL, a: Attack): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        method: a.method,
        hostname: url.hostname,
        port: url.port,
        path: a.path,
        headers: a.headers,
        servername: 'localhost',
        timeout: ANSWER_WITHIN_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)));
    req.on('error', reject);
    req.end(a.body);
  });
}

/** What is wrong with an answer, if anything. */
function problemWith(a: Attack, answer: Answer | Error): string | undefined {
  if (answer instanceof Error) return `no answer: ${answer.message}`;
  const { status } = answer;
  if (status >= 500) return `${status} ${answer.body.slice(0, 300)}`;
  if (a.refuse && status < 400) return `accepted with ${status}: ${answer.body.slice(0, 300)}`;
  if (status < 400) return undefined;
  const type = String(answer.headers['content-type'] ?? '');
  if (!/^application\/json(;|$)/.test(type)) return `${status} with Content-Type ${type}`;
  // A HEAD answer has no body to check.
  if (a.method === 'HEAD') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return `${status} with a body that is not JSON: ${answer.body.slice(0, 300)}`;
  }
  const b = body as Record<string, unknown>;
  const shaped =
    typeof body === 'object' &&
    body !== null &&
    typeof b.code === 'string' &&
    typeof b.message === 'string' &&
    Object.keys(b).every((k) => ['code', 'message', 'fieldErrors'].includes(k));
  if (!shaped) return `${status} outside the error model: ${answer.body.slice(0, 300)}`;
  if (status === 401 && (b.code !== 'unauthenticated' || b.message !== 'unauthenticated'))
    return `401 that says more than unauthenticated: ${answer.body}`;
  return undefined;
}

/** Tables a refused request is meant to change, and columns that change when a key is used. */
const CHANGED_BY_REFUSALS = new Set(['audit_head', 'login_throttle']);
const CHANGED_BY_USE: Record<string, string[]> = {
  access_keys: ['last_used_at', 'inactivity_deadline'],
  users: ['last_seen_at'],
  destinations: ['last_seen_at'],
};

/**
 * Every row of every table, as sorted JSON lines, but for what refusals and uses change by
 * design: refusals are audited (only successful changes are compared) and failed logins counted.
 */
async function snapshot(database: OpenDb): Promise<Map<string, string[]>> {
  const db = database.db.withoutPlugins();
  const tables = (await db.introspection.getTables())
    .map((t) => t.name)
    .filter((name) => !CHANGED_BY_REFUSALS.has(name))
    .sort();
  const out = new Map<string, string[]>();
  for (const table of tables) {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      db,
    );
    const kept = table === 'audit_log' ? rows.filter((r) => r.result === 'success') : rows;
    out.set(
      table,
      kept
        .map((row) => {
          const copy = { ...row };
          for (const column of CHANGED_BY_USE[table] ?? []) delete copy[column];
          return JSON.stringify(copy);
        })
        .sort(),
    );
  }
  return out;
}

function differences(before: Map<string, string[]>, after: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const was = new Set(before.get(table) ?? []);
    const is = new Set(after.get(table) ?? []);
    for (const row of is) if (!was.has(row)) out.push(`${table}: + ${row.slice(0, 300)}`);
    for (const row of was) if (!is.has(row)) out.push(`${table}: - ${row.slice(0, 300)}`);
  }
  return out;
}

/** Log lines since line `from` at error level (pino's 50) or about an answer with a 5xx. */
function serverErrors(server: TestServer, from: number): string[] {
  return server.logs.lines.slice(from).filter((line) => {
    const entry = JSON.parse(line) as { level: number; status?: number };
    return entry.level >= 50 || (entry.status ?? 0) >= 500;
  });
}

function report(attacks: Attack[], answers: Array<Answer | Error>): string[] {
  const out: string[] = [];
  attacks.forEach((a, i) => {
    const problem = problemWith(a, answers[i]!);
    if (problem)
      out.push(
        `${a.operation} as ${a.identity}, ${a.what} (${a.method} ${a.path.slice(0, 120)}): ${problem}`,
      );
  });
  return out;
}

/** Fails with the first problems and how many there were. */
function assertNone(problems: string[], what: string): void {
  assert.equal(
    problems.length,
    0,
    `${problems.length} ${what}:\n${problems.slice(0, 30).join('\n')}`,
  );
}

/**
 * Hands out identities in turn. An attack whose fate does not depend on who sends it (beyond
 * being signed in: inputs are validated before roles are checked) runs once, under the next
 * identity, so every operation meets every family of attacks under each identity without
 * sending each attack five times.
 */
function rotation(start: number, keys: Record<Identity, string | undefined>) {
  let turn = start;
  return (signedIn = false): Identity => {
    for (;;) {
      const id = identities[turn++ % identities.length]!;
      if (!signedIn || keys[id] !== undefined) return id;
    }
  };
}

/** The battery for one operation; `keys` are the identities' access keys. */
function attacksOn(
  op: Operation,
  opIndex: number,
  keys: Record<Identity, string | undefined>,
  resolve: (s: JsonSchema) => JsonSchema,
): Attack[] {
  const out: Attack[] = [];
  const nextIdentity = rotation(opIndex, keys);
  const writes = op.method !== 'GET';
  const ids = op.pathParams.length > 0 ? idsOf(op) : undefined;
  // Well-formed ids that name nothing: an admin's request that got past validation finds nothing.
  const nobody = () => ids?.nobody() ?? '';
  // The request each attack varies: a body no operation accepts (every input schema refuses
  // unknown fields), and for DELETE a query no operation accepts.
  const json = (body: unknown) => JSON.stringify(body);
  const baseBody = json({ attackUnknownField: 1 });
  const baseQuery = op.method === 'DELETE' ? 'attackUnknownField=1' : '';
  const add = (
    what: string,
    parts: {
      path?: string;
      headers?: Record<string, string>;
      body?: string;
      /** Send no Authorization header (the attack brings its own credential, or none). */
      noAuth?: boolean;
      identity?: Identity;
    } = {},
  ) => {
    const identity = parts.identity ?? nextIdentity();
    const key = keys[identity];
    const body = parts.body ?? (op.hasBody ? baseBody : undefined);
    const headers: Record<string, string> = {
      ...(key && !parts.noAuth ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined && parts.body === undefined
        ? { 'content-type': 'application/json' }
        : {}),
      ...parts.headers,
    };
    if (body !== undefined && !('transfer-encoding' in headers))
      headers['content-length'] = String(Buffer.byteLength(body, 'latin1'));
    out.push({
      operation: op.id,
      identity,
      what,
      method: op.method,
      path: parts.path ?? pathOf(op, nobody, baseQuery),
      headers,
      body: body === undefined ? undefined : Buffer.from(body, 'latin1'),
      refuse: writes,
    });
  };
  /** A body given as its bytes (a Latin-1 string), with a JSON Content-Type. */
  const jsonBody = (what: string, body: string) =>
    add(what, { body, headers: { 'content-type': 'application/json' } });
  const utf8 = (value: unknown) => bytes(json(value));

  // Bodies: wrong types for each field, huge values, nesting, prototype keys, JSON edge cases.
  if (op.hasBody) {
    for (const [path, schema] of op.body ? fieldsOf(op.body, resolve) : []) {
      const types = acceptedTypes(schema, resolve);
      const field = path.join('.').replaceAll('.[]', '[]');
      if (types) {
        for (const [t, value] of wrongValues(types)) {
          jsonBody(
            `${field}: ${t} instead of ${[...types].join(' or ')}`,
            utf8(bodyWith(path, value)),
          );
        }
      }
      if (!types || types.has('string')) {
        jsonBody(`${field}: a 100 KB string`, utf8(bodyWith(path, HUGE)));
        jsonBody(`${field}: NUL and a lone surrogate`, utf8(bodyWith(path, 'a\u0000\ud800b')));
      }
      if (!types || types.has('array')) {
        jsonBody(
          `${field}: ${HUGE_ARRAY_LENGTH} items`,
          utf8(bodyWith(path, new Array<string>(HUGE_ARRAY_LENGTH).fill('a'))),
        );
      }
    }
    const first = op.body ? Object.keys(resolve(op.body).properties ?? {})[0] : undefined;
    const deepArray = `${'['.repeat(NESTING)}${']'.repeat(NESTING)}`;
    jsonBody('an array nested 100,000 deep', `{"attackUnknownField":${deepArray}}`);
    if (first) jsonBody(`${first}: an array nested 100,000 deep`, `{"${first}":${deepArray}}`);
    jsonBody('objects nested 50,000 deep', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`);
    jsonBody('a __proto__ key', '{"__proto__":{"isAdmin":true}}');
    jsonBody('a constructor.prototype key', '{"constructor":{"prototype":{"isAdmin":true}}}');
    if (first) {
      jsonBody('a duplicated key', `{"${first}":"a","${first}":{"b":1}}`);
      jsonBody('a number too large for a double', `{"${first}":1e400}`);
    }
    jsonBody('a body that is a JSON array', '[{"attackUnknownField":1}]');
    jsonBody('a body that is a JSON string', '"attack"');
    jsonBody('malformed JSON', '{"attackUnknownField":');
    jsonBody('an empty body with a JSON Content-Type', '');
    jsonBody('a body of NUL bytes', '\u0000\u0000\u0000');
    jsonBody('a body over the size limit', `{"a":"${'a'.repeat(BODY_LIMIT)}"}`);
    jsonBody('a byte-order mark before the JSON', bytes(`\ufeff${baseBody}`));
    jsonBody('JSON bytes that are not UTF-8', '{"\xff\xfe":1}');

    // Content types that are not JSON, or JSON in another dress.
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=attack',
      'application/xml',
      'application/jsonx',
      'application/json-patch+json',
      ';;;',
      'application/json; charset=utf-16',
      'application/json, text/plain',
    ]) {
      add(`Content-Type ${type}`, { body: baseBody, headers: { 'content-type': type } });
    }
    add('a body without Content-Type', { body: baseBody });
    add('a chunked body', {
      body: baseBody,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    add('a gzip Content-Encoding that is not gzip', { headers: { 'content-encoding': 'gzip' } });
  }

  // Path parameters that are not ids.
  if (ids) {
    for (const [what, value] of [
      ['an encoded ../', '..%2f..%2f..%2fetc%2fpasswd'],
      ['..', '..'],
      ['an encoded ..', '%2e%2e'],
      ['an encoded NUL', `${ids.nobody()}%00`],
      ['a right-to-left override', `${ids.nobody()}%E2%80%AE`],
      ['CR LF', 'x%0d%0aSet-Cookie:%20a=b'],
      ['bad percent-encoding', BAD_PERCENT],
      ['bytes that are not UTF-8', '%FF%FE'],
      ['an overlong UTF-8 /', '%C0%AF'],
      ['an encoded lone surrogate', '%ED%A0%80'],
      ['4096 characters', 'a'.repeat(4096)],
      ['5000 characters', 'a'.repeat(5000)],
      ['self', 'self'],
      ['an id of another kind', ids.other],
      ['SQL', "x'%20or%20'1'='1"],
      ['a template', '%7Bid%7D'],
      ['non-ASCII letters', '%C3%BC%E9%81%8B'],
      ['an id with an upper-case body', ids.nobody().toUpperCase()],
    ] as const) {
      add(`path parameter: ${what}`, { path: pathOf(op, value, baseQuery) });
    }
  }

  // The path itself.
  const path = pathOf(op, nobody, '');
  for (const [what, p] of [
    ['a NUL after the path', `${path}%00`],
    ['a /.. after the path', `${path}/..`],
    ['a matrix parameter', `${path};jsessionid=1`],
    ['the path in upper case', path.toUpperCase()],
    ['a doubled slash', path.replace('/', '//')],
    ['a dot segment', path.replace(/^\/(api\/)?/, '/$1./')],
    ['an encoded slash', path.replace(/\/([^/]*)$/, '%2f$1')],
  ] as const) {
    add(what, { path: baseQuery ? `${p}?${baseQuery}` : p });
  }

  // Query strings: encoding, unknown and repeated parameters, and wrong values for each one.
  const q = (query: string) => pathOf(op, nobody, baseQuery ? `${baseQuery}&${query}` : query);
  for (const [what, query] of [
    ['an unknown query parameter', 'attackUnknownParameter=1'],
    ['bad percent-encoding in a query value', `attack=${BAD_PERCENT}`],
    ['bad percent-encoding in a query name', `${BAD_PERCENT}=1`],
    ['query bytes that are not UTF-8', 'attack=%FF%FE'],
    ['a __proto__ query parameter', '__proto__[isAdmin]=1'],
    ['a constructor query parameter', 'constructor[prototype][isAdmin]=1'],
    ['1000 query parameters', Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&')],
    ['a 10 KB query value', `attack=${'a'.repeat(10_000)}`],
  ] as const) {
    add(what, { path: q(query) });
  }
  for (const param of op.query) {
    const types = acceptedTypes(param.schema, resolve) ?? new Set<JsonType>();
    const name = param.name;
    const wrong: Array<[string, string]> = [
      ['repeated', `${name}=a&${name}=b`],
      ['bracketed', `${name}[]=a`],
      ['NUL', `${name}=a%00b`],
      ['a lone surrogate', `${name}=%ED%A0%80`],
      ['a right-to-left override', `${name}=a%E2%80%AEb`],
      ['empty', `${name}=`],
      ['5 KB', `${name}=${'a'.repeat(5000)}`],
    ];
    if (types.has('integer') || types.has('number')) {
      wrong.push(
        ['not a number', `${name}=attack`],
        ['1e400', `${name}=1e400`],
        ['negative', `${name}=-1`],
        ['past 2^53', `${name}=99999999999999999999999`],
        ['hexadecimal', `${name}=0x10`],
      );
    }
    for (const [what, query] of wrong) add(`query ${name}: ${what}`, { path: q(query) });
  }

  // Cookies.
  for (const [what, cookie] of [
    ['a session cookie with bad percent-encoding', `__Host-infra-session=${BAD_PERCENT}`],
    ['an empty session cookie', '__Host-infra-session='],
    [
      'a session cookie that names no key',
      '__Host-infra-session=abcdefghij.abcdefghijklmnopqrstuvwx',
    ],
    ['an 8 KB session cookie', `__Host-infra-session=${'a'.repeat(8000)}`],
    ['a session cookie twice', '__Host-infra-session=a; __Host-infra-session=b'],
    [
      'a login binding with bad percent-encoding',
      `__Host-infra-login=${BAD_PERCENT}; __Host-infra-session=%FF`,
    ],
    ['300 cookies', Array.from({ length: 300 }, (_, i) => `c${i}=1`).join('; ')],
    ['cookie syntax that is not', ';;;; =; ==; __Host-infra-session; ="'],
    ['a cookie with UTF-8 bytes', bytes('__Host-infra-session=ключ')],
  ] as const) {
    add(what, { headers: { cookie } });
  }
  // Each signed-in identity's own key in the session cookie, sent from another site.
  for (const identity of identities.filter((id) => keys[id] !== undefined)) {
    add('its session cookie from another site', {
      identity,
      noAuth: true,
      headers: {
        cookie: `__Host-infra-session=${encodeURIComponent(keys[identity]!)}`,
        origin: 'https://evil.example.com',
        'sec-fetch-site': 'cross-site',
      },
    });
  }

  // Headers.
  for (const [what, headers] of [
    ['a 20 KB header', { 'x-attack': 'a'.repeat(20_000) }],
    [
      '100 headers',
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-attack-${i}`, 'b'.repeat(100)])),
    ],
    ['Infra-Version that is not a version', { 'infra-version': 'attack' }],
    ['Infra-Version from the future', { 'infra-version': '99.0.0' }],
    ['a 5 KB Infra-Version', { 'infra-version': '1'.repeat(5000) }],
    ['a Host that is not the server', { host: 'evil.example.com' }],
    [
      'X-Forwarded-For and X-Forwarded-Host',
      { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-host': 'evil.example.com' },
    ],
    ['a method override header', { 'x-http-method-override': 'DELETE' }],
    ['Accept: text/html', { accept: 'text/html' }],
    ['Expect: 100-continue', { expect: '100-continue' }],
    ['UTF-8 bytes in a header', { 'x-attack': bytes('значение\u202e') }],
  ] as const) {
    add(what, { headers });
  }

  // Authorization headers that are not a key: an identity's own key spoiled, and others.
  const spoiled: Array<[string, (key: string) => string]> = [
    ['its key, truncated', (k) => `Bearer ${k.slice(0, -1)}`],
    [
      'its key with the secret in upper case',
      (k) => `Bearer ${k.split('.')[0]}.${k.split('.')[1]!.toUpperCase()}`,
    ],
    ['its key after a tab', (k) => `Bearer\t${k}`],
    ['its key twice', (k) => `Bearer ${k} ${k}`],
    ['its key as Basic credentials', (k) => `Basic ${Buffer.from(k).toString('base64')}`],
  ];
  for (const [what, spoil] of spoiled) {
    const identity = nextIdentity(true);
    add(`Authorization: ${what}`, {
      identity,
      noAuth: true,
      headers: { authorization: spoil(keys[identity]!) },
    });
  }
  const admin = Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64');
  for (const [what, value] of [
    ['an empty Bearer', 'Bearer '],
    ['Bearer alone', 'Bearer'],
    ['an empty header', ''],
    ['Basic with the admin password', `Basic ${admin}`],
    ['Latin-1 bytes', `Bearer ${'é'.repeat(34)}`],
    ['UTF-8 bytes', bytes(`Bearer ${'ключ'.repeat(3)}.${'секрет'.repeat(4)}`)],
    ['a well-formed key that names nothing', 'Bearer abcdefghij.abcdefghijklmnopqrstuvwx'],
    ['a 12 KB token', `Bearer ${'a'.repeat(12_000)}`],
  ] as const) {
    add(`Authorization: ${what}`, {
      identity: 'anonymous',
      headers: { authorization: value },
    });
  }
  return out;
}

/**
 * Per path: methods no route has, and what only goes over the wire as written (CONNECT, a
 * request target naming another host, Host twice), each under the next identity.
 */
function pathAttacks(ops: Operation[], keys: Record<Identity, string | undefined>): Attack[] {
  const out: Attack[] = [];
  const byPath = new Map<string, Operation[]>();
  for (const op of ops) byPath.set(op.template, [...(byPath.get(op.template) ?? []), op]);
  let start = 0;
  for (const [template, onPath] of byPath) {
    const nextIdentity = rotation(start++, keys);
    const declared = new Set(onPath.map((o) => o.method));
    const op = onPath[0]!;
    const path = pathOf(op, () => (op.pathParams.length > 0 ? idsOf(op).nobody() : ''));
    const add = (what: string, method: string, wire?: Attack['wire']) => {
      const identity = nextIdentity();
      const key = keys[identity];
      // The body and query no operation accepts, as in attacksOn.
      const body = ['POST', 'PUT', 'PATCH'].includes(method)
        ? Buffer.from('{"attackUnknownField":1}')
        : undefined;
      const query = method === 'DELETE' ? '?attackUnknownField=1' : '';
      out.push({
        operation: template,
        identity,
        what,
        method,
        path: `${path}${query}`,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body
            ? { 'content-type': 'application/json', 'content-length': String(body.length) }
            : {}),
        },
        body,
        refuse: true,
        wire: wire && { ...wire, target: `${wire.target}${query}` },
      });
    };
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
    for (const method of [...methods, 'PROPFIND', 'LOCK']) {
      // HEAD is answered for every GET route.
      if (declared.has(method) || (method === 'HEAD' && declared.has('GET'))) continue;
      add(`method ${method}`, method);
    }
    add('method CONNECT', 'CONNECT', { target: path, lines: ['host: localhost'] });
    for (const method of declared) {
      add('a request target naming another host', method, {
        target: `https://evil.example.com${path}`,
        lines: ['host: localhost'],
      });
      add('Host twice, ours first', method, {
        target: path,
        lines: ['host: localhost', 'host: evil.example.com'],
      });
      add('Host twice, ours last', method, {
        target: path,
        lines: ['host: evil.example.com', 'host: localhost'],
      });
    }
  }
  return out;
}

for (const engine of engines) {
  describe(`attacks on every operation of the API [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let database: OpenDb;
    let doc: OpenApiDocument;
    let ops: Operation[];
    let fixtures: Fixtures;
    const keys = {} as Record<Identity, string | undefined>;
    let attacks: Attack[];
    let answers: Array<Answer | Error>;
    let changes: string[];
    let errorsLogged: string[];

    before(async () => {
      const started = await startAdminServer(engine, { clock });
      server = started.server;
      admin = started.admin;
      // Something of every kind for an attacker to want to change.
      const plain = await admin.createUser({ name: 'plain@example.com' });
      const viewer = await admin.createUser({ name: 'viewer@example.com' });
      await admin.createGrant({ user: viewer.id, privilege: 'view', resource: 'infra' });
      const group = await admin.createGroup({ name: 'attackers' });
      await admin.updateGroupUsers({ id: group.id, usersToAdd: [plain.id] });
      const grant = await admin.createGrant({
        group: group.id,
        privilege: 'view',
        resource: 'attacked',
      });
      await admin.createGrant({ user: plain.id, privilege: 'connect', resource: 'attacked' });
      const destination = await admin.createDestination({
        name: 'attacked',
        uniqueID: 'attacked-cluster',
        connection: { url: 'https://attacked.example.com', ca: '' },
      });
      await admin.createDestination({
        name: 'attacked-host',
        uniqueID: 'attacked-host',
        kind: 'ssh',
        ssh: { address: 'attacked.example.com:22', hostKey: SSH_KEY },
      });
      await admin.createGrant({ user: plain.id, privilege: 'connect', resource: 'attacked-host' });
      const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
      keys.anonymous = undefined;
      keys['no role'] = (await admin.createAccessKey({ userID: plain.id, expiry: '1h' })).accessKey;
      keys.view = (await admin.createAccessKey({ userID: viewer.id, expiry: '1h' })).accessKey;
      keys.connector = (
        await admin.createAccessKey({ userID: connector.id, expiry: '1h', destination: 'attacked' })
      ).accessKey;
      keys.admin = started.adminKey;
      fixtures = {
        now: clock.now(),
        plainUserId: plain.id,
        viewUserId: viewer.id,
        groupId: group.id,
        grantId: grant.id,
        destinationId: destination.id,
      };

      const res = await rawRequest(`${server.url}/api/openapi.json`, { ca: server.ca });
      doc = res.json<OpenApiDocument>();
      ops = operationsOf(doc);
      const resolve = resolver(doc);
      attacks = [
        ...ops.flatMap((op, i) => attacksOn(op, i, keys, resolve)),
        ...pathAttacks(ops, keys),
      ];

      database = await openDb(server.config.db);
      const stateBefore = await snapshot(database);
      const logsBefore = server.logs.lines.length;
      answers = await sendAll(server.url, server.ca, attacks);
      changes = differences(stateBefore, await snapshot(database));
      errorsLogged = serverErrors(server, logsBefore);
    });
    after(async () => {
      await database?.close();
      await server?.close();
    });

    it('attacks every operation of the OpenAPI document under every identity', () => {
      assert.ok(ops.length >= 40, `${ops.length} operations`);
      for (const op of ops) {
        for (const id of identities) {
          const n = attacks.filter((a) => a.operation === op.id && a.identity === id).length;
          assert.ok(n >= 5, `${op.id} as ${id}: ${n} attacks`);
        }
      }
    });

    it('answers no attack with a 5xx, and logs no server error', () => {
      const failed = attacks
        .map((a, i) => [a, answers[i]!] as const)
        .filter(([, ans]) => ans instanceof Error || ans.status >= 500)
        .map(([a, ans]) => `${a.operation} as ${a.identity}, ${a.what}: ${problemWith(a, ans)}`);
      assertNone(failed, 'server errors');
      assertNone(errorsLogged, 'error lines in the server log');
    });

    it('answers every refusal in the error model, and 401 with nothing more', () => {
      assertNone(report(attacks, answers), 'bad answers');
    });

    it('changes nothing with a refused request', () => {
      assertNone(changes, 'changes in the database');
    });

    it('takes hostile strings in every field and query parameter of a valid request', async () => {
      const resolve = resolver(doc);
      const valid = examples(fixtures);
      const batch: Attack[] = [];
      const send = (op: Operation, what: string, path: string, body?: Buffer) =>
        batch.push({
          operation: op.id,
          identity: 'admin',
          what,
          method: op.method,
          path,
          headers: {
            authorization: `Bearer ${keys.admin}`,
            ...(body
              ? { 'content-type': 'application/json', 'content-length': String(body.length) }
              : {}),
          },
          body,
          refuse: false,
        });
      for (const op of ops) {
        const fields = op.body ? Object.keys(resolve(op.body).properties ?? {}) : [];
        const required = op.query.filter((p) => p.required).map((p) => p.name);
        const example = valid[op.id] ?? {};
        assert.ok(
          (fields.length === 0 || example.body) &&
            required.every((name) => example.query?.[name] !== undefined),
          `${op.id}: give it a valid request in examples()`,
        );
        const path = (query: Record<string, string>) =>
          pathOf(
            op,
            (name) => example.params?.[name] ?? idsOf(op).nobody(),
            Object.entries(query)
              .map(([k, v]) => `${k}=${percentEncoded(v)}`)
              .join('&'),
          );
        // The example itself, as a control: it must pass validation, or the batch tests nothing.
        const control = example.body === undefined ? undefined : JSON.stringify(example.body);
        send(op, CONTROL, path(example.query ?? {}), control ? Buffer.from(control) : undefined);
        for (const field of stringFieldsOf(example.body)) {
          for (const [what, value] of HOSTILE) {
            const body = Buffer.from(JSON.stringify(replaceIn(example.body, field, value)));
            send(op, `${field.join('.')}: ${what}`, path(example.query ?? {}), body);
          }
        }
        for (const param of op.query) {
          for (const [what, value] of HOSTILE) {
            send(
              op,
              `query ${param.name}: ${what}`,
              path({ ...example.query, [param.name]: value }),
            );
          }
        }
      }
      const logsBefore = server.logs.lines.length;
      const got = await sendAll(server.url, server.ca, batch);
      const invalid = batch
        .map((a, i) => [a, got[i]!] as const)
        .filter(([a, ans]) => a.what === CONTROL && !(ans instanceof Error))
        .filter(([, ans]) => (ans as Answer).body.includes('"message":"validation failed'))
        .map(([a, ans]) => `${a.operation}: ${(ans as Answer).body}`);
      assertNone(invalid, 'examples that do not pass validation (fix examples())');
      assertNone(report(batch, got), 'bad answers');
      assertNone(serverErrors(server, logsBefore), 'error lines in the server log');
    });
  });
}
