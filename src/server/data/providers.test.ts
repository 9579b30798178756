import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engines, openTestDb } from '../../../test/engines.js';
import type { OpenDb } from './db.js';
import { claimProviderUserSync, createProvider, saveProviderUser } from './providers.js';
import { createUser } from './users.js';

for (const engine of engines) {
  describe(`provider user sync claims [${engine}]`, () => {
    let database: OpenDb;
    const link = { providerId: 'prv_a', userId: 'usr_a', lastSyncAt: 1_000 };

    before(async () => {
      database = await openTestDb(engine);
      const { db } = database;
      await createUser(db, { id: 'usr_a', name: 'a@example.com', managedBy: 'api', now: 1 });
      await createProvider(db, {
        id: 'prv_a',
        name: 'a',
        kind: 'oidc',
        issuer: 'https://idp.example.com',
        clientId: 'c',
        clientSecret: null,
        clientSecretRef: 'env:X',
        scopes: ['openid'],
        groupsClaim: 'groups',
        config: {},
        privateConfig: null,
        managedBy: 'api',
        createdAt: 1,
        updatedAt: 1,
      });
      await saveProviderUser(db, {
        ...link,
        subject: 'sub-a',
        email: 'a@example.com',
        groups: [],
        refreshToken: 'sealed',
        createdAt: 1,
      });
    });
    after(() => database.close());

    it('lets exactly one of two concurrent syncs use the refresh token', async () => {
      const claims = await Promise.all([
        claimProviderUserSync(database.db, link, 2_000),
        claimProviderUserSync(database.db, link, 2_001),
      ]);
      const winnerAt = claims[0] ? 2_000 : 2_001;
      assert.deepEqual([...claims].sort(), [false, true]);
      assert.equal(await claimProviderUserSync(database.db, link, 3_000), false, 'a stale read');
      const next = await claimProviderUserSync(
        database.db,
        { ...link, lastSyncAt: winnerAt },
        3_000,
      );
      assert.equal(next, true, 'the next sync, after reading the new time');
    });
  });
}
