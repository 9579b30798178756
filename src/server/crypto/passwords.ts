import type * as Argon2 from '@node-rs/argon2';
import { randomString } from './random.js';

// The native argon2 module loads with the first password to hash or check, not at start.
let argon2: Promise<typeof Argon2> | undefined;
const lib = () => (argon2 ??= import('@node-rs/argon2'));

// OWASP's first recommendation for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 passes,
// one lane. The parameters travel in the PHC string, so raising them later re-hashes on login.
// `algorithm: 2` is Argon2id (the package's const enum cannot be imported under verbatimModuleSyntax).
const PARAMS: Argon2.Options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const CURRENT = `$argon2id$v=19$m=${PARAMS.memoryCost},t=${PARAMS.timeCost},p=${PARAMS.parallelism}$`;

/** The hash to store for a password: an argon2id PHC string with its salt and parameters. */
export async function hashPassword(password: string): Promise<string> {
  return (await lib()).hash(password, PARAMS);
}

/** Whether `password` matches the stored hash. Malformed hashes never match. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  // Outside the try: a module that cannot load is a failure to report, not a wrong password.
  const { verify } = await lib();
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

/** Whether a stored hash was made with weaker parameters than today's. */
export function needsRehash(storedHash: string): boolean {
  return !storedHash.startsWith(CURRENT);
}

// A real hash to verify against when the user does not exist, so the time a failed login takes
// does not tell whether the name is known.
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomString(32));
  return decoy;
}

/** A one-time password for a new user or a reset: 16 characters, about 95 bits. */
export function generateOneTimePassword(): string {
  return randomString(16);
}
