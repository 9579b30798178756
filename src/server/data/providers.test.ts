import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engines, openTestDb } from '../../../test/engines.js';
import type { OpenDb } from './db.js';
import {
  claimProviderUserSync,
  countProviderUsers,
  createProvider,
  listProviderUsersDue,
  oldestProviderUserSync,
  saveProviderUser,
} from './providers.js';
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

    it('lists the links due for a re-check: with a refresh token, oldest first, skipping providers', async () => {
      const { db } = database;
      await createUser(db, { id: 'usr_b', name: 'b@example.com', managedBy: 'api', now: 1 });
      await createUser(db, { id: 'usr_c', name: 'c@example.com', managedBy: 'api', now: 1 });
      const row = (userId: string, lastSyncAt: number, refreshToken: string | null) => ({
        providerId: 'prv_a',
        userId,
        subject: `sub-${userId}`,
        email: `${userId}@example.com`,
        groups: [],
        refreshToken,
        lastSyncAt,
        createdAt: 1,
      });
      await saveProviderUser(db, row('usr_a', 500, 'sealed'));
      await saveProviderUser(db, row('usr_b', 100, 'sealed'));
      await saveProviderUser(db, row('usr_c', 50, null));
      const due = (before: number, skipProviders: string[] = []) =>
        listProviderUsersDue(db, { before, skipProviders, limit: 10 }).then((r) =>
          r.map((l) => l.userId),
        );
      assert.deepEqual(await due(1_000), ['usr_b', 'usr_a']);
      assert.deepEqual(await due(200), ['usr_b']);
      assert.deepEqual(await due(1_000, ['prv_a']), []);
      assert.equal(await oldestProviderUserSync(db, []), 100);
      assert.equal(await oldestProviderUserSync(db, ['prv_a']), undefined);
      assert.deepEqual(await countProviderUsers(db, 'prv_a'), {
        linked: 3,
        withoutRefreshToken: 1,
      });
    });
  });
}
