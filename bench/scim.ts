/**
 * SCIM provisioning as an identity provider drives it, against an in-process server on SQLite:
 *
 *   npx tsx bench/scim.ts [users=2000]
 *
 * Prints the latency of Okta's pattern for each user (a `userName eq` lookup, then a create),
 * of lookups once all exist (answered from an index: should not grow with the user count), of a
 * filter no index answers (evaluated over all the provider's users: grows with them), of a
 * deactivation (sessions end in the same transaction), and of one Group Push PATCH adding every
 * user to a group.
 */
import { performance } from 'node:perf_hooks';
import { rawRequest } from '../test/http.js';
import { startAdminServer } from '../test/identity.js';
import { startTestIdp } from '../test/oidc-provider.js';
import { machine, percentiles } from './lib.js';

const userCount = Number(process.argv[2] ?? 2000);
const { server, admin } = await startAdminServer('sqlite');
const idp = await startTestIdp();
const provider = await admin.createProvider({
  name: 'okta',
  kind: 'oidc',
  url: idp.issuer,
  clientID: idp.clientId,
  clientSecret: idp.clientSecret,
});
const { accessKey: token } = await admin.createScimKey({ id: provider.id });

async function scim(method: string, path: string, body?: unknown) {
  const res = await rawRequest(`${server.url}/api/scim/v2${path}`, {
    method,
    ca: server.ca,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/scim+json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
  return res;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const lookup = (name: string) =>
  `/Users?filter=${encodeURIComponent(`userName eq "${name}"`)}&startIndex=1&count=100`;
const ids: string[] = [];
const provisioning: number[] = [];
for (let i = 0; i < userCount; i++) {
  const userName = `user${i}@example.com`;
  provisioning.push(
    await timed(async () => {
      await scim('GET', lookup(userName));
      const res = await scim('POST', '/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName,
        name: { givenName: 'User', familyName: String(i) },
        emails: [{ primary: true, value: userName, type: 'work' }],
        externalId: `00u${i}`,
        active: true,
      });
      ids.push(res.json<{ id: string }>().id);
    }),
  );
}
const lookups: number[] = [];
for (let i = 0; i < 200; i++)
  lookups.push(await timed(() => scim('GET', lookup(`user${(i * 7) % userCount}@example.com`))));
const scans: number[] = [];
for (let i = 0; i < 20; i++)
  scans.push(
    await timed(() =>
      scim('GET', `/Users?filter=${encodeURIComponent(`name.familyName eq "${i}"`)}`),
    ),
  );
const deactivations: number[] = [];
for (const id of ids.slice(0, 100))
  deactivations.push(
    await timed(() =>
      scim('PATCH', `/Users/${id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', value: { active: false } }],
      }),
    ),
  );
const group = (await scim('POST', '/Groups', { displayName: 'everyone' })).json<{ id: string }>();
const push = await timed(() =>
  scim('PATCH', `/Groups/${group.id}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }],
  }),
);

console.log(machine());
console.log(`users: ${userCount}`);
console.log(`lookup + create, per user (ms):  ${percentiles(provisioning)}`);
console.log(`userName eq lookup (ms):         ${percentiles(lookups)}`);
console.log(`unindexed filter (ms):           ${percentiles(scans)}`);
console.log(`deactivate (ms):                 ${percentiles(deactivations)}`);
console.log(`Group Push of ${userCount} members, one PATCH: ${push.toFixed(0)} ms`);
await server.close();
await idp.close();
