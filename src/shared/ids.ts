import { randomBytes } from 'node:crypto';

// Crockford's base32 in lower case: no i, l, o, u, so ids survive being read aloud, and every
// character sorts the same way in every SQL collation, so ids of one kind sort by creation time.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const BODY_LENGTH = 24;

/** What an id names; the prefix makes an id of the wrong kind fail validation, not lookups. */
const idKinds = {
  user: 'usr',
  group: 'grp',
  grant: 'gnt',
  accessKey: 'key',
  destination: 'dst',
  provider: 'prv',
  install: 'ins',
  sshAuthority: 'sca',
  accessRequest: 'req',
  requestPolicy: 'rqp',
} as const;
export type IdKind = keyof typeof idKinds;

const patterns = Object.fromEntries(
  Object.entries(idKinds).map(([kind, prefix]) => [
    kind,
    new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{24}$`),
  ]),
) as Record<IdKind, RegExp>;

/**
 * A new id such as `usr_06h0ke9a6x8fr91tqn1krqe7`: a kind prefix, then 48 bits of millisecond
 * time and 72 random bits (from the CSPRNG) as 24 characters of base32. Ids of a kind sort by
 * creation time and cannot be guessed from one another.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  const bytes = Buffer.alloc(15);
  bytes.writeUIntBE(now, 0, 6);
  randomBytes(9).copy(bytes, 6);
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let body = '';
  for (let i = 0; i < BODY_LENGTH; i++) {
    body = ALPHABET[Number(value & 31n)] + body;
    value >>= 5n;
  }
  return `${idKinds[kind]}_${body}`;
}

export function isId(text: string, kind: IdKind): boolean {
  return patterns[kind].test(text);
}
