import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { endpoints, type OperationName } from '../../api/endpoints.js';
import type { ApiClient } from '../../api/client.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import { rawRequest } from '../../../test/http.js';
import { startAdminServer } from '../../../test/identity.js';
import { startTestIdp, type TestIdp } from '../../../test/oidc-provider.js';
import { generateSshCa } from '../../shared/ssh.js';
import type { TestServer } from '../../../test/server.js';
import { scimRoutes } from './scim.js';

// Operations that refuse in their own words (system users, setup done) rather than by role.
// Connector keys in this matrix are fresh, so bound to no destination: the operations that
// serve one destination refuse them in their own words too. A connector key creates no keys.
const OWN_REFUSALS = new Set<OperationName>([
  'setup',
  'createAccessKey',
  'createToken',
  'approveDevice',
  'getAccessFeed',
  'listGrants',
  'getDestination',
  'createSshCertificate',
  'syncSshHost',
  'createSshHostCertificate',
  'createAccessRequest',
  'reviewAccessRequest',
  'createKubeEvents',
  'createKubeRecordingChunk',
]);
const NO_RECORDING = '00000000-0000-4000-8000-000000000000';
const KUBE_EVENT = {
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: NO_RECORDING,
  stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/pods',
  verb: 'list',
  user: { username: 'someone@example.com' },
  sourceIPs: [],
  requestReceivedTimestamp: '2026-01-02T03:04:05.000000Z',
  stageTimestamp: '2026-01-02T03:04:05.000000Z',
};
const NO_PROVIDER = `prv_${'0'.repeat(24)}`;
const UNREACHABLE_PROVIDER = {
  name: 'unreachable',
  kind: 'oidc',
  url: 'http://127.0.0.1:1',
  clientID: 'x',
  clientSecret: 'y',
};

type Identity = 'anonymous' | 'user' | 'view' | 'connector' | 'admin' | 'expired';
const identities: Identity[] = ['anonymous', 'user', 'view', 'connector', 'admin', 'expired'];

interface Row {
  operation: OperationName;
  /** What the row checks, when an operation has several rows. */
  variant?: string;
  /** Builds the request (path with query, and body) for one identity. */
  request: (id: Identity) => Promise<{ path: string; body?: unknown }>;
  expect: Record<Identity, number>;
}

/** anonymous, user, view, connector, admin, expired */
function statuses(
  ...s: [number, number, number, number, number, number]
): Record<Identity, number> {
  return Object.fromEntries(identities.map((id, i) => [id, s[i]!])) as Record<Identity, number>;
}

