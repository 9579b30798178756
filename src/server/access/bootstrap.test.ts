import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import type { Grant } from '../../api/grants.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { rawRequest } from '../../../test/http.js';
import {
  startTestServer,
  type LogSink,
  type TestServer,
  type TestServerOptions,
} from '../../../test/server.js';

const ADMIN = 'admin@example.com';
const BOB = 'bob@example.com';
const CI = 'ci@example.com';
const ALICE = 'alice@example.com';
const CAROL = 'carol@example.com';
const DAVE = 'dave@example.com';
const EVE = 'eve@example.com';
const ROOT = 'root@example.com';

const HOUR = 3_600_000;
const SESSION_DURATION = 720 * HOUR;
const TEN_YEARS = 10 * 365 * 86_400_000;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (n: number) => [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join('');
/** A well-formed access key, `<10 alnum>.<24 alnum>`, optionally with a given id. */
const newKey = (keyId = alnum(10)) => `${keyId}.${alnum(24)}`;
const keyIdOf = (key: string) => key.split('.')[0]!;
const secretOf = (key: string) => key.split('.')[1]!;
const password = () => `pw-${alnum(20)}`;
const iso = (ms: number) => new Date(ms).toISOString();

interface DeclaredUser {
  name: string;
  password?: string;
  accessKey?: string;
  infraRole?: 'admin' | 'view';
}
interface DeclaredGrant {
  user?: string;
  group?: string;
  role?: string;
  resource: string;
}

/** The YAML of a config file declaring these users and grants. */
function configFile(users: DeclaredUser[], grants: DeclaredGrant[] = []): string {
  return stringify({ users, grants });
}

/** A server that may be restarted, keeping the logs of every start. */
class Run {
  readonly #sinks: LogSink[] = [];
  server: TestServer;
  private constructor(server: TestServer) {
    this.server = server;
    this.#sinks.push(server.logs);
  }
  static async start(options: TestServerOptions): Promise<Run> {
    return new Run(await startTestServer(options));
  }
  async restart(
    next: Pick<TestServerOptions, 'settings' | 'env' | 'clock' | 'configFile'> = {},
  ): Promise<void> {
    this.server = await this.server.restart(next);
    this.#sinks.push(this.server.logs);
  }
  /** Everything every start of this server logged. */
  get allLogs(): string {
    return this.#sinks.map((s) => s.text).join('\n');
  }
  client(accessKey?: string): ApiClient {
    return this.server.client(accessKey === undefined ? {} : { accessKey });
  }
  async login(name: string, pw: string): Promise<ApiClient> {
    const session = await this.client().login({ passwordCredentials: { name, password: pw } });
    return this.client(session.accessKey);
  }
  close(): Promise<void> {
    return this.server.close();
  }
}

/** Asserts that `promise` fails with exactly this API error. */
async function rejectsWith(
  promise: Promise<unknown>,
  expected: { status: number; code: string; message: string | RegExp },
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.deepEqual(
      { status: err.status, code: err.code, fieldErrors: err.fieldErrors },
      { status: expected.status, code: expected.code, fieldErrors: undefined },
    );
    if (typeof expected.message === 'string') assert.equal(err.message, expected.message);
    else assert.match(err.message, expected.message);
    return true;
  });
}

const UNAUTHENTICATED = { status: 401, code: 'unauthenticated', message: 'unauthenticated' };

/** Grants without their random ids, in a stable order. */
function grantsOf(page: { items: Grant[] }): Array<Omit<Grant, 'id'>> {
  return page.items
    .map(({ id, ...rest }) => {
      assert.match(id, /^gnt_[0-9a-z]{24}$/);
      return rest;
    })
    .sort((a, b) => {
      const key = (g: Omit<Grant, 'id'>) =>
        `${g.userName ?? g.groupName} ${g.privilege} ${g.resource}`;
      return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
    });
}

interface SetupLink {
  port: number;
  token: string;
}

/** The setup links a start logged (at most one is expected). */
function setupLinks(server: TestServer): SetupLink[] {
  const links: SetupLink[] = [];
  for (const line of server.logs.lines) {
    const entry = JSON.parse(line) as { level: number; msg?: string };
    if (!entry.msg?.startsWith('no admin yet')) continue;
    assert.equal(entry.level, 40, 'the setup link is logged as a warning');
    const m =
      /^no admin yet: open https:\/\/127\.0\.0\.1:(\d+)\/setup\?token=([A-Za-z0-9_-]+) to create the first admin \(or POST the token to \/api\/setup\); the link works once and is replaced at every restart$/.exec(
        entry.msg,
      );
    assert.ok(m, `unexpected setup line: ${entry.msg}`);
    links.push({ port: Number(m[1]), token: m[2]! });
  }
  return links;
}

function setupLink(server: TestServer): SetupLink {
  const links = setupLinks(server);
  assert.equal(links.length, 1, 'one setup link per start');
  assert.equal(links[0]!.port, server.running.httpsPort);
  return links[0]!;
}

async function getSetupRaw(server: TestServer): Promise<{ status: number; body: unknown }> {
  const res = await rawRequest(`${server.url}/api/setup`, { ca: server.ca });
  return { status: res.status, body: res.json() };
}

