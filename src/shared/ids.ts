import { randomBytes } from 'node:crypto';

// Crockford's base32 in lower case: no i, l, o, u, so ids survive being read aloud, and every
// character sorts the same way in every SQL collation, so ids sort by creation time.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const ID_LENGTH = 24;
const ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{24}$/;

/**
 * A new id: 48 bits of millisecond time then 72 random bits (from the CSPRNG), as 24 characters
 * of base32. Ids sort by creation time and cannot be guessed from one another.
 */
export function newId(now: number = Date.now()): string {
  const bytes = Buffer.alloc(15);
  bytes.writeUIntBE(now, 0, 6);
  randomBytes(9).copy(bytes, 6);
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < ID_LENGTH; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export function isId(text: string): boolean {
  return ID_PATTERN.test(text);
}
