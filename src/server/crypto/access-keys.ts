import { createHash, timingSafeEqual } from 'node:crypto';
import { randomString } from './random.js';

const KEY_ID_LENGTH = 10;
const SECRET_LENGTH = 24;
const FORMAT = /^([0-9A-Za-z]{10})\.([0-9A-Za-z]{24})$/;

/** An access key as the holder sees it once: `<10-char id>.<24-char secret>` (about 143 bits). */
export interface NewAccessKey {
  keyId: string;
  secret: string;
  /** What the holder presents. */
  text: string;
}

export function generateAccessKey(): NewAccessKey {
  const keyId = randomString(KEY_ID_LENGTH);
  const secret = randomString(SECRET_LENGTH);
  return { keyId, secret, text: `${keyId}.${secret}` };
}

/** Splits a presented key; undefined when it is not shaped like one. */
export function parseAccessKey(text: string): { keyId: string; secret: string } | undefined {
  const m = FORMAT.exec(text);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

/** What the database keeps of a secret: its SHA-256, hex. The secret itself is never stored. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