/** Every byte the database holds, as text: the SQLite file and its WAL, or every row of every table. */
async function databaseText(server: TestServer): Promise<string> {
  const db = server.config.db;
  if (db.kind === 'sqlite') {
    const parts = [db.file, `${db.file}-wal`]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'));
    assert.ok(parts.length > 0);
    return parts.join('\n');
  }
  const client = new pg.Client({ connectionString: db.connectionString });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `select table_name from information_schema.tables
       where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
    );
    assert.ok(tables.rows.length > 5);
    const out: string[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await client.query<{ row: string }>(
        `select t::text as row from "${table_name}" t`,
      );
      out.push(`-- ${table_name}`, ...rows.rows.map((r) => r.row));
    }
    return out.join('\n');
  } finally {
    await client.end();
  }
}

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-bootstrap-test-'));
  tmpDirs.push(dir);
  return dir;
}

for (const engine of engines) {
  describe(`config file users and grants (${engine})`, () => {
    it('signs in a declared admin, whose user and grant belong to the file, and needs no setup', async () => {
      const clock = new TestClock();
      const t0 = clock.now();
      const adminPassword = password();
      const run = await Run.start({
        engine,
        clock,
        configFile: configFile([
          { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
        ]),
      });
      try {
        const session = await run
          .client()
          .login({ passwordCredentials: { name: ADMIN, password: adminPassword } });
        assert.match(session.userID, /^usr_[0-9a-z]{24}$/);
        assert.match(session.accessKey, /^[A-Za-z0-9]{10}\.[A-Za-z0-9]{24}$/);
        assert.deepEqual(session, {
          userID: session.userID,
          name: ADMIN,
          accessKey: session.accessKey,
          expires: iso(t0 + SESSION_DURATION),
          passwordUpdateRequired: false,
        });
        const admin = run.client(session.accessKey);

        assert.deepEqual(await admin.listUsers(), {
          items: [
            {
              id: session.userID,
              name: ADMIN,
              created: iso(t0),
              updated: iso(t0),
              lastSeenAt: iso(t0),
              managedBy: 'config',
              infraRoles: ['admin'],
              groups: [],
              totalGroups: 0,
              origin: 'config',
              providers: [],
              deactivatedBy: null,
            },
          ],
          count: 1,
          totalCount: 1,
          limit: 100,
        });
        const grants = await admin.listGrants();
        assert.equal(grants.count, 1);
        assert.deepEqual(grantsOf(grants), [
          {
            user: session.userID,
            userName: ADMIN,
            privilege: 'admin',
            resource: 'infra',
            created: iso(t0),
            createdBy: null,
            expiresAt: null,
            managedBy: 'config',
          },
        ]);

        assert.deepEqual(setupLinks(run.server), []);
        assert.doesNotMatch(run.server.logs.text, /setup\?token=/);
        assert.deepEqual(await getSetupRaw(run.server), { status: 200, body: { required: false } });
        assert.deepEqual(await run.client().getSetup(), { required: false });
      } finally {
        await run.close();
      }
    });

    it('accepts a declared access key as a bearer token, and replaces it when the file changes', async () => {
      const clock = new TestClock();
      const t0 = clock.now();
      const dir = tempDir();
      const keyFile = path.join(dir, 'ci-key');
      const key1 = newKey();
      writeFileSync(keyFile, `${key1}\n`);
      const file = configFile([{ name: CI, accessKey: `file:${keyFile}` }]);
      const run = await Run.start({ engine, clock, configFile: file });
      try {
        const ci1 = run.client(key1);
        const me = await ci1.getUser({ id: 'self' });
        assert.deepEqual(me, {
          id: me.id,
          name: CI,
          created: iso(t0),
          updated: iso(t0),
          lastSeenAt: iso(t0),
          managedBy: 'config',
        });
        const keys1 = await ci1.listAccessKeys({ userID: 'self' });
        assert.match(keys1.items[0]?.id ?? '', /^key_[0-9a-z]{24}$/);
        assert.deepEqual(keys1, {
          items: [
            {
              id: keys1.items[0]!.id,
              name: `config-${keyIdOf(key1)}`,
              userID: me.id,
              userName: CI,
              issuedVia: 'config',
              created: iso(t0),
              expires: iso(t0 + TEN_YEARS),
              inactivityTimeout: null,
              lastUsed: iso(t0),
              destination: null,
              // The key this request came with.
              current: true,
            },
          ],
          count: 1,
          limit: 100,
        });

        // A new key with a new id: the old one stops working.
        clock.advance(HOUR);
        const t1 = clock.now();
        const key2 = newKey();
        writeFileSync(keyFile, `${key2}\n`);
        await run.restart();
        await rejectsWith(run.client(key1).getUser({ id: 'self' }), UNAUTHENTICATED);
        await rejectsWith(run.client(key1).listAccessKeys({ userID: 'self' }), UNAUTHENTICATED);
        const ci2 = run.client(key2);
        assert.equal((await ci2.getUser({ id: 'self' })).id, me.id);
        const keys2 = await ci2.listAccessKeys({ userID: 'self' });
        assert.deepEqual(
          keys2.items.map((k) => [k.name, k.issuedVia, k.created, k.expires]),
          [[`config-${keyIdOf(key2)}`, 'config', iso(t1), iso(t1 + TEN_YEARS)]],
        );

        // The same id with a new secret: the old secret stops working.
        clock.advance(HOUR);
        const t2 = clock.now();
        const key3 = newKey(keyIdOf(key2));
        writeFileSync(keyFile, key3);
        await run.restart();
        await rejectsWith(run.client(key2).getUser({ id: 'self' }), UNAUTHENTICATED);
        const ci3 = run.client(key3);
        assert.equal((await ci3.getUser({ id: 'self' })).id, me.id);
        const keys3 = await ci3.listAccessKeys({ userID: 'self' });
        assert.deepEqual(
          keys3.items.map((k) => [k.name, k.issuedVia, k.created, k.expires]),
          [[`config-${keyIdOf(key3)}`, 'config', iso(t2), iso(t2 + TEN_YEARS)]],
        );

        // An unchanged file leaves the key alone.
        clock.advance(HOUR);
        await run.restart();
        const keys4 = await run.client(key3).listAccessKeys({ userID: 'self' });
        assert.deepEqual(
          keys4.items.map((k) => [k.id, k.created]),
          [[keys3.items[0]!.id, iso(t2)]],
        );
      } finally {
        await run.close();
      }
    });

    it('binds a declared connector key to its destination, moves it and removes it with the file', async () => {
      const adminPassword = password();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const key = newKey();
      const withConnector = (destination?: string) =>
        stringify({
          users: [adminDecl],
          ...(destination && { connectors: [{ destination, accessKey: `plaintext:${key}` }] }),
        });
      const registration = (name: string) => ({
        name,
        uniqueID: `uid-${name}`,
        connection: { url: `https://${name}.example.com`, ca: '' },
        roles: ['view'],
      });
      const run = await Run.start({ engine, configFile: withConnector('prod') });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const connector = run.client(key);
        // The key acts as the connector user, bound to prod before it ever registers.
        const self = await connector.getUser({ id: 'self' });
        assert.equal(self.name, 'connector');
        const declared = (await admin.listAccessKeys({ userID: self.id })).items;
        assert.deepEqual(
          declared.map((k) => [k.name, k.destination, k.issuedVia, k.expires !== null]),
          [[`config-${keyIdOf(key)}`, 'prod', 'config', true]],
        );
        await connector.createDestination(registration('prod'));
        await connector.getAccessFeed({ destination: 'prod' });
        await rejectsWith(connector.createDestination(registration('staging')), {
          status: 403,
          code: 'forbidden',
          message: /this connector key is for destination prod, not staging/,
        });
        // It belongs to the file: the API cannot remove it.
        await rejectsWith(admin.deleteAccessKey({ id: declared[0]!.id }), {
          status: 400,
          code: 'bad_request',
          message: /config file/,
        });

        // The file moves it to staging: bound there from the next start, prod refused.
        await run.restart({ configFile: withConnector('staging') });
        const moved = run.client(key);
        await moved.createDestination(registration('staging'));
        await moved.getAccessFeed({ destination: 'staging' });
        await assert.rejects(moved.getAccessFeed({ destination: 'prod' }), { status: 403 });

        // Gone from the file: the key no longer works, and the audit entry says so.
        await run.restart({ configFile: withConnector() });
        await rejectsWith(run.client(key).getUser({ id: 'self' }), UNAUTHENTICATED);
        const admin2 = await run.login(ADMIN, adminPassword);
        const audit = await admin2.listAudit({ action: 'reconcileConfig' });
        assert.deepEqual(
          audit.items.map((e) => e.details),
          [
            { connectorKeysRemoved: ['staging'] },
            { connectorKeysSet: ['staging'] },
            {
              usersCreated: [ADMIN],
              passwordsSet: [ADMIN],
              connectorKeysSet: ['prod'],
              grantsCreated: [`${ADMIN}: admin on infra`],
            },
          ],
        );
      } finally {
        await run.close();
      }
    });

    it('stops start-up with one sentence on a connector key that is malformed or declared twice', async () => {
      const key = newKey();
      const cases: Array<[unknown[], string]> = [
        [
          [{ destination: 'prod', accessKey: 'plaintext:not-a-key' }],
          'connectors: the access key of the connector of prod must have the form <10 letters or digits>.<24 letters or digits>',
        ],
        [
          [
            { destination: 'prod', accessKey: `plaintext:${key}` },
            { destination: 'staging', accessKey: `plaintext:${key}` },
          ],
          'connectors: the access key of the connector of staging has the id of another key in the file; generate a new one',
        ],
      ];
      for (const [connectors, message] of cases)
        await assert.rejects(startTestServer({ engine, configFile: stringify({ connectors }) }), {
          message,
        });
      // Not a destination name: refused by the config file's schema, naming the field.
      await assert.rejects(
        startTestServer({
          engine,
          configFile: stringify({
            connectors: [{ destination: '../prod', accessKey: `plaintext:${key}` }],
          }),
        }),
        /connectors\.0\.destination/,
      );
    });

    it('creates the groups and users that declared grants name', async () => {
      const clock = new TestClock();
      const t0 = clock.now();
      const adminPassword = password();
      const run = await Run.start({
        engine,
        clock,
        configFile: configFile(
          [{ name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' }],
          [
            { group: 'oncall', role: 'view', resource: 'prod.web' },
            { group: 'oncall', resource: 'prod' },
            { user: ALICE, role: 'edit', resource: 'staging' },
          ],
        ),
      });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const users = await admin.listUsers();
        const adminId = users.items.find((u) => u.name === ADMIN)?.id;
        const aliceId = users.items.find((u) => u.name === ALICE)?.id;
        assert.ok(adminId && aliceId);
        assert.deepEqual(users, {
          items: [
            {
              id: adminId,
              name: ADMIN,
              created: iso(t0),
              updated: iso(t0),
              lastSeenAt: iso(t0),
              managedBy: 'config',
              infraRoles: ['admin'],
              groups: [],
              totalGroups: 0,
              origin: 'config',
              providers: [],
              deactivatedBy: null,
            },
            {
              id: aliceId,
              name: ALICE,
              created: iso(t0),
              updated: iso(t0),
              lastSeenAt: null,
              managedBy: 'config',
              infraRoles: [],
              groups: [],
              totalGroups: 0,
              origin: 'config',
              providers: [],
              deactivatedBy: null,
            },
          ],
          count: 2,
          totalCount: 2,
          limit: 100,
        });
        const groups = await admin.listGroups();
        const oncallId = groups.items[0]?.id;
        assert.match(oncallId ?? '', /^grp_[0-9a-z]{24}$/);
        assert.deepEqual(groups, {
          items: [
            {
              id: oncallId,
              name: 'oncall',
              created: iso(t0),
              updated: iso(t0),
              totalUsers: 0,
              managedBy: 'config',
            },
          ],
          count: 1,
          totalCount: 1,
          limit: 100,
        });
        const common = { created: iso(t0), createdBy: null, expiresAt: null, managedBy: 'config' };
        assert.deepEqual(grantsOf(await admin.listGrants()), [
          { user: adminId, userName: ADMIN, privilege: 'admin', resource: 'infra', ...common },
          { user: aliceId, userName: ALICE, privilege: 'edit', resource: 'staging', ...common },
          {
            group: oncallId,
            groupName: 'oncall',
            privilege: 'connect',
            resource: 'prod',
            ...common,
          },
          {
            group: oncallId,
            groupName: 'oncall',
            privilege: 'view',
            resource: 'prod.web',
            ...common,
          },
        ]);
        // A user created for a grant has no password.
        for (const pw of ['', 'password', adminPassword].filter(Boolean)) {
          await rejectsWith(
            run.client().login({ passwordCredentials: { name: ALICE, password: pw } }),
            UNAUTHENTICATED,
          );
        }
      } finally {
        await run.close();
      }
    });

    it('removes what the file no longer declares and leaves what the API made', async () => {
      const clock = new TestClock();
      const t0 = clock.now();
      const adminPassword = password();
      const bobPassword = password();
      const bobKey = newKey();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const run = await Run.start({
        engine,
        clock,
        configFile: configFile(
          [
            adminDecl,
            { name: BOB, password: `plaintext:${bobPassword}`, accessKey: `plaintext:${bobKey}` },
            { name: DAVE, infraRole: 'admin' },
          ],
          [
            { group: 'oncall', role: 'view', resource: 'prod.web' },
            { user: ALICE, role: 'edit', resource: 'staging' },
            { user: BOB, role: 'view', resource: 'prod' },
          ],
        ),
      });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        await run.login(BOB, bobPassword);
        await run.client(bobKey).getUser({ id: 'self' });

        const carol = await admin.createUser({ name: CAROL });
        const devs = await admin.createGroup({ name: 'devs' });
        const carolGrant = await admin.createGrant({
          user: carol.id,
          privilege: 'connect',
          resource: 'dev',
        });
        const devsGrant = await admin.createGrant({
          group: devs.id,
          privilege: 'view',
          resource: 'dev.web',
        });
        await admin.updateGroupUsers({ id: devs.id, usersToAdd: [carol.id] });
        const adminId = (await admin.getUser({ id: 'self' })).id;
        const daveId = (await admin.listUsers({ name: DAVE })).items[0]!.id;

        clock.advance(HOUR);
        await run.restart({
          configFile: configFile([adminDecl, { name: DAVE, infraRole: 'view' }]),
        });
        const admin2 = await run.login(ADMIN, adminPassword);

        assert.deepEqual(
          (await admin2.listUsers()).items.map((u) => [u.name, u.id, u.managedBy]),
          [
            [ADMIN, adminId, 'config'],
            [CAROL, carol.id, 'api'],
            [DAVE, daveId, 'config'],
          ],
        );
        await rejectsWith(
          run.client().login({ passwordCredentials: { name: BOB, password: bobPassword } }),
          UNAUTHENTICATED,
        );
        // Bob's key is refused, saying why (only to whoever holds it).
        await rejectsWith(run.client(bobKey).getUser({ id: 'self' }), {
          status: 401,
          code: 'user_removed',
          message: 'your Infra user was removed by an admin',
        });

        const t1 = clock.now();
        assert.deepEqual(grantsOf(await admin2.listGrants()), [
          {
            user: adminId,
            userName: ADMIN,
            privilege: 'admin',
            resource: 'infra',
            created: iso(t0),
            createdBy: null,
            expiresAt: null,
            managedBy: 'config',
          },
          {
            user: carol.id,
            userName: CAROL,
            privilege: 'connect',
            resource: 'dev',
            created: carolGrant.created,
            createdBy: adminId,
            expiresAt: null,
            managedBy: 'api',
          },
          {
            user: daveId,
            userName: DAVE,
            privilege: 'view',
            resource: 'infra',
            created: iso(t1),
            createdBy: null,
            expiresAt: null,
            managedBy: 'config',
          },
          {
            group: devs.id,
            groupName: 'devs',
            privilege: 'view',
            resource: 'dev.web',
            created: devsGrant.created,
            createdBy: adminId,
            expiresAt: null,
            managedBy: 'api',
          },
        ]);
        const devsNow = await admin2.getGroup({ id: devs.id });
        assert.deepEqual(devsNow, { ...devs, updated: devsNow.updated, totalUsers: 1 });
      } finally {
        await run.close();
      }
    });

    it('removes a group it created once no declared grant names it', async () => {
      const adminPassword = password();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const run = await Run.start({
        engine,
        configFile: configFile([adminDecl], [{ group: 'oncall', role: 'view', resource: 'prod' }]),
      });
      try {
        const before = await (await run.login(ADMIN, adminPassword)).listGroups();
        assert.deepEqual(
          before.items.map((g) => [g.name, g.managedBy]),
          [['oncall', 'config']],
        );
        await run.restart({ configFile: configFile([adminDecl]) });
        const admin = await run.login(ADMIN, adminPassword);
        assert.deepEqual(
          (await admin.listGroups()).items.map((g) => [g.name, g.managedBy]),
          [],
          'docs/configuration.md: what an earlier start created from the file and the file no longer declares is removed',
        );
      } finally {
        await run.close();
      }
    });

    it('removes a password the file no longer declares', async () => {
      const adminPassword = password();
      const bobPassword = password();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const run = await Run.start({
        engine,
        configFile: configFile([
          adminDecl,
          { name: BOB, password: `plaintext:${bobPassword}`, infraRole: 'view' },
        ]),
      });
      try {
        await run.login(BOB, bobPassword);
        await run.restart({
          configFile: configFile([adminDecl, { name: BOB, infraRole: 'view' }]),
        });
        await rejectsWith(
          run.client().login({ passwordCredentials: { name: BOB, password: bobPassword } }),
          UNAUTHENTICATED,
        );
      } finally {
        await run.close();
      }
    });

    it('leaves a user made through the API to the API when a declared grant names them', async () => {
      const adminPassword = password();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const run = await Run.start({ engine, configFile: configFile([adminDecl]) });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const carol = await admin.createUser({ name: CAROL });
        await run.restart({
          configFile: configFile([adminDecl], [{ user: CAROL, role: 'view', resource: 'prod' }]),
        });
        const admin2 = await run.login(ADMIN, adminPassword);
        assert.deepEqual(
          grantsOf(await admin2.listGrants({ user: carol.id })).map((g) => [
            g.privilege,
            g.resource,
            g.managedBy,
          ]),
          [['view', 'prod', 'config']],
        );
        await run.restart({ configFile: configFile([adminDecl]) });
        const admin3 = await run.login(ADMIN, adminPassword);
        assert.deepEqual(
          (await admin3.listUsers()).items.map((u) => [u.name, u.id, u.managedBy]),
          [
            [ADMIN, (await admin3.getUser({ id: 'self' })).id, 'config'],
            [CAROL, carol.id, 'api'],
          ],
        );
        assert.deepEqual((await admin3.listGrants({ user: carol.id })).items, []);
      } finally {
        await run.close();
      }
    });

    it('refuses API changes to what the file declares', async () => {
      const adminPassword = password();
      const bobPassword = password();
      const ciKey = newKey();
      const run = await Run.start({
        engine,
        configFile: configFile(
          [
            { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
            { name: BOB, password: `plaintext:${bobPassword}`, infraRole: 'view' },
            { name: CI, accessKey: `plaintext:${ciKey}` },
          ],
          [{ group: 'oncall', role: 'view', resource: 'prod.web' }],
        ),
      });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const bob = await run.login(BOB, bobPassword);
        const users = (await admin.listUsers()).items;
        const bobId = users.find((u) => u.name === BOB)!.id;
        const ciId = users.find((u) => u.name === CI)!.id;
        const oncall = (await admin.listGroups({ name: 'oncall' })).items[0]!;
        const grantsBefore = await admin.listGrants();
        const oncallGrant = grantsBefore.items.find((g) => g.groupName === 'oncall')!;
        const adminGrant = grantsBefore.items.find((g) => g.userName === ADMIN)!;

        const removeThere = (name: string) => ({
          status: 400,
          code: 'bad_request',
          message: `${name} is declared in the server's config file; remove it there`,
        });
        const grantThere = {
          status: 400,
          code: 'bad_request',
          message: "this grant is declared in the server's config file; remove it there",
        };
        const passwordThere = {
          status: 400,
          code: 'bad_request',
          message: `${BOB} is declared in the server's config file; change the password there`,
        };

        await rejectsWith(admin.deleteUser({ id: bobId }), removeThere(BOB));
        await rejectsWith(admin.deleteUser({ id: ciId }), removeThere(CI));
        await rejectsWith(admin.deleteGrant({ id: oncallGrant.id }), grantThere);
        await rejectsWith(admin.deleteGrant({ id: adminGrant.id }), grantThere);
        await rejectsWith(
          admin.updateGrants({ grantsToRemove: [{ id: oncallGrant.id }] }),
          grantThere,
        );
        await rejectsWith(
          admin.updateGrants({
            grantsToRemove: [{ groupName: 'oncall', privilege: 'view', resource: 'prod.web' }],
          }),
          grantThere,
        );
        await rejectsWith(
          admin.updateUser({ id: bobId, password: 'a-new-password-1' }),
          passwordThere,
        );
        await rejectsWith(
          bob.updateUser({ id: 'self', password: 'a-new-password-1', oldPassword: bobPassword }),
          passwordThere,
        );
        await rejectsWith(
          admin.deleteGroup({ id: oncall.id }),
          removeThere(`group ${oncall.name}`),
        );

        // Nothing changed: the password from the file still works, every grant is there.
        await run.login(BOB, bobPassword);
        assert.deepEqual(await admin.listGrants(), grantsBefore);
        assert.deepEqual(
          (await admin.listUsers()).items.map((u) => u.name),
          [ADMIN, BOB, CI],
        );
      } finally {
        await run.close();
      }
    });

    it('refuses API deletion of an access key the file declares', async () => {
      const adminPassword = password();
      const ciKey = newKey();
      const run = await Run.start({
        engine,
        configFile: configFile([
          { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
          { name: CI, accessKey: `plaintext:${ciKey}` },
        ]),
      });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const ci = run.client(ciKey);
        const key = (await ci.listAccessKeys({ userID: 'self' })).items[0]!;
        const refused = { status: 400, code: 'bad_request', message: /config file/ };
        await rejectsWith(admin.deleteAccessKey({ id: key.id }), refused);
        await rejectsWith(ci.deleteAccessKey({ id: key.id }), refused);
        await rejectsWith(ci.deleteAccessKeys({ name: key.name }), refused);
        assert.equal((await ci.getUser({ id: 'self' })).name, CI);
      } finally {
        await run.close();
      }
    });

    it('stops start-up with one sentence on a malformed access key', async () => {
      for (const bad of ['not-a-key', `${alnum(10)}.${alnum(23)}`, `${alnum(10)}${alnum(24)}`]) {
        await assert.rejects(
          startTestServer({
            engine,
            configFile: configFile([{ name: CI, accessKey: `plaintext:${bad}` }]),
          }),
          (err: unknown) => {
            assert.ok(err instanceof Error);
            assert.equal(
              err.message,
              `users: the access key of ${CI} must have the form <10 letters or digits>.<24 letters or digits>`,
            );
            return true;
          },
        );
      }
    });

    it('stops start-up with one sentence on an access key whose id is another user’s', async () => {
      const keyId = alnum(10);
      await assert.rejects(
        startTestServer({
          engine,
          configFile: configFile([
            { name: BOB, accessKey: `plaintext:${newKey(keyId)}` },
            { name: CI, accessKey: `plaintext:${newKey(keyId)}` },
          ]),
        }),
        {
          message: `users: the access key of ${CI} has the id of another user's key; generate a new one`,
        },
      );

      // The id of a session another user holds, and nothing of the failed start is kept.
      const adminPassword = password();
      const good = configFile([
        { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
      ]);
      const run = await Run.start({ engine, configFile: good });
      try {
        const session = await run
          .client()
          .login({ passwordCredentials: { name: ADMIN, password: adminPassword } });
        await assert.rejects(
          run.restart({
            configFile: configFile(
              [
                { name: EVE, password: `plaintext:${password()}`, infraRole: 'view' },
                { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
                { name: CI, accessKey: `plaintext:${newKey(keyIdOf(session.accessKey))}` },
              ],
              [{ group: 'oncall', resource: 'prod' }],
            ),
          }),
          {
            message: `users: the access key of ${CI} has the id of another user's key; generate a new one`,
          },
        );
        await run.restart({ configFile: good });
        const admin = run.client(session.accessKey);
        assert.deepEqual(
          (await admin.listUsers()).items.map((u) => u.name),
          [ADMIN],
        );
        assert.deepEqual((await admin.listGroups()).items, []);
        assert.equal((await admin.listAudit({ action: 'reconcileConfig' })).count, 1);
      } finally {
        await run.close();
      }
    });

    it('audits a reconciliation that changed something, and only such', async () => {
      const clock = new TestClock();
      const t0 = clock.now();
      const adminPassword = password();
      const ciKey1 = newKey();
      const ciKey2 = newKey();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const fileA = configFile(
        [adminDecl, { name: CI, accessKey: `plaintext:${ciKey1}` }],
        [
          { group: 'oncall', role: 'view', resource: 'prod.web' },
          { user: ALICE, role: 'edit', resource: 'staging' },
        ],
      );
      const applied = 'applied the users and grants of the config file';
      const run = await Run.start({ engine, clock, configFile: fileA });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const first = await admin.listAudit({ action: 'reconcileConfig' });
        assert.match(first.items[0]?.hash ?? '', /^[0-9a-f]{64}$/);
        assert.deepEqual(first, {
          items: [
            {
              seq: 1,
              at: iso(t0),
              actor: { id: null, name: 'config file' },
              action: 'reconcileConfig',
              target: { kind: 'config', id: null, name: null },
              sourceIp: 'local',
              result: 'success',
              details: {
                usersCreated: [ADMIN, CI, ALICE],
                passwordsSet: [ADMIN],
                accessKeysSet: [CI],
                groupsCreated: ['oncall'],
                grantsCreated: [
                  `${ADMIN}: admin on infra`,
                  'oncall: view on prod.web',
                  `${ALICE}: edit on staging`,
                ],
              },
              hash: first.items[0]!.hash,
            },
          ],
          count: 1,
          limit: 100,
        });
        assert.equal(run.server.logs.text.split(applied).length - 1, 1);

        // The same file again: nothing to do, nothing audited.
        clock.advance(HOUR);
        await run.restart();
        assert.doesNotMatch(run.server.logs.text, new RegExp(applied));
        const admin2 = await run.login(ADMIN, adminPassword);
        assert.deepEqual(await admin2.listAudit({ action: 'reconcileConfig' }), first);

        // A changed file: one more entry.
        clock.advance(HOUR);
        const t2 = clock.now();
        await run.restart({
          configFile: configFile(
            [adminDecl, { name: CI, accessKey: `plaintext:${ciKey2}` }],
            [{ group: 'oncall', role: 'view', resource: 'prod.web' }],
          ),
        });
        assert.equal(run.server.logs.text.split(applied).length - 1, 1);
        const admin3 = await run.login(ADMIN, adminPassword);
        const second = await admin3.listAudit({ action: 'reconcileConfig' });
        assert.equal(second.count, 2);
        assert.deepEqual(second.items[1], first.items[0]);
        const latest = second.items[0]!;
        assert.ok(latest.seq > first.items[0]!.seq);
        assert.deepEqual(
          { ...latest, seq: 0, hash: '' },
          {
            seq: 0,
            at: iso(t2),
            actor: { id: null, name: 'config file' },
            action: 'reconcileConfig',
            target: { kind: 'config', id: null, name: null },
            sourceIp: 'local',
            result: 'success',
            details: {
              accessKeysSet: [CI],
              accessKeysRemoved: [CI],
              grantsRemoved: [`${ALICE}: edit on staging`],
              usersRemoved: [ALICE],
            },
            hash: '',
          },
        );

        const all = await admin3.listAudit({ limit: 1000 });
        assert.deepEqual(await admin3.verifyAudit(), { valid: true, checked: all.count });
        assert.deepEqual(
          all.items.map((e) => e.seq),
          Array.from({ length: all.count }, (_, i) => all.count - i),
        );
      } finally {
        await run.close();
      }
    });

    it('audits taking over a grant an admin had made by hand', async () => {
      const adminPassword = password();
      const adminDecl: DeclaredUser = {
        name: ADMIN,
        password: `plaintext:${adminPassword}`,
        infraRole: 'admin',
      };
      const run = await Run.start({ engine, configFile: configFile([adminDecl]) });
      try {
        const admin = await run.login(ADMIN, adminPassword);
        const devs = await admin.createGroup({ name: 'devs' });
        const grant = await admin.createGrant({
          group: devs.id,
          privilege: 'view',
          resource: 'prod',
        });
        assert.equal(grant.managedBy, 'api');
        await run.restart({
          configFile: configFile([adminDecl], [{ group: 'devs', role: 'view', resource: 'prod' }]),
        });
        const admin2 = await run.login(ADMIN, adminPassword);
        assert.equal((await admin2.getGrant({ id: grant.id })).managedBy, 'config');
        const audit = await admin2.listAudit({ action: 'reconcileConfig' });
        assert.equal(
          audit.count,
          2,
          'the grant changed from managedBy api to config, so the reconciliation is audited',
        );
        assert.match(JSON.stringify(audit.items[0]!.details), /devs: view on prod/);
      } finally {
        await run.close();
      }
    });

    it('logs a one-time setup link when no admin exists, and creates the first admin with it', async () => {
      const clock = new TestClock();
      const bobPassword = password();
      const file = configFile([
        { name: BOB, password: `plaintext:${bobPassword}`, infraRole: 'view' },
      ]);
      const run = await Run.start({ engine, clock, configFile: file });
      try {
        const token1 = setupLink(run.server).token;
        assert.ok(token1.length >= 20);
        assert.deepEqual(await getSetupRaw(run.server), { status: 200, body: { required: true } });

        // A restart replaces the token.
        clock.advance(HOUR);
        await run.restart();
        const token2 = setupLink(run.server).token;
        assert.notEqual(token2, token1);
        assert.deepEqual(await getSetupRaw(run.server), { status: 200, body: { required: true } });

        const rootPassword = password();
        await rejectsWith(
          run.client().setup({ token: token1, name: EVE, password: rootPassword }),
          UNAUTHENTICATED,
        );
        await rejectsWith(
          run.client().setup({ token: `${token2}x`, name: EVE, password: rootPassword }),
          UNAUTHENTICATED,
        );
        await rejectsWith(
          run.client().login({ passwordCredentials: { name: EVE, password: rootPassword } }),
          UNAUTHENTICATED,
        );
        assert.deepEqual(await getSetupRaw(run.server), { status: 200, body: { required: true } });

        const t1 = clock.now();
        const session = await run
          .client()
          .setup({ token: token2, name: ROOT, password: rootPassword });
        assert.match(session.userID, /^usr_[0-9a-z]{24}$/);
        assert.match(session.accessKey, /^[A-Za-z0-9]{10}\.[A-Za-z0-9]{24}$/);
        assert.deepEqual(session, {
          userID: session.userID,
          name: ROOT,
          accessKey: session.accessKey,
          expires: iso(t1 + SESSION_DURATION),
          passwordUpdateRequired: false,
        });
        const root = run.client(session.accessKey);
        const users = await root.listUsers();
        assert.deepEqual(users, {
          items: [
            {
              id: users.items[0]!.id,
              name: BOB,
              created: users.items[0]!.created,
              updated: users.items[0]!.updated,
              lastSeenAt: null,
              managedBy: 'config',
              infraRoles: ['view'],
              groups: [],
              totalGroups: 0,
              origin: 'config',
              providers: [],
              deactivatedBy: null,
            },
            {
              id: session.userID,
              name: ROOT,
              created: iso(t1),
              updated: iso(t1),
              lastSeenAt: iso(t1),
              managedBy: 'api',
              infraRoles: ['admin'],
              groups: [],
              totalGroups: 0,
              origin: 'local',
              providers: [],
              deactivatedBy: null,
            },
          ],
          count: 2,
          totalCount: 2,
          limit: 100,
        });
        assert.deepEqual(grantsOf(await root.listGrants({ user: 'self' })), [
          {
            user: session.userID,
            userName: ROOT,
            privilege: 'admin',
            resource: 'infra',
            created: iso(t1),
            createdBy: session.userID,
            expiresAt: null,
            managedBy: 'api',
          },
        ]);

        const done = {
          status: 403,
          code: 'forbidden',
          message: 'setup is already done; sign in instead',
        };
        await rejectsWith(
          run.client().setup({ token: token2, name: EVE, password: rootPassword }),
          done,
        );
        await rejectsWith(
          run.client().setup({ token: token1, name: EVE, password: rootPassword }),
          done,
        );
        assert.deepEqual(await getSetupRaw(run.server), {
          status: 200,
          body: { required: false },
        });

        // With an admin, a restart logs no link.
        await run.restart();
        assert.deepEqual(setupLinks(run.server), []);
        assert.deepEqual(await getSetupRaw(run.server), {
          status: 200,
          body: { required: false },
        });
        await run.login(ROOT, rootPassword);
      } finally {
        await run.close();
      }
    });

    it('logs a setup link again once the file no longer declares the only admin', async () => {
      const adminPassword = password();
      const run = await Run.start({
        engine,
        configFile: configFile([
          { name: ADMIN, password: `plaintext:${adminPassword}`, infraRole: 'admin' },
        ]),
      });
      try {
        assert.deepEqual(setupLinks(run.server), []);
        await run.restart({ configFile: configFile([]) });
        setupLink(run.server);
        assert.deepEqual(await getSetupRaw(run.server), { status: 200, body: { required: true } });
      } finally {
        await run.close();
      }
    });

    it('keeps passwords and keys from the file out of the logs and the database', async () => {
      const dir = tempDir();
      const adminPassword = password();
      const bobPassword1 = password();
      const bobPassword2 = password();
      const ciKey1 = newKey();
      const ciKey2 = newKey();
      const daveKey = newKey();
      const bobFile = path.join(dir, 'bob-password');
      writeFileSync(bobFile, `${bobPassword1}\n`);
      const file = configFile(
        [
          { name: ADMIN, password: 'env:ADMIN_PASSWORD', infraRole: 'admin' },
          { name: BOB, password: `file:${bobFile}`, infraRole: 'view' },
          { name: CI, accessKey: 'env:CI_KEY' },
          { name: DAVE, accessKey: `plaintext:${daveKey}` },
        ],
        [{ user: DAVE, role: 'view', resource: 'infra' }],
      );
      const run = await Run.start({
        engine,
        configFile: file,
        env: { ADMIN_PASSWORD: adminPassword, CI_KEY: ciKey1 },
      });
      try {
        const exercise = async (bobPassword: string, ciKey: string) => {
          const admin = await run.login(ADMIN, adminPassword);
          await run.login(BOB, bobPassword);
          await run.client(ciKey).getUser({ id: 'self' });
          await run.client(daveKey).listUsers();
          await run.client().login({ accessKey: ciKey });
          await rejectsWith(
            run.client().login({ passwordCredentials: { name: BOB, password: `${bobPassword}x` } }),
            UNAUTHENTICATED,
          );
          await rejectsWith(run.client(`${ciKey}x`).getUser({ id: 'self' }), UNAUTHENTICATED);
          return admin;
        };
        await exercise(bobPassword1, ciKey1);
        const secrets = new Map<string, string>([
          ['admin password', adminPassword],
          ['first bob password', bobPassword1],
          ['first ci key', ciKey1],
          ['first ci key secret', secretOf(ciKey1)],
          ['dave key', daveKey],
          ['dave key secret', secretOf(daveKey)],
        ]);
        const check = async () => {
          const logs = run.allLogs;
          const data = await databaseText(run.server);
          // The dumps hold what they should: names and key ids.
          assert.ok(logs.includes('applied the users and grants of the config file'));
          for (const expected of [ADMIN, BOB, CI, DAVE, keyIdOf(daveKey)]) {
            assert.ok(data.includes(expected), `${expected} is in the database dump`);
          }
          for (const [what, value] of secrets) {
            assert.ok(!logs.includes(value), `the ${what} is in the logs`);
            assert.ok(!data.includes(value), `the ${what} is in the database`);
          }
        };
        await check();

        writeFileSync(bobFile, bobPassword2);
        await run.restart({ env: { ADMIN_PASSWORD: adminPassword, CI_KEY: ciKey2 } });
        await exercise(bobPassword2, ciKey2);
        secrets.set('second bob password', bobPassword2);
        secrets.set('second ci key', ciKey2);
        secrets.set('second ci key secret', secretOf(ciKey2));
        await check();
      } finally {
        await run.close();
      }
    });
  });
}
