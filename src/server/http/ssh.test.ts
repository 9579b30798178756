import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import { engines } from '../../../test/engines.js';
import { startAdminServer, userWithKey } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';
import { generateSshCa } from '../../shared/ssh.js';
import { openDb } from '../data/db.js';

/** What `ssh-keygen -L` reads in a certificate: the real parser, not ours. */
function inspect(certificate: string) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-cert-')), 'c-cert.pub');
  writeFileSync(file, `${certificate}\n`);
  const text = execFileSync('ssh-keygen', ['-L', '-f', file], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  });
  const section = (name: string) =>
    (new RegExp(`${name}: *\\n((?:\\s{16}.*\\n)*)`).exec(text)?.[1] ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  const valid = /Valid: from (\S+) to (\S+)/.exec(text)!;
  return {
    type: /Type: (.*)/.exec(text)![1],
    keyId: /Key ID: "(.*)"/.exec(text)![1],
    serial: /Serial: (\d+)/.exec(text)![1],
    principals: section('Principals'),
    extensions: section('Extensions'),
    // ssh-keygen prints local time without a zone: run in UTC above.
    from: Date.parse(`${valid[1]}Z`),
    to: Date.parse(`${valid[2]}Z`),
  };
}

const userKey = () => generateSshCa('user').publicKey;

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError, 'expected the API to refuse');
  return err;
}

