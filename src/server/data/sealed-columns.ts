import { sql } from 'kysely';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from './db.js';

/**
 * A column whose values are sealed with the data key, and the one definition of the context
 * (associated data) its values are sealed with: the code that seals a value and the rotation
 * that re-seals it both take it from here, so they cannot drift. Names are the SQL (snake_case)
 * names.
 */
export interface SealedColumn {
  table: string;
  column: string;
  /** The primary key columns, which identify a row for the compare-and-set update. */
  key: string[];
  /** The associated data the value is sealed with, from the row's key columns. */
  context(key: Record<string, string>): string;
}

/** Destination-token signing keys (their private JWK). */
export const SIGNING_KEY_JWK: SealedColumn = {
  table: 'signing_keys',
  column: 'private_jwk',
  key: ['kid'],
  context: (k) => `signing_keys.private_jwk:${k.kid}`,
};

/** A provider's client secret given by value. */
export const PROVIDER_CLIENT_SECRET: SealedColumn = {
  table: 'providers',
  column: 'client_secret',
  key: ['id'],
  context: (k) => `providers.client_secret:${k.id}`,
};

/** A provider's secrets given by value other than the client secret (JSON). */
export const PROVIDER_PRIVATE_CONFIG: SealedColumn = {
  table: 'providers',
  column: 'private_config',
  key: ['id'],
  context: (k) => `providers.private_config:${k.id}`,
};

/** A user's refresh token at a provider. */
export const PROVIDER_USER_REFRESH_TOKEN: SealedColumn = {
  table: 'provider_users',
  column: 'refresh_token',
  key: ['provider_id', 'user_id'],
  context: (k) => `provider_users.refresh_token:${k.provider_id}/${k.user_id}`,
};

/** SSH certificate authorities' private keys (PKCS#8 PEM). */
export const SSH_AUTHORITY_KEY: SealedColumn = {
  table: 'ssh_authorities',
  column: 'private_key',
  key: ['id'],
  context: (k) => `ssh_authorities.private_key:${k.id}`,
};

/** A chunk of a recorded exec or attach session (asciicast lines). */
export const KUBE_RECORDING_CHUNK: SealedColumn = {
  table: 'kube_recording_chunks',
  column: 'data',
  key: ['recording_id', 'seq'],
  context: (k) => `kube_recording_chunks.data:${k.recording_id}/${k.seq}`,
};

/** Every sealed column: what data-key rotation re-seals. Code seals with these contexts only. */
export const sealedColumns: readonly SealedColumn[] = [
  SIGNING_KEY_JWK,
  PROVIDER_CLIENT_SECRET,
  PROVIDER_PRIVATE_CONFIG,
  PROVIDER_USER_REFRESH_TOKEN,
  SSH_AUTHORITY_KEY,
  KUBE_RECORDING_CHUNK,
];

const BATCH = 200;

/**
 * Re-seals with the active data key every value of `column` sealed with another key, in batches
 * and without locks: each row is updated only if it still holds the value that was read, so a
 * concurrent write (already under the new key, or to be caught by the next pass) is never lost.
 * Returns how many values were re-sealed.
 */
export async function reencryptColumn(
  db: Db,
  keyring: Keyring,
  col: SealedColumn,
): Promise<number> {
  const prefix = `v1:${keyring.activeKeyId}:`;
  const table = sql.table(col.table);
  const column = sql.ref(col.column);
  // Aliases without underscores, so the CamelCasePlugin leaves the result keys alone.
  const keys = sql.join(col.key.map((k, i) => sql`${sql.ref(k)} as ${sql.raw(`k${i}`)}`));
  const seen = new Set<string>();
  let count = 0;
  for (;;) {
    const rows = await sql<Record<string, string>>`
      select ${keys}, ${column} as v from ${table}
      where ${column} is not null and substr(${column}, 1, ${prefix.length}) <> ${prefix}
      limit ${BATCH}`.execute(db);
    const fresh = rows.rows.filter((r) => !seen.has(col.key.map((_k, i) => r[`k${i}`]).join('\0')));
    if (fresh.length === 0) break;
    for (const row of fresh) {
      const key = Object.fromEntries(col.key.map((k, i) => [k, String(row[`k${i}`])]));
      seen.add(col.key.map((_k, i) => row[`k${i}`]).join('\0'));
      const context = col.context(key);
      const resealed = keyring.seal(await keyring.openLatest(row.v!, context), context);
      const where = sql.join(
        col.key.map((k) => sql`${sql.ref(k)} = ${key[k]}`),
        sql` and `,
      );
      const result = await sql`
        update ${table} set ${column} = ${resealed}
        where ${where} and ${column} = ${row.v}`.execute(db);
      count += Number(result.numAffectedRows ?? 0);
    }
    if (rows.rows.length < BATCH) break;
  }
  return count;
}

/** How many values of each sealed column are not under the active data key. */
export async function countStaleValues(
  db: Db,
  keyring: Keyring,
  columns: readonly SealedColumn[] = sealedColumns,
): Promise<Record<string, number>> {
  const prefix = `v1:${keyring.activeKeyId}:`;
  const out: Record<string, number> = {};
  for (const col of columns) {
    const column = sql.ref(col.column);
    const row = await sql<{ n: number | string }>`
      select count(*) as n from ${sql.table(col.table)}
      where ${column} is not null and substr(${column}, 1, ${prefix.length}) <> ${prefix}`.execute(
      db,
    );
    out[`${col.table}.${col.column}`] = Number(row.rows[0]?.n ?? 0);
  }
  return out;
}
