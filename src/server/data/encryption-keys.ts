import type { Clock } from '../../shared/clock.js';
import { AppError } from '../../shared/errors.js';
import { randomString } from '../crypto/random.js';
import { Keyring, newDataKey, type DataKeys, type RootKey } from '../crypto/keyring.js';
import type { Db } from './db.js';
import type { EncryptionKeysTable } from './schema.js';

const context = (id: string) => `encryption_keys.wrapped:${id}`;

/** The configured root key and, while moving to it, the one the data keys were wrapped with. */
export interface RootKeys {
  current: RootKey;
  previous?: RootKey;
}

/** The oldest data key wrapped by each root key provider (`native`, `vault`, `awskms`). */
export async function dataKeysByProvider(db: Db): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('encryptionKeys')
    .select(['id', 'provider'])
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
  const byProvider = new Map<string, string>();
  for (const r of rows) if (!byProvider.has(r.provider)) byProvider.set(r.provider, r.id);
  return byProvider;
}

/** A data key wrapped by a kind of root key that is not configured: which kind, and which is. */
export function rootKeyMismatch(
  dataKeyId: string,
  provider: string,
  configured: readonly string[],
): AppError {
  return new AppError(
    'unavailable',
    `data key ${dataKeyId} of this database is wrapped by ${/^[aeiou]/.test(provider) ? 'an' : 'a'} ${provider} root key, but the configured root key is ${configured.join(' and ')}; configure the ${provider} root key it was made with as keyProvider (or as previousKeyProvider while moving to a new one)`,
  );
}

export async function countEncryptionKeys(db: Db): Promise<number> {
  const row = await db
    .selectFrom('encryptionKeys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function wrapNew(root: RootKey, id: string): Promise<{ key: Buffer; wrapped: string }> {
  if (root.generate) {
    const made = await root.generate(context(id));
    return { key: made.dataKey, wrapped: made.wrapped };
  }
  const key = newDataKey();
  return { key, wrapped: await root.wrap(key, context(id)) };
}

/** `createdAt` is when the key becomes the active one: later than now for a staged key. */
async function createDataKey(db: Db, root: RootKey, createdAt: number): Promise<string> {
  const id = `dk-${randomString(8).toLowerCase()}`;
  let wrapped: string;
  try {
    wrapped = (await wrapNew(root, id)).wrapped;
  } catch (err) {
    throw new AppError(
      'unavailable',
      `the root key (${root.description}) cannot encrypt a new data key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  await db
    .insertInto('encryptionKeys')
    .values({ id, provider: root.provider, wrapped, createdAt, retiredAt: null })
    .execute();
  return id;
}

/**
 * Unwraps every data key. A key the configured root key cannot open is tried with the previous
 * root key and, if that opens it, re-wrapped with the configured one: that is how a root key is
 * rotated. A key neither opens stops the server: guessing on would orphan the data.
 */
async function unwrapAll(
  db: Db,
  roots: RootKeys,
  known: Map<string, string>,
  now: number,
): Promise<DataKeys> {
  const rows = await db
    .selectFrom('encryptionKeys')
    .selectAll()
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
  if (rows.length === 0) throw new AppError('unavailable', 'the database has no data key');
  const keys = new Map<string, Buffer>();
  for (const row of rows) keys.set(row.id, await unwrapOne(db, roots, row, known));
  const active = rows.filter((r) => r.createdAt <= now).at(-1) ?? rows[0]!;
  const staged = rows.filter((r) => r.createdAt > now).at(-1);
  return {
    active: { id: active.id, key: keys.get(active.id)! },
    keys,
    staged: staged && { id: staged.id, key: keys.get(staged.id)!, from: staged.createdAt },
  };
}

async function unwrapOne(
  db: Db,
  roots: RootKeys,
  row: EncryptionKeysTable,
  known: Map<string, string>,
): Promise<Buffer> {
  const cached = known.get(`${row.id}:${row.wrapped}`);
  if (cached) return Buffer.from(cached, 'base64');
  const remember = (key: Buffer) => {
    known.set(`${row.id}:${row.wrapped}`, key.toString('base64'));
    return key;
  };
  const { current, previous } = roots;
  let currentError: unknown;
  if (row.provider === current.provider) {
    try {
      return remember(await current.unwrap(row.wrapped, context(row.id)));
    } catch (err) {
      currentError = err;
    }
  }
  if (previous && row.provider === previous.provider) {
    let key: Buffer;
    try {
      key = await previous.unwrap(row.wrapped, context(row.id));
    } catch (err) {
      throw wrongRootKey(row, roots, currentError ?? err);
    }
    const wrapped = await current.wrap(key, context(row.id));
    // Conditional, so two replicas re-wrapping at once both succeed and one write wins.
    await db
      .updateTable('encryptionKeys')
      .set({ wrapped, provider: current.provider })
      .where('id', '=', row.id)
      .where('wrapped', '=', row.wrapped)
      .execute();
    return key;
  }
  throw wrongRootKey(row, roots, currentError);
}

function wrongRootKey(row: EncryptionKeysTable, roots: RootKeys, cause: unknown): AppError {
  const tried = [roots.current, roots.previous].filter((r) => r !== undefined);
  const matching = tried.filter((r) => r.provider === row.provider);
  if (matching.length === 0)
    return rootKeyMismatch(
      row.id,
      row.provider,
      tried.map((r) => r.description),
    );
  // A native key that fails is simply the wrong key; a remote one may say why (403, not found).
  const reason = cause instanceof Error && row.provider !== 'native' ? ` (${cause.message})` : '';
  return new AppError(
    'unavailable',
    `the root key (${matching.map((r) => r.description).join(', or ')}) cannot decrypt data key ${row.id} of this database${reason}; start with the root key this database was created with`,
    { cause },
  );
}

/**
 * Loads the data keys, unwrapping each with the root key; on a new database makes the first one.
 * The keyring reloads itself from here after another process rotates the keys.
 */
export async function loadKeyring(db: Db, roots: RootKeys, clock: Clock): Promise<Keyring> {
  if ((await countEncryptionKeys(db)) === 0) {
    // Replicas starting together may race here; the loser's row is harmless (either key opens
    // only what it sealed, and both are loaded).
    await createDataKey(db, roots.current, clock.now());
  }
  const known = new Map<string, string>();
  return new Keyring(await unwrapAll(db, roots, known, clock.now()), {
    reload: () => unwrapAll(db, roots, known, clock.now()),
    now: () => clock.now(),
  });
}

/**
 * Makes a new data key, wrapped by the current root key, that becomes the active one at
 * `activeFrom`; the others are retired then (they still open what they sealed until
 * re-encryption has moved it).
 */
export async function rotateDataKey(
  db: Db,
  roots: RootKeys,
  keyring: Keyring,
  activeFrom: number,
): Promise<string> {
  const id = await db.transaction().execute(async (tx) => {
    const created = await createDataKey(tx, roots.current, activeFrom);
    await tx
      .updateTable('encryptionKeys')
      .set({ retiredAt: activeFrom })
      .where('retiredAt', 'is', null)
      .where('id', '!=', created)
      .execute();
    return created;
  });
  await keyring.reload();
  return id;
}
