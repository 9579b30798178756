import type { Db } from './db.js';

export interface SigningKeyRow {
  kid: string;
  algorithm: string;
  publicJwk: string;
  privateJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

/** Keys still published: the active ones, and retired ones whose tokens may not have expired. */
export async function listSigningKeys(db: Db, retiredSince: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('signingKeys')
    .selectAll()
    .where((eb) => eb.or([eb('retiredAt', 'is', null), eb('retiredAt', '>', retiredSince)]))
    .orderBy('createdAt')
    .execute();
}

export async function createSigningKey(db: Db, key: SigningKeyRow): Promise<void> {
  await db.insertInto('signingKeys').values(key).execute();
}

/** Retires every active key but `kid`. */
export async function retireSigningKeys(db: Db, exceptKid: string, now: number): Promise<void> {
  await db
    .updateTable('signingKeys')
    .set({ retiredAt: now })
    .where('retiredAt', 'is', null)
    .where('kid', '!=', exceptKid)
    .execute();
}