for (const engine of engines) {
  describe(`SSH certificates [${engine}]`, () => {
    let server: TestServer;
    let admin: ApiClient;

    before(async () => {
      ({ server, admin } = await startAdminServer(engine));
      await admin.createDestination({
        name: 'db1',
        uniqueID: 'db1',
        kind: 'ssh',
        ssh: { address: 'db1.example.com:2222', hostKey: generateSshCa('host').publicKey },
      });
    });
    after(() => server?.close());

    it('issues a certificate scoped to the host and login, for an hour at most', async () => {
      const alice = await userWithKey(server, admin, 'alice.smith@example.com');
      await admin.createGrant({ user: alice.id, privilege: 'connect', resource: 'db1' });
      const before = Date.now();
      const issued = await alice.client.createSshCertificate({
        destination: 'db1',
        publicKey: userKey(),
      });
      assert.equal(issued.login, 'alice_smith');
      assert.equal(issued.principal, 'alice_smith@db1');
      assert.equal(issued.role, 'connect');
      assert.deepEqual(issued.host, {
        name: 'db1',
        address: 'db1.example.com:2222',
        authorities: [issued.host.authorities[0]],
      });
      const cert = inspect(issued.certificate);
      assert.match(cert.type!, /ssh-ed25519-cert-v01@openssh.com user certificate/);
      assert.equal(cert.keyId, 'alice.smith@example.com on db1');
      assert.equal(cert.serial, issued.serial);
      assert.deepEqual(cert.principals, ['alice_smith@db1']);
      assert.deepEqual(cert.extensions, ['permit-pty']);
      assert.ok(cert.from <= before - 59_000 && cert.from >= before - 62_000);
      assert.ok(cert.to <= Date.now() + 3600_000 && cert.to >= before + 3598_000);
      // Every certificate has a serial of its own.
      const again = await alice.client.createSshCertificate({
        destination: 'db1',
        publicKey: userKey(),
      });
      assert.notEqual(again.serial, issued.serial);
    });

    it('gives admins through a group forwarding, and ends at the grant', async () => {
      const bob = await userWithKey(server, admin, 'bob@example.com');
      const group = await admin.createGroup({ name: 'dba' });
      await admin.updateGroupUsers({ id: group.id, usersToAdd: [bob.id] });
      const end = new Date(Date.now() + 10 * 60_000).toISOString();
      await admin.createGrant({
        group: group.id,
        privilege: 'admin',
        resource: 'db1',
        expiresAt: end,
      });
      const issued = await bob.client.createSshCertificate({
        destination: 'db1',
        publicKey: userKey(),
      });
      assert.equal(issued.role, 'admin');
      const cert = inspect(issued.certificate);
      assert.deepEqual(cert.extensions, [
        'permit-X11-forwarding',
        'permit-agent-forwarding',
        'permit-port-forwarding',
        'permit-pty',
        'permit-user-rc',
      ]);
      assert.ok(cert.to <= Date.parse(end));
    });

    it('refuses users without a grant, clusters, unknown hosts and bad keys', async () => {
      const carol = await userWithKey(server, admin, 'carol@example.com');
      await admin.createGrant({ user: carol.id, privilege: 'view', resource: 'db1' });
      const noGrant = await rejection(
        carol.client.createSshCertificate({ destination: 'db1', publicKey: userKey() }),
      );
      assert.equal(noGrant.code, 'no_grant');
      await admin.createDestination({
        name: 'k8s',
        uniqueID: 'k8s',
        connection: { url: 'https://k8s.example.com', ca: '' },
      });
      await admin.createGrant({ user: carol.id, privilege: 'connect', resource: 'k8s' });
      const cluster = await rejection(
        carol.client.createSshCertificate({ destination: 'k8s', publicKey: userKey() }),
      );
      assert.equal(cluster.status, 400);
      const missing = await rejection(
        carol.client.createSshCertificate({ destination: 'nowhere', publicKey: userKey() }),
      );
      assert.equal(missing.status, 404);
      await admin.createGrant({ user: carol.id, privilege: 'connect', resource: 'db1' });
      const dsa = await rejection(
        carol.client.createSshCertificate({
          destination: 'db1',
          publicKey: 'ssh-dss AAAAB3NzaC1kc3MAAAA=',
        }),
      );
      assert.equal(dsa.status, 400);
      const forged = await rejection(
        carol.client.createSshCertificate({
          destination: 'db1',
          publicKey: `ssh-ed25519 ${Buffer.from('not a key').toString('base64')}`,
        }),
      );
      assert.equal(forged.status, 400);
    });

    it('gives each user one login name for good, avoiding system accounts and others', async () => {
      const names = ['root@example.com', 'dan@a.example', 'dan@b.example'];
      const users = [];
      for (const name of names) {
        const u = await userWithKey(server, admin, name);
        await admin.createGrant({ user: u.id, privilege: 'connect', resource: 'db1' });
        users.push(u);
      }
      const logins = [];
      for (const u of users)
        logins.push(
          (await u.client.createSshCertificate({ destination: 'db1', publicKey: userKey() })).login,
        );
      assert.deepEqual(logins, ['root2', 'dan', 'dan2']);
      // The first dan removed: the second keeps dan2, and dan is not handed on.
      await admin.deleteUser({ id: users[1]!.id });
      const after = await users[2]!.client.createSshCertificate({
        destination: 'db1',
        publicKey: userKey(),
      });
      assert.equal(after.login, 'dan2');
      const state = await admin.syncSshHost({ destination: 'db1' });
      assert.ok(!state.users.some((u) => u.login === 'dan'));
    });

    it('tells the host who may log in, and the serials of ended sessions', async () => {
      const erin = await userWithKey(server, admin, 'erin@example.com');
      await admin.createGrant({ user: erin.id, privilege: 'connect', resource: 'db1' });
      const issued = await erin.client.createSshCertificate({
        destination: 'db1',
        publicKey: userKey(),
      });
      let state = await admin.syncSshHost({ destination: 'db1' });
      assert.deepEqual(
        state.users.find((u) => u.id === erin.id),
        {
          id: erin.id,
          name: 'erin@example.com',
          login: 'erin',
          principal: 'erin@db1',
          role: 'connect',
        },
      );
      assert.equal(state.users.find((u) => u.name === 'bob@example.com')?.role, 'admin');
      assert.ok(!state.users.some((u) => u.name === 'carol@example.com' && u.role !== 'connect'));
      assert.ok(!state.revokedSerials.includes(issued.serial));
      await erin.client.logout();
      state = await admin.syncSshHost({ destination: 'db1' });
      assert.ok(state.revokedSerials.includes(issued.serial));
    });

    it('rotates the user CA, trusting the old one for the lifetime of its certificates', async () => {
      const before = await admin.syncSshHost({ destination: 'db1' });
      assert.equal(before.userAuthorities.length, 1);
      await admin.rotateSshAuthority({ purpose: 'user' });
      const after = await admin.syncSshHost({ destination: 'db1' });
      assert.equal(after.userAuthorities.length, 2);
      assert.equal(after.userAuthorities[1], before.userAuthorities[0]);
      const host = await admin.createSshHostCertificate({ destination: 'db1' });
      assert.match(host.certificate, /^ssh-ed25519-cert-v01@openssh.com /);
      const cert = inspect(host.certificate);
      assert.match(cert.type!, /host certificate/);
      assert.deepEqual(cert.principals, ['db1', 'db1.example.com']);
    });

    it('keeps the CA private keys sealed at rest', async () => {
      const database = await openDb(server.config.db);
      try {
        const rows = await database.db.selectFrom('sshAuthorities').select('privateKey').execute();
        assert.ok(rows.length >= 2);
        for (const r of rows) {
          assert.match(r.privateKey, /^v1:/);
          assert.doesNotMatch(r.privateKey, /PRIVATE KEY/);
        }
      } finally {
        await database.close();
      }
    });
  });
}