for (const engine of engines) {
  describe(`authorization matrix [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    const userIds = {} as Record<Exclude<Identity, 'anonymous' | 'expired'>, string>;
    let otherUserId: string;
    let groupId: string;
    let grantId: string;
    let destinationId: string;
    let idp: TestIdp;
    let policyId: string;
    let other: ApiClient;

    before(async () => {
      const started = await startAdminServer(engine, { clock });
      idp = await startTestIdp();
      server = started.server;
      admin = started.admin;
      userIds.admin = started.adminId;
      userIds.user = (await admin.createUser({ name: 'plain@example.com' })).id;
      userIds.view = (await admin.createUser({ name: 'viewer@example.com' })).id;
      await admin.createGrant({ user: userIds.view, privilege: 'view', resource: 'infra' });
      const system = await admin.listUsers({ showSystem: true, name: 'connector' });
      userIds.connector = system.items[0]!.id;
      otherUserId = (await admin.createUser({ name: 'other@example.com' })).id;
      groupId = (await admin.createGroup({ name: 'others' })).id;
      grantId = (
        await admin.createGrant({ user: otherUserId, privilege: 'view', resource: 'prod' })
      ).id;
      for (const id of [userIds.user, userIds.view, userIds.admin]) {
        await admin.createGrant({ user: id, privilege: 'connect', resource: 'tok' });
        await admin.createGrant({ user: id, privilege: 'connect', resource: 'sshhost' });
      }
      await admin.createDestination({
        name: 'sshhost',
        uniqueID: 'sshhost',
        kind: 'ssh',
        ssh: { address: '127.0.0.1:22', hostKey: generateSshCa('host').publicKey },
      });
      policyId = (
        await admin.createRequestPolicy({
          name: 'matrix',
          roles: ['view'],
          resources: ['req.*'],
          requesters: {
            users: [
              'plain@example.com',
              'viewer@example.com',
              'admin@example.com',
              'other@example.com',
            ],
            groups: [],
          },
          approvers: { users: ['viewer@example.com'], groups: [] },
        })
      ).id;
      other = server.client({
        accessKey: (await admin.createAccessKey({ userID: otherUserId, expiry: '1h' })).accessKey,
      });
      destinationId = (
        await admin.createDestination({
          name: 'matrix',
          uniqueID: 'matrix',
          connection: { url: 'https://m.example.com', ca: '' },
        })
      ).id;
    });
    after(async () => {
      await server.close();
      await idp.close();
    });

    /** A fresh key for the identity, so that rows which end sessions do not affect the next. */
    async function keyFor(id: Identity): Promise<string | undefined> {
      if (id === 'anonymous') return undefined;
      if (id === 'expired') {
        const key = await admin.createAccessKey({ userID: userIds.admin, expiry: '1s' });
        clock.advance(1001);
        return key.accessKey;
      }
      return (await admin.createAccessKey({ userID: userIds[id], expiry: '1h' })).accessKey;
    }

    const fresh = {
      user: async () =>
        (await admin.createUser({ name: `victim-${clock.now()}-${Math.random()}@example.com` })).id,
      group: async () => (await admin.createGroup({ name: `group-${Math.random()}` })).id,
      grant: async () =>
        (
          await admin.createGrant({
            user: otherUserId,
            privilege: `role-${Math.random().toString(36).slice(2)}`,
            resource: 'dev',
          })
        ).id,
      key: async () => (await admin.createAccessKey({ userID: otherUserId, expiry: '1h' })).id,
      namespace: () => `req.ns${Math.random().toString(36).slice(2, 10)}`,
      policy: async () =>
        (
          await admin.createRequestPolicy({
            name: `p-${Math.random().toString(36).slice(2, 10)}`,
            roles: ['view'],
            resources: ['x'],
            approvers: { users: ['admin@example.com'], groups: [] },
            requesters: { users: [], groups: [] },
          })
        ).id,
      /** A pending request by another user. */
      request: async () =>
        (await other.createAccessRequest({ role: 'view', resource: fresh.namespace() })).id,
    };
    const POLICY_RULES = {
      roles: ['view'],
      resources: ['req.*'],
      requesters: { users: [], groups: [] },
      approvers: { users: ['viewer@example.com'], groups: [] },
    };
    const get = (path: string) => async () => ({ path });

    const rows: Row[] = [
      {
        operation: 'getVersion',
        request: get('/api/version'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'getOpenApi',
        request: get('/api/openapi.json'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'getSettings',
        request: get('/api/settings'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'getSetup',
        request: get('/api/setup'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'setup',
        variant: 'after the first admin exists',
        request: async () => ({
          path: '/api/setup',
          body: { token: 'x', name: 'new@example.com', password: 'long-enough-1' },
        }),
        expect: statuses(403, 403, 403, 403, 403, 403),
      },
      {
        operation: 'login',
        request: async () => ({
          path: '/api/login',
          body: {
            accessKey: (await admin.createAccessKey({ userID: userIds.user, expiry: '1h' }))
              .accessKey,
          },
        }),
        expect: statuses(201, 201, 201, 201, 201, 201),
      },
      {
        operation: 'logout',
        request: async () => ({ path: '/api/logout', body: {} }),
        expect: statuses(401, 204, 204, 204, 204, 401),
      },
      {
        operation: 'listUsers',
        request: get('/api/users'),
        expect: statuses(401, 403, 200, 200, 200, 401),
      },
      {
        operation: 'createUser',
        request: async () => ({
          path: '/api/users',
          body: { name: `new-${Math.random()}@example.com` },
        }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'getUser',
        variant: 'another user',
        request: async () => ({ path: `/api/users/${otherUserId}` }),
        expect: statuses(401, 403, 200, 200, 200, 401),
      },
      {
        operation: 'getUser',
        variant: 'self',
        request: get('/api/users/self'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'updateUser',
        variant: "another user's password",
        request: async () => ({
          path: `/api/users/${await fresh.user()}`,
          body: { password: 'a-new-password-1' },
        }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'deleteUser',
        request: async () => ({ path: `/api/users/${await fresh.user()}` }),
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'listGroups',
        request: get('/api/groups'),
        expect: statuses(401, 403, 200, 200, 200, 401),
      },
      {
        operation: 'listGroups',
        variant: 'own groups',
        request: get('/api/groups?userID=self'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'createGroup',
        request: async () => ({ path: '/api/groups', body: { name: `g-${Math.random()}` } }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'getGroup',
        variant: 'not a member',
        request: async () => ({ path: `/api/groups/${groupId}` }),
        expect: statuses(401, 403, 200, 200, 200, 401),
      },
      {
        operation: 'deleteGroup',
        request: async () => ({ path: `/api/groups/${await fresh.group()}` }),
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'updateGroupUsers',
        request: async () => ({
          path: `/api/groups/${await fresh.group()}/users`,
          body: { usersToAdd: [otherUserId] },
        }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'listGrants',
        request: get('/api/grants'),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'listGrants',
        variant: 'own grants',
        request: get('/api/grants?user=self&showInherited=true'),
        expect: statuses(401, 200, 200, 403, 200, 401),
      },
      {
        operation: 'listGrants',
        variant: 'another user',
        request: async () => ({ path: `/api/grants?user=${otherUserId}` }),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'getGrant',
        request: async () => ({ path: `/api/grants/${grantId}` }),
        expect: statuses(401, 403, 200, 404, 200, 401),
      },
      {
        operation: 'createGrant',
        request: async () => ({
          path: '/api/grants',
          body: {
            user: otherUserId,
            privilege: `r-${Math.random().toString(36).slice(2)}`,
            resource: 'prod',
          },
        }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'deleteGrant',
        request: async () => ({ path: `/api/grants/${await fresh.grant()}` }),
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'updateGrants',
        request: async () => ({
          path: '/api/grants',
          body: { grantsToRemove: [{ id: await fresh.grant() }] },
        }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'listAccessKeys',
        request: get('/api/access-keys'),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'listAccessKeys',
        variant: 'own keys',
        request: get('/api/access-keys?userID=self'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'createAccessKey',
        variant: 'for another user',
        request: async () => ({ path: '/api/access-keys', body: { userID: otherUserId } }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'createAccessKey',
        variant: 'for yourself',
        request: async () => ({ path: '/api/access-keys', body: {} }),
        expect: statuses(401, 201, 201, 403, 201, 401),
      },
      {
        operation: 'deleteAccessKey',
        variant: "another user's key",
        request: async () => ({ path: `/api/access-keys/${await fresh.key()}` }),
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'deleteAccessKeys',
        variant: "another user's key, by name",
        request: async () => {
          const name = `named-${Math.random().toString(36).slice(2)}`;
          await admin.createAccessKey({ userID: otherUserId, name });
          return { path: `/api/access-keys?name=${name}&userID=${otherUserId}` };
        },
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'listAudit',
        request: get('/api/audit'),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'listDestinations',
        request: get('/api/destinations'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'getDestination',
        variant: 'one the caller cannot reach',
        request: async () => ({ path: `/api/destinations/${destinationId}` }),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'createDestination',
        request: async () => {
          const name = `d${Math.random().toString(36).slice(2, 10)}`;
          return {
            path: '/api/destinations',
            body: { name, uniqueID: name, connection: { url: 'https://d.example.com', ca: '' } },
          };
        },
        expect: statuses(401, 403, 403, 201, 201, 401),
      },
      {
        operation: 'updateDestination',
        request: async () => {
          const name = `u${Math.random().toString(36).slice(2, 10)}`;
          const connection = { url: 'https://u.example.com', ca: '' };
          const { id } = await admin.createDestination({ name, uniqueID: name, connection });
          return {
            path: `/api/destinations/${id}`,
            body: { name, uniqueID: name, connection, version: '2' },
          };
        },
        expect: statuses(401, 403, 403, 200, 200, 401),
      },
      {
        operation: 'deleteDestination',
        request: async () => {
          const name = `x${Math.random().toString(36).slice(2, 10)}`;
          const { id } = await admin.createDestination({
            name,
            uniqueID: name,
            connection: { url: 'https://x.example.com', ca: '' },
          });
          return { path: `/api/destinations/${id}` };
        },
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'getAccessFeed',
        variant: 'a connector key not bound to that destination',
        request: get('/api/feed?destination=matrix'),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'createToken',
        variant: 'a destination the caller has a grant on',
        request: async () => ({ path: '/api/tokens', body: { destination: 'tok' } }),
        expect: statuses(401, 201, 201, 403, 201, 401),
      },
      {
        operation: 'getJwks',
        request: get('/.well-known/jwks.json'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'rotateSigningKey',
        request: async () => ({ path: '/api/signing-keys/rotate', body: {} }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'createSshCertificate',
        variant: 'a host the caller has a grant on',
        request: async () => ({
          path: '/api/ssh/certificates',
          body: { destination: 'sshhost', publicKey: generateSshCa('me').publicKey },
        }),
        expect: statuses(401, 201, 201, 403, 201, 401),
      },
      {
        operation: 'syncSshHost',
        request: async () => ({ path: '/api/ssh/hosts/sync', body: { destination: 'sshhost' } }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'createSshHostCertificate',
        request: async () => ({
          path: '/api/ssh/host-certificates',
          body: { destination: 'sshhost' },
        }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'rotateSshAuthority',
        request: async () => ({ path: '/api/ssh/authorities/rotate', body: { purpose: 'user' } }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'listProviders',
        request: get('/api/providers'),
        expect: statuses(200, 200, 200, 200, 200, 200),
      },
      {
        operation: 'getProvider',
        variant: 'one that does not exist',
        request: get(`/api/providers/${NO_PROVIDER}`),
        expect: statuses(401, 403, 403, 403, 404, 401),
      },
      {
        operation: 'createProvider',
        variant: 'an issuer that does not answer',
        request: async () => ({ path: '/api/providers', body: UNREACHABLE_PROVIDER }),
        expect: statuses(401, 403, 403, 403, 400, 401),
      },
      {
        operation: 'updateProvider',
        variant: 'an issuer that does not answer',
        request: async () => ({
          path: `/api/providers/${NO_PROVIDER}`,
          body: UNREACHABLE_PROVIDER,
        }),
        expect: statuses(401, 403, 403, 403, 400, 401),
      },
      {
        operation: 'deleteProvider',
        variant: 'one that does not exist',
        request: async () => ({ path: `/api/providers/${NO_PROVIDER}` }),
        expect: statuses(401, 403, 403, 403, 404, 401),
      },
      {
        operation: 'startProviderLogin',
        variant: 'a provider that does not exist',
        request: async () => ({
          path: `/api/providers/${NO_PROVIDER}/authorize`,
          body: { redirectURL: 'http://127.0.0.1:5000/callback' },
        }),
        expect: statuses(404, 404, 404, 404, 404, 404),
      },
      {
        operation: 'createDeviceRequest',
        request: async () => ({ path: '/api/device', body: {} }),
        expect: statuses(201, 201, 201, 201, 201, 201),
      },
      {
        operation: 'getDeviceStatus',
        variant: 'an unknown device code',
        request: async () => ({ path: '/api/device/status', body: { deviceCode: 'unknown' } }),
        expect: statuses(410, 410, 410, 410, 410, 410),
      },
      {
        operation: 'approveDevice',
        variant: 'an unknown code',
        request: async () => ({ path: '/api/device/approve', body: { userCode: 'BBBB-BBBB' } }),
        expect: statuses(401, 404, 404, 403, 404, 401),
      },
      {
        operation: 'createScimKey',
        variant: 'a provider that does not exist',
        request: async () => ({ path: `/api/providers/${NO_PROVIDER}/scim-key`, body: {} }),
        expect: statuses(401, 403, 403, 403, 404, 401),
      },
      {
        operation: 'explainAccess',
        variant: 'self',
        request: get('/api/explain?user=self&destination=tok'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'explainAccess',
        variant: 'another user',
        request: get('/api/explain?user=other%40example.com&destination=tok'),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'listRequestPolicies',
        request: get('/api/request-policies'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'createRequestPolicy',
        request: async () => ({
          path: '/api/request-policies',
          body: { name: `p-${Math.random().toString(36).slice(2, 10)}`, ...POLICY_RULES },
        }),
        expect: statuses(401, 403, 403, 403, 201, 401),
      },
      {
        operation: 'updateRequestPolicy',
        request: async () => ({
          path: `/api/request-policies/${policyId}`,
          body: {
            ...POLICY_RULES,
            requesters: {
              users: [
                'plain@example.com',
                'viewer@example.com',
                'admin@example.com',
                'other@example.com',
              ],
              groups: [],
            },
          },
        }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'deleteRequestPolicy',
        request: async () => ({ path: `/api/request-policies/${await fresh.policy()}` }),
        expect: statuses(401, 403, 403, 403, 204, 401),
      },
      {
        operation: 'listAccessRequests',
        variant: 'everyone',
        request: get('/api/access-requests'),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'listAccessRequests',
        variant: 'mine',
        request: get('/api/access-requests?mine=true'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'getAccessRequest',
        variant: "another user's, reviewed by viewer",
        request: async () => ({ path: `/api/access-requests/${await fresh.request()}` }),
        expect: statuses(401, 403, 200, 403, 200, 401),
      },
      {
        operation: 'createAccessRequest',
        request: async () => ({
          path: '/api/access-requests',
          body: { role: 'view', resource: fresh.namespace() },
        }),
        expect: statuses(401, 201, 201, 403, 201, 401),
      },
      {
        operation: 'reviewAccessRequest',
        variant: "another user's, viewer approves",
        request: async () => ({
          path: `/api/access-requests/${await fresh.request()}/reviews`,
          body: { decision: 'approve' },
        }),
        expect: statuses(401, 403, 200, 403, 403, 401),
      },
      {
        operation: 'cancelAccessRequest',
        variant: "another user's",
        request: async () => ({
          path: `/api/access-requests/${await fresh.request()}/cancel`,
          body: {},
        }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'verifyAudit',
        request: get('/api/audit/verify'),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'exportAudit',
        request: get('/api/audit/export?format=csv'),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'createKubeEvents',
        variant: 'a destination the connector key is not bound to',
        request: async () => ({
          path: '/api/destinations/matrix/kube-events',
          body: { events: [KUBE_EVENT] },
        }),
        expect: statuses(401, 403, 403, 403, 403, 401),
      },
      {
        operation: 'createKubeRecordingChunk',
        variant: 'a destination the connector key is not bound to',
        request: async () => ({
          path: '/api/destinations/matrix/recordings',
          body: {
            id: NO_RECORDING,
            seq: 0,
            data: '',
            recording: {
              user: { username: 'someone@example.com' },
              namespace: 'default',
              pod: 'p',
              container: 'c',
              command: ['sh'],
              subresource: 'exec',
              stdinRecorded: false,
              startedAt: '2026-01-02T03:04:05.000Z',
            },
          },
        }),
        expect: statuses(401, 403, 403, 403, 403, 401),
      },
      {
        operation: 'listKubeEvents',
        variant: 'everyone signed in sees at least their own',
        request: get('/api/kube-events'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'listKubeEvents',
        variant: "another user's",
        request: async () => ({ path: `/api/kube-events?user=${otherUserId}` }),
        expect: statuses(401, 403, 403, 403, 200, 401),
      },
      {
        operation: 'listKubeRecordings',
        variant: 'everyone signed in sees at least their own',
        request: get('/api/recordings'),
        expect: statuses(401, 200, 200, 200, 200, 401),
      },
      {
        operation: 'getKubeRecording',
        variant: 'one that does not exist',
        request: get(`/api/recordings/${NO_RECORDING}`),
        expect: statuses(401, 403, 403, 403, 404, 401),
      },
    ];

    // Scopes are checked in one place, before any query: one engine shows it (the SCIM data
    // paths run on both in scim.test.ts).
    if (engine === 'sqlite') {
      it('refuses a SCIM token every operation that takes a credential', async () => {
        const provider = await admin.createScimKey({ id: await anyProvider() });
        for (const row of rows) {
          if (row.expect.anonymous !== 401) continue;
          const e = endpoints[row.operation];
          const { path, body } = await row.request('admin');
          const res = await rawRequest(`${server.url}${path}`, {
            method: e.method,
            ca: server.ca,
            headers: {
              authorization: `Bearer ${provider.accessKey}`,
              ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          assert.equal(res.status, 403, `${row.operation}: ${res.body}`);
          assert.match(res.json<{ message: string }>().message, /^a SCIM token can only provision/);
        }
      });

      it('admits only a SCIM token to the SCIM endpoints', async () => {
        // One key each: a SCIM endpoint refuses these before doing anything, so none ends.
        const keys: Record<string, string | undefined> = {
          scim: (await admin.createScimKey({ id: await anyProvider() })).accessKey,
        };
        for (const id of identities) keys[id] = await keyFor(id);
        for (const route of scimRoutes) {
          const url = route.url.replace(':id', 'usr_000000000000000000000000');
          const seen: Record<string, number> = {};
          for (const id of [...identities, 'scim'] as const) {
            const key = keys[id];
            const res = await rawRequest(`${server.url}/api/scim/v2${url}`, {
              method: route.method,
              ca: server.ca,
              headers: {
                ...(key ? { authorization: `Bearer ${key}` } : {}),
                ...(route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH'
                  ? { 'content-type': 'application/scim+json' }
                  : {}),
              },
              body: ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : undefined,
            });
            seen[id] = res.status;
          }
          const byScim = seen.scim!;
          assert.ok(byScim !== 401 && byScim !== 403, `${route.name}: ${byScim}`);
          assert.deepEqual(
            seen,
            { ...statuses(401, 403, 403, 403, 403, 401), scim: byScim },
            route.name,
          );
        }
      });
    }

    let providerId: string | undefined;
    /** A provider for SCIM tokens (creating one needs a reachable issuer: the server's own). */
    async function anyProvider(): Promise<string> {
      providerId ??= (
        await admin.createProvider({
          name: 'scim-matrix',
          kind: 'oidc',
          url: idp.issuer,
          clientID: idp.clientId,
          clientSecret: idp.clientSecret,
        })
      ).id;
      return providerId;
    }

    it('covers every operation', () => {
      const covered = new Set(rows.map((r) => r.operation));
      assert.deepEqual(
        Object.keys(endpoints).filter((name) => !covered.has(name as OperationName)),
        [],
      );
    });

    for (const row of rows) {
      const e = endpoints[row.operation];
      it(`${row.operation}${row.variant ? ` (${row.variant})` : ''}`, async () => {
        const seen: Partial<Record<Identity, number>> = {};
        for (const id of identities) {
          const key = await keyFor(id);
          const { path, body } = await row.request(id);
          const res = await rawRequest(`${server.url}${path}`, {
            method: e.method,
            ca: server.ca,
            headers: {
              ...(key ? { authorization: `Bearer ${key}` } : {}),
              ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          seen[id] = res.status;
          if (res.status === 401) {
            assert.deepEqual(res.json(), { code: 'unauthenticated', message: 'unauthenticated' });
          }
          if (res.status === 403 && !OWN_REFUSALS.has(row.operation)) {
            assert.match(
              res.json<{ message: string }>().message,
              /^you do not have permission to .+, requires role /,
            );
          }
        }
        assert.deepEqual(seen, row.expect);
      });
    }
  });
}
