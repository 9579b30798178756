import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { engines } from '../../../test/engines.js';
import { rawRequest, type RawResponse } from '../../../test/http.js';
import { ADMIN, startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { dashboardLogin } from '../../../test/provider-login.js';
import type { TestServer } from '../../../test/server.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

interface Step {
  step: string;
  method: string;
  path: string;
  body?: unknown;
  status: number;
  save?: 'user' | 'group';
}

function fixture(name: string): Step[] {
  return JSON.parse(
    readFileSync(path.join(import.meta.dirname, 'testdata', 'scim', `${name}.json`), 'utf8'),
  ) as Step[];
}

type Json = Record<string, unknown>;

for (const engine of engines) {
  describe(`SCIM 2.0 [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    let idp: TestIdp;
    const providers = {} as Record<'okta' | 'entra', { id: string; token: string }>;

    /** A SCIM request as an identity provider sends it. */
    function scim(
      token: string | undefined,
      method: string,
      p: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<RawResponse> {
      return rawRequest(`${server.url}/api/scim/v2${p}`, {
        method,
        ca: server.ca,
        headers: {
          ...(token !== undefined && { authorization: `Bearer ${token}` }),
          ...(body !== undefined && { 'content-type': 'application/scim+json; charset=utf-8' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }

    /** Replays a fixture; returns each step's answer by step name, and the saved ids. */
    async function replay(
      token: string,
      steps: Step[],
      check: (step: string, res: RawResponse, ids: Record<string, string>) => Promise<void>,
    ): Promise<void> {
      const ids: Record<string, string> = {};
      const fill = (text: string) =>
        text.replace(/\{(user|group)\}/g, (_m, k: string) => ids[k] ?? `{${k}}`);
      for (const s of steps) {
        const body = s.body === undefined ? undefined : JSON.parse(fill(JSON.stringify(s.body)));
        const res = await scim(token, s.method, fill(s.path), body);
        assert.equal(res.status, s.status, `${s.step}: ${res.body}`);
        if (res.status !== 204)
          assert.match(String(res.headers['content-type']), /^application\/scim\+json/);
        if (s.save) ids[s.save] = res.json<Json>().id as string;
        await check(s.step, res, ids);
      }
    }

    async function memberNames(groupName: string): Promise<string[]> {
      const [group] = (await admin.listGroups({ name: groupName })).items;
      if (!group) return [];
      return (await admin.listUsers({ group: group.id })).items.map((u) => u.name);
    }

    before(async () => {
      ({ server, admin, adminKey } = await startAdminServer(engine));
      idp = await startTestIdp({ redirectUris: [`${server.url}/login/callback`] });
      for (const name of ['okta', 'entra'] as const) {
        const p = await admin.createProvider({
          name,
          kind: 'oidc',
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
        });
        const key = await admin.createScimKey({ id: p.id });
        assert.equal(key.url, `${server.url}/api/scim/v2`);
        providers[name] = { id: p.id, token: key.accessKey };
      }
    });
    after(async () => {
      await server?.close();
      await idp?.close();
    });

    it('replays Okta’s requests in order: create, lookup, update, group push, deactivate, delete', async () => {
      idp.accounts.set('jane', { email: 'jane.doe@example.com', groups: [] });
      let session: string | undefined;
      await replay(providers.okta.token, fixture('okta'), async (step, res, ids) => {
        const body = res.status === 204 ? {} : res.json<Json>();
        switch (step) {
          case 'lookup before create':
            assert.deepEqual(body, {
              schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
              totalResults: 0,
              startIndex: 1,
              itemsPerPage: 0,
              Resources: [],
            });
            break;
          case 'create': {
            assert.deepEqual(body.schemas, [USER]);
            assert.equal(body.userName, 'Jane.Doe@example.com');
            assert.equal(body.active, true);
            assert.equal(body.externalId, '00u1ab2cd3EF4gh5ij6k');
            assert.equal(body.password, undefined, 'a password is never kept');
            const meta = body.meta as Json;
            assert.equal(meta.location, `${server.url}/api/scim/v2/Users/${ids.user}`);
            assert.equal(res.headers.location, meta.location);
            assert.equal(res.headers.etag, 'W/"1"');
            const [user] = (await admin.listUsers({ name: 'jane.doe@example.com' })).items;
            assert.equal(user?.id, ids.user, 'an Infra user, named in lower case');
            break;
          }
          case 'lookup after create':
            // userName compares without case.
            assert.equal(body.totalResults, 1);
            assert.equal((body.Resources as Json[])[0]!.id, ids.user);
            break;
          case 'update profile':
            assert.deepEqual(body.name, { givenName: 'Jane', familyName: 'Doe-Smith' });
            assert.equal((body.meta as Json).version, 'W/"2"');
            break;
          case 'group push: add member':
            assert.deepEqual(await memberNames('okta-engineering'), ['jane.doe@example.com']);
            // She signs in through the provider: the SCIM user is the one she becomes. Her
            // (empty) groups claim leaves the memberships SCIM gave alone (next step).
            session = (await (await dashboardLogin(server, idp, providers.okta.id, 'jane')).login())
              .accessKey;
            assert.equal(
              (await server.client({ accessKey: session }).getUser({ id: 'self' })).id,
              ids.user,
            );
            break;
          case 'group push: rename':
            assert.equal(body.displayName, 'okta-eng');
            assert.deepEqual(await memberNames('okta-eng'), ['jane.doe@example.com']);
            break;
          case 'deactivate': {
            assert.equal(body.active, false);
            await assert.rejects(
              server.client({ accessKey: session }).getUser({ id: 'self' }),
              (err: unknown) => err instanceof ApiError && err.status === 401,
            );
            const login = await dashboardLogin(server, idp, providers.okta.id, 'jane');
            await assert.rejects(
              login.login(),
              (err: unknown) =>
                err instanceof ApiError && err.status === 401 && err.code === 'login_deactivated',
            );
            break;
          }
          case 'reactivate': {
            assert.equal(body.active, true);
            const again = await (
              await dashboardLogin(server, idp, providers.okta.id, 'jane')
            ).login();
            assert.equal(again.userID, ids.user);
            break;
          }
          case 'group push: remove member':
            assert.deepEqual(body.members, []);
            assert.deepEqual(await memberNames('okta-eng'), []);
            break;
          case 'group push: delete':
            assert.equal((await admin.listGroups({ name: 'okta-eng' })).items.length, 0);
            break;
          case 'delete':
            assert.equal((await admin.listUsers({ name: 'jane.doe@example.com' })).items.length, 0);
            break;
        }
      });
    });

    it('replays Entra ID’s requests in order, capitalised ops and "False" included', async () => {
      await replay(providers.entra.token, fixture('entra'), async (step, res, ids) => {
        const body = res.status === 204 ? {} : res.json<Json>();
        switch (step) {
          case 'create':
            assert.deepEqual(body.schemas, [
              USER,
              'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
            ]);
            break;
          case 'lookup by externalId':
            assert.equal(body.totalResults, 1);
            break;
          case 'update attributes':
            assert.deepEqual(body.emails, [
              { primary: true, type: 'work', value: 'ada.tester@contoso.com' },
            ]);
            assert.equal((body.name as Json).familyName, 'Tester-Lovelace');
            assert.deepEqual(body['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'], {
              employeeNumber: '1001',
              department: 'Platform',
              costCenter: 'CC-42',
            });
            break;
          case 'group push: lookup':
            assert.equal(body.totalResults, 0);
            break;
          case 'group push: add member':
          case 'group push: add member again':
            assert.deepEqual(await memberNames('entra-platform'), ['test_user_5f6a@contoso.com']);
            break;
          case 'group push: remove member':
            assert.deepEqual(await memberNames('entra-platform'), []);
            break;
          case 'deactivate': {
            assert.equal(body.active, false, 'the string "False" is false');
            const user = await scim(providers.entra.token, 'GET', `/Users/${ids.user}`);
            assert.equal(user.json<Json>().active, false);
            break;
          }
          case 'delete':
            assert.equal(
              (await admin.listUsers({ name: 'test_user_5f6a@contoso.com' })).items.length,
              0,
            );
            assert.deepEqual(await memberNames('entra-platform'), []);
            break;
        }
      });
    });

    it('answers errors in SCIM’s shape, with no internals', async () => {
      const t = providers.okta.token;
      const cases: Array<[RawResponse, number, string | undefined, RegExp]> = [
        [
          await scim(t, 'GET', '/Users?filter=userName%20eq'),
          400,
          'invalidFilter',
          /cannot be parsed/,
        ],
        [await scim(t, 'GET', '/Users/usr_000000000000000000000000'), 404, undefined, /no user/],
        [
          await scim(t, 'POST', '/Users', { userName: 'not an email' }),
          400,
          'invalidValue',
          /email/,
        ],
        [
          await scim(t, 'POST', '/Users', { userName: 'x@example.com', active: 'maybe' }),
          400,
          'invalidValue',
          /active/,
        ],
        [
          await scim(t, 'POST', '/Users', { userName: 'admin@example.com' }),
          409,
          'uniqueness',
          /already exists/,
        ],
        [
          await scim(t, 'POST', '/Groups', { displayName: 'system:masters' }),
          400,
          'invalidValue',
          /system:/,
        ],
        [await scim(t, 'GET', '/Nothing'), 404, undefined, /no SCIM endpoint/],
        [await scim(undefined, 'GET', '/Users'), 401, undefined, /^unauthenticated$/],
        [
          await scim('ABCDEFGHIJ.wrongwrongwrongwrongwrong', 'GET', '/Users'),
          401,
          undefined,
          /^unauthenticated$/,
        ],
      ];
      const created = await scim(t, 'POST', '/Users', { userName: 'errors@example.com' });
      const id = created.json<Json>().id as string;
      cases.push(
        [
          await scim(t, 'PATCH', `/Users/${id}`, {
            schemas: [PATCH],
            Operations: [{ op: 'merge', path: 'x' }],
          }),
          400,
          'invalidSyntax',
          /not add, replace or remove/,
        ],
        [
          await scim(t, 'PATCH', `/Users/${id}`, { Operations: [] }),
          400,
          'invalidSyntax',
          /PatchOp/,
        ],
        [
          await scim(
            t,
            'PUT',
            `/Users/${id}`,
            { userName: 'errors@example.com', displayName: 'E' },
            { 'if-match': 'W/"7"' },
          ),
          412,
          undefined,
          /changed since/,
        ],
        [
          await rawRequest(`${server.url}/api/scim/v2/Users`, {
            method: 'POST',
            ca: server.ca,
            headers: { authorization: `Bearer ${t}`, 'content-type': 'application/scim+json' },
            body: '{"userName":',
          }),
          400,
          undefined,
          /not valid JSON/,
        ],
      );
      for (const [res, status, scimType, detail] of cases) {
        const body = res.json<Json>();
        assert.match(String(res.headers['content-type']), /^application\/scim\+json/);
        assert.deepEqual(
          Object.keys(body).sort(),
          ['detail', 'schemas', 'status', ...(scimType ? ['scimType'] : [])].sort(),
          res.body,
        );
        assert.deepEqual(body.schemas, [ERROR]);
        assert.equal(body.status, String(status), res.body);
        assert.equal(res.status, status);
        assert.equal(body.scimType, scimType);
        assert.match(String(body.detail), detail);
        assert.doesNotMatch(res.body, /at .+\.ts:\d+|stack/);
      }
    });

    it('versions resources: ETag, If-Match (412) and If-None-Match (304)', async () => {
      const t = providers.okta.token;
      const created = await scim(t, 'POST', '/Groups', { displayName: 'etag-group' });
      const id = created.json<Json>().id as string;
      assert.equal(created.headers.etag, 'W/"1"');
      assert.equal(
        (await scim(t, 'GET', `/Groups/${id}`, undefined, { 'if-none-match': 'W/"1"' })).status,
        304,
      );
      const renamed = await scim(
        t,
        'PUT',
        `/Groups/${id}`,
        { displayName: 'etag-group-2' },
        { 'if-match': 'W/"1"' },
      );
      assert.equal(renamed.status, 200, renamed.body);
      assert.equal(renamed.headers.etag, 'W/"2"');
      const stale = await scim(
        t,
        'PATCH',
        `/Groups/${id}`,
        { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'lost' }] },
        { 'if-match': 'W/"1"' },
      );
      assert.equal(stale.status, 412);
      assert.equal(
        (await scim(t, 'DELETE', `/Groups/${id}`, undefined, { 'if-match': 'W/"1"' })).status,
        412,
      );
      assert.equal(
        (await scim(t, 'DELETE', `/Groups/${id}`, undefined, { 'if-match': 'W/"2"' })).status,
        204,
      );
    });

    it('pages lists with startIndex and count, and filters what no index answers', async () => {
      const t = providers.entra.token;
      for (const n of [1, 2, 3]) {
        const res = await scim(t, 'POST', '/Users', {
          userName: `page${n}@example.com`,
          externalId: `p${n}`,
          displayName: `Page ${n}`,
        });
        assert.equal(res.status, 201, res.body);
      }
      const page = (await scim(t, 'GET', '/Users?startIndex=2&count=1')).json<Json>();
      assert.equal(page.totalResults, 3);
      assert.equal(page.startIndex, 2);
      assert.equal(page.itemsPerPage, 1);
      assert.equal((page.Resources as Json[])[0]!.userName, 'page2@example.com');
      const filtered = (
        await scim(
          t,
          'GET',
          `/Users?filter=${encodeURIComponent('userName eq "PAGE3@example.com" or displayName eq "Page 1"')}`,
        )
      ).json<Json>();
      assert.deepEqual((filtered.Resources as Json[]).map((r) => r.userName).sort(), [
        'page1@example.com',
        'page3@example.com',
      ]);
      const none = (await scim(t, 'GET', '/Users?count=0')).json<Json>();
      assert.equal(none.totalResults, 3);
      assert.deepEqual(none.Resources, []);
      // An attribute nobody has matches nobody, whatever its name (`constructor` once listed all).
      for (const attribute of ['constructor', 'nickName'])
        for (const p of ['/Users', '/Groups']) {
          const res = await scim(
            t,
            'GET',
            `${p}?filter=${encodeURIComponent(`${attribute} eq "x"`)}`,
          );
          assert.equal(res.status, 200, res.body);
          assert.equal(res.json<Json>().totalResults, 0, `${p} ${attribute}`);
        }
    });

    it('serves the discovery documents', async () => {
      const t = providers.okta.token;
      const config = (await scim(t, 'GET', '/ServiceProviderConfig')).json<Json>();
      assert.deepEqual(config.patch, { supported: true });
      assert.deepEqual(config.etag, { supported: true });
      const types = (await scim(t, 'GET', '/ResourceTypes')).json<Json>();
      assert.deepEqual(
        (types.Resources as Json[]).map((r) => r.endpoint),
        ['/Users', '/Groups'],
      );
      const schemas = (await scim(t, 'GET', '/Schemas')).json<Json>();
      assert.deepEqual((schemas.Resources as Json[]).map((r) => r.id).slice(0, 2), [USER, GROUP]);
      assert.equal((await scim(t, 'GET', `/Schemas/${GROUP}`)).json<Json>().name, 'Group');
    });

    it('keeps each provider to its own users and groups, and never clobbers other memberships', async () => {
      const okta = providers.okta.token;
      const entra = providers.entra.token;
      const oktaUser = (
        await scim(okta, 'POST', '/Users', { userName: 'own@example.com' })
      ).json<Json>().id as string;
      const entraUser = (
        await scim(entra, 'POST', '/Users', { userName: 'theirs@example.com' })
      ).json<Json>().id as string;
      const local = (await admin.createUser({ name: 'local@example.com' })).id;

      // Another provider's user, or a local one: not found, not changeable, not claimable.
      assert.equal((await scim(okta, 'GET', `/Users/${entraUser}`)).status, 404);
      assert.equal(
        (
          await scim(okta, 'PATCH', `/Users/${entraUser}`, {
            schemas: [PATCH],
            Operations: [{ op: 'replace', value: { active: false } }],
          })
        ).status,
        404,
      );
      assert.equal((await scim(okta, 'DELETE', `/Users/${local}`)).status, 404);
      assert.equal(
        (
          await scim(okta, 'GET', '/Users?filter=userName%20eq%20%22theirs%40example.com%22')
        ).json<Json>().totalResults,
        0,
      );
      assert.equal(
        (await scim(okta, 'POST', '/Users', { userName: 'theirs@example.com' })).status,
        409,
      );
      assert.equal(
        (await scim(okta, 'POST', '/Users', { userName: 'local@example.com' })).status,
        409,
      );
      const foreignMember = await scim(okta, 'POST', '/Groups', {
        displayName: 'mixed',
        members: [{ value: entraUser }, { value: local }],
      });
      assert.equal(foreignMember.status, 400);
      assert.equal(
        (await admin.listGroups({ name: 'mixed' })).items.length,
        0,
        'nothing was created',
      );

      // An admin's member and Okta's member of one group: Okta's changes touch only its own.
      const group = (
        await scim(okta, 'POST', '/Groups', {
          displayName: 'shared',
          members: [{ value: oktaUser }],
        })
      ).json<Json>().id as string;
      await admin.updateGroupUsers({ id: group, usersToAdd: [local], usersToRemove: [] });
      const listed = (await scim(okta, 'GET', `/Groups/${group}`)).json<Json>();
      assert.deepEqual(
        (listed.members as Json[]).map((m) => m.value),
        [oktaUser],
        'only its own members show',
      );
      assert.equal((await scim(entra, 'GET', `/Groups/${group}`)).status, 404);
      assert.equal((await scim(entra, 'POST', '/Groups', { displayName: 'shared' })).status, 409);
      const emptied = await scim(okta, 'PATCH', `/Groups/${group}`, {
        schemas: [PATCH],
        Operations: [{ op: 'replace', path: 'members', value: [] }],
      });
      assert.equal(emptied.status, 200, emptied.body);
      assert.deepEqual(await memberNames('shared'), ['local@example.com']);
      // Deleting it lets it go: the group stays for the admin's member.
      assert.equal((await scim(okta, 'DELETE', `/Groups/${group}`)).status, 204);
      assert.deepEqual(await memberNames('shared'), ['local@example.com']);

      // An existing group of that name is taken over, its grants and members kept.
      const ops = await admin.createGroup({ name: 'ops' });
      await admin.updateGroupUsers({ id: ops.id, usersToAdd: [local], usersToRemove: [] });
      const took = await scim(okta, 'POST', '/Groups', {
        displayName: 'ops',
        members: [{ value: oktaUser }],
      });
      assert.equal(took.status, 201, took.body);
      assert.equal(took.json<Json>().id, ops.id);
      assert.deepEqual((await memberNames('ops')).sort(), ['local@example.com', 'own@example.com']);
    });

    it('takes over who signed in through the provider, and keeps on deletion who has another way in', async () => {
      const t = providers.okta.token;
      idp.accounts.set('carol', { email: 'carol@example.com', groups: [] });
      const carol = await (await dashboardLogin(server, idp, providers.okta.id, 'carol')).login();
      const adopted = await scim(t, 'POST', '/Users', { userName: 'Carol@example.com' });
      assert.equal(adopted.status, 201, adopted.body);
      assert.equal(adopted.json<Json>().id, carol.userID);
      // The other provider cannot: she is okta's.
      assert.equal(
        (await scim(providers.entra.token, 'POST', '/Users', { userName: 'carol@example.com' }))
          .status,
        409,
      );

      // An admin gave her a password: deprovisioning ends her sessions but keeps her.
      await admin.updateUser({ id: carol.userID, password: 'a-password-of-carol' });
      assert.equal((await scim(t, 'DELETE', `/Users/${carol.userID}`)).status, 204);
      await assert.rejects(
        server.client({ accessKey: carol.accessKey }).getUser({ id: 'self' }),
        (err: unknown) => err instanceof ApiError && err.status === 401,
      );
      assert.equal((await admin.getUser({ id: carol.userID })).name, 'carol@example.com');
      assert.equal((await scim(t, 'GET', `/Users/${carol.userID}`)).status, 404);
    });

    it('admits SCIM tokens to SCIM only, and admins’ keys not to SCIM', async () => {
      const token = providers.okta.token;
      const client = server.client({ accessKey: token });
      for (const call of [
        () => client.listUsers({}),
        () => client.getUser({ id: 'self' }),
        () => client.createAccessKey({ name: 'escape' }),
        () => client.listProviders({}).then(() => client.getProvider({ id: providers.okta.id })),
        () => client.createScimKey({ id: providers.entra.id }),
      ]) {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof ApiError);
          assert.equal(err.status, 403);
          assert.match(err.message, /SCIM token can only provision/);
          return true;
        });
      }
      const asAdmin = await scim(adminKey, 'GET', '/Users');
      assert.equal(asAdmin.status, 403);
      assert.match(asAdmin.json<Json>().detail as string, /take a provider’s SCIM token/);
      // The session cookie is no SCIM credential either.
      const cookie = await rawRequest(`${server.url}/api/scim/v2/Users`, {
        ca: server.ca,
        headers: { cookie: `__Host-infra-session=${adminKey}` },
      });
      assert.equal(cookie.status, 401);
    });

    it('ends a provider’s SCIM tokens and memberships when the provider is removed', async () => {
      const p = await admin.createProvider({
        name: 'temporary',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
      });
      const { accessKey } = await admin.createScimKey({ id: p.id, expiry: '24h' });
      const user = (
        await scim(accessKey, 'POST', '/Users', { userName: 'temp@example.com' })
      ).json<Json>().id as string;
      assert.equal(
        (
          await scim(accessKey, 'POST', '/Groups', {
            displayName: 'temp-group',
            members: [{ value: user }],
          })
        ).status,
        201,
      );
      await admin.deleteProvider({ id: p.id });
      assert.equal((await scim(accessKey, 'GET', '/Users')).status, 401);
      assert.deepEqual(await memberNames('temp-group'), []);
    });

    it('keeps whom a removed provider had deactivated from signing in, until an admin removes them', async () => {
      const p = await admin.createProvider({
        name: 'leaving',
        kind: 'oidc',
        url: idp.issuer,
        clientID: idp.clientId,
        clientSecret: idp.clientSecret,
      });
      const { accessKey } = await admin.createScimKey({ id: p.id, expiry: '24h' });
      const ids: string[] = [];
      for (const userName of ['left@example.com', 'stays@example.com'])
        ids.push((await scim(accessKey, 'POST', '/Users', { userName })).json<Json>().id as string);
      const [left, stays] = ids as [string, string];
      const deactivate = await scim(accessKey, 'PATCH', `/Users/${left}`, {
        schemas: [PATCH],
        Operations: [{ op: 'replace', value: { active: false } }],
      });
      assert.equal(deactivate.status, 200, deactivate.body);
      // Admins see who is deactivated, and by which provider, before and after its removal.
      const deactivatedBy = async () =>
        (await admin.listUsers({ ids })).items.map((u) => [u.name, u.deactivatedBy]).sort();
      const expected = [
        ['left@example.com', 'leaving'],
        ['stays@example.com', null],
      ];
      assert.deepEqual(await deactivatedBy(), expected);
      // An admin gives both a password, then removes the provider.
      for (const id of ids) await admin.updateUser({ id, password: `${id}-password` });
      await admin.deleteProvider({ id: p.id });
      assert.deepEqual(await deactivatedBy(), expected);

      const login = (name: string, id: string) =>
        server.client().login({ passwordCredentials: { name, password: `${id}-password` } });
      await assert.rejects(
        login('left@example.com', left),
        (err: unknown) =>
          err instanceof ApiError && err.status === 401 && err.code === 'login_deactivated',
      );
      await assert.rejects(
        admin.createAccessKey({ userID: left, expiry: '1h' }),
        (err: unknown) =>
          err instanceof ApiError &&
          err.status === 400 &&
          /deactivated by provider leaving, since removed; remove the user/.test(err.message),
      );
      // Whom it had not deactivated is unaffected.
      assert.equal((await login('stays@example.com', stays)).userID, stays);
      // Removing the user is the way out; the name can then be used again.
      await admin.deleteUser({ id: left });
      const again = await admin.createUser({ name: 'left@example.com' });
      assert.equal(
        (
          await server.client().login({
            passwordCredentials: { name: 'left@example.com', password: again.oneTimePassword },
          })
        ).userID,
        again.id,
      );
    });

    // Last: okta keeps the config file's admin.
    it('keeps the name the config file gives a user it took over, as it does a group', async () => {
      const t = providers.okta.token;
      idp.accounts.set('admin', { email: ADMIN.name, groups: [] });
      await (await dashboardLogin(server, idp, providers.okta.id, 'admin')).login();
      const taken = await scim(t, 'POST', '/Users', { userName: ADMIN.name });
      assert.equal(taken.status, 201, taken.body);
      const id = taken.json<Json>().id as string;
      const renamed = await scim(t, 'PUT', `/Users/${id}`, { userName: 'boss@example.com' });
      assert.equal(renamed.status, 400, renamed.body);
      assert.deepEqual(renamed.json<Json>(), {
        schemas: [ERROR],
        status: '400',
        scimType: 'mutability',
        detail: `user ${ADMIN.name} is declared in the server's config file; it cannot be renamed`,
      });
      assert.equal((await admin.getUser({ id })).name, ADMIN.name);
      // What the file does not hold still changes.
      const updated = await scim(t, 'PUT', `/Users/${id}`, {
        userName: ADMIN.name.toUpperCase(),
        displayName: 'The Admin',
      });
      assert.equal(updated.status, 200, updated.body);
      assert.equal(updated.json<Json>().displayName, 'The Admin');
    });
  });
}
