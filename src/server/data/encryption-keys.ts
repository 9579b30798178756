import { AppError } from '../../shared/errors.js';
import { randomString } from '../crypto/random.js';
import { Keyring, newDataKey, type RootKey } from '../crypto/keyring.js';
import type { Db } from './db.js';

const context = (id: string) => `encryption_keys.wrapped:${id}`;

export async function countEncryptionKeys(db: Db): Promise<number> {
  const row = await db
    .selectFrom('encryptionKeys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Loads the data keys, unwrapping each with the root key; on a new database makes the first one.
 * A root key that cannot unwrap them stops the server: guessing on would orphan the data.
 */
export async function loadKeyring(db: Db, root: RootKey, now: number): Promise<Keyring> {
  let rows = await db.selectFrom('encryptionKeys').selectAll().orderBy('createdAt').execute();
  if (rows.length === 0) {
    const id = `dk-${randomString(8).toLowerCase()}`;
    const wrapped = await root.wrap(newDataKey(), context(id));
    // Replicas starting together may race here; the loser's row is harmless (either key opens
    // only what it sealed, and both are loaded).
    await db
      .insertInto('encryptionKeys')
      .values({ id, provider: root.provider, wrapped, createdAt: now, retiredAt: null })
      .execute();
    rows = await db.selectFrom('encryptionKeys').selectAll().orderBy('createdAt').execute();
  }
  const keys = new Map<string, Buffer>();
  for (const row of rows) {
    try {
      keys.set(row.id, await root.unwrap(row.wrapped, context(row.id)));
    } catch (err) {
      throw new AppError(
        'unavailable',
        `the root key cannot decrypt data key ${row.id} of this database (wrapped by ${row.provider}); start with the root key this database was created with`,
        { cause: err },
      );
    }
  }
  const active = rows.filter((r) => r.retiredAt === null).at(-1) ?? rows.at(-1)!;
  return new Keyring({ id: active.id, key: keys.get(active.id)! }, keys);
}
