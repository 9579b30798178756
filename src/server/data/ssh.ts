import type { Db } from './db.js';
import type { SshAuthoritiesTable } from './schema.js';

export type SshAuthorityRow = SshAuthoritiesTable;

/** The authorities of a purpose still trusted: the active ones, and those retired since then. */
export async function listSshAuthorities(
  db: Db,
  purpose: 'user' | 'host',
  retiredSince: number,
): Promise<SshAuthorityRow[]> {
  return db
    .selectFrom('sshAuthorities')
    .selectAll()
    .where('purpose', '=', purpose)
    .where((eb) => eb.or([eb('retiredAt', 'is', null), eb('retiredAt', '>', retiredSince)]))
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
}

export async function createSshAuthority(db: Db, row: SshAuthorityRow): Promise<void> {
  await db.insertInto('sshAuthorities').values(row).execute();
}

/** Retires every active authority of the purpose but `exceptId`. */
export async function retireSshAuthorities(
  db: Db,
  purpose: 'user' | 'host',
  exceptId: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('sshAuthorities')
    .set({ retiredAt: now })
    .where('purpose', '=', purpose)
    .where('retiredAt', 'is', null)
    .where('id', '!=', exceptId)
    .execute();
}

export async function createSshCertificate(
  db: Db,
  cert: {
    serial: string;
    userId: string;
    sessionId: string;
    destination: string;
    issuedAt: number;
    expiresAt: number;
  },
): Promise<void> {
  await db.insertInto('sshCertificates').values(cert).execute();
}

/**
 * Serials of the certificates for `destination`, not yet expired, whose session has ended
 * (logged out, revoked, or the user removed): what the host's revocation list holds.
 */
export async function listRevokedSshSerials(
  db: Db,
  destination: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .selectFrom('sshCertificates as c')
    .select('c.serial')
    .where('c.destination', '=', destination)
    .where('c.expiresAt', '>', now)
    .where((eb) =>
      eb.or([
        eb.not(
          eb.exists(
            eb.selectFrom('accessKeys').select('id').whereRef('accessKeys.id', '=', 'c.sessionId'),
          ),
        ),
        eb.not(
          eb.exists(eb.selectFrom('users').select('id').whereRef('users.id', '=', 'c.userId')),
        ),
      ]),
    )
    .orderBy('c.serial')
    .execute();
  return rows.map((r) => r.serial);
}

/** Forgets certificates that have expired (they cannot be used, so need no revoking). */
export async function deleteExpiredSshCertificates(db: Db, now: number): Promise<void> {
  await db.deleteFrom('sshCertificates').where('expiresAt', '<=', now).execute();
}

/** The login names already assigned to these users. */
export async function listSshLogins(db: Db, userIds: string[]): Promise<Map<string, string>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('sshLogins')
    .select(['userId', 'login'])
    .where('userId', 'in', userIds)
    .execute();
  return new Map(rows.map((r) => [r.userId, r.login]));
}

/** Whether a login name is taken (by any user, present or removed: names are never reused). */
export async function isSshLoginTaken(db: Db, login: string): Promise<boolean> {
  const row = await db
    .selectFrom('sshLogins')
    .select('userId')
    .where('login', '=', login)
    .executeTakeFirst();
  return row !== undefined;
}

export async function createSshLogin(
  db: Db,
  row: { userId: string; login: string; createdAt: number },
): Promise<void> {
  await db.insertInto('sshLogins').values(row).execute();
}
