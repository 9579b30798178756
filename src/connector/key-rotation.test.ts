import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../../test/cluster.js';

describe('the connector re-reads its access key', () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster('sqlite', { connectorKeyInFile: true });
  });
  after(() => cluster.close());

  it('keeps following the server after its key is rotated in the file and re-read (SIGHUP)', async () => {
    const { admin } = cluster;
    const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
    const replacement = await admin.createAccessKey({
      userID: connector.id,
      name: 'prod-connector-2',
      expiry: '8760h',
      destination: 'prod',
    });
    writeFileSync(cluster.connectorKeyFile, `${replacement.accessKey}\n`);
    await cluster.connector.reload();
    assert.match(cluster.connectorLogs.text, /secrets re-read; in use now: server\.accessKey/);
    assert.doesNotMatch(cluster.connectorLogs.text, new RegExp(replacement.accessKey));

    // With the old key gone, only the re-read key lets the connector hear of this grant.
    await admin.deleteAccessKeys({ userID: connector.id, name: 'prod-connector' });
    const bob = await admin.createUser({ name: 'bob@example.com' });
    await admin.createGrant({ user: bob.id, privilege: 'view', resource: 'prod' });
    await cluster.connectorCaughtUp();
    const users = [...(cluster.connector.state()?.users.values() ?? [])];
    assert.ok(users.some((u) => u.name === 'bob@example.com'));
  });
});
