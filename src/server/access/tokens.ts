import {
  SignJWT,
  calculateJwkThumbprint,
  createLocalJWKSet,
  jwtVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { randomString } from '../crypto/random.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../data/db.js';
import { SIGNING_KEY_JWK } from '../data/sealed-columns.js';
import {
  createSigningKey,
  listSigningKeys,
  retireSigningKeys,
  type SigningKeyRow,
} from '../data/signing-keys.js';

/** ECDSA P-521 with SHA-512, as the security model requires (S3). */
const TOKEN_ALGORITHM = 'ES512';
/** Tokens the relay remembers as checked; beyond this many, it starts over. */
const CHECKED_TOKENS_MAX = 10_000;
/** How long a destination token lives. */
export const TOKEN_LIFETIME_MS = 5 * 60_000;
/** Keys are re-read from the database this often, to pick up rotations by other replicas. */
const REFRESH_MS = 60_000;

const context = (kid: string) => SIGNING_KEY_JWK.context({ kid });

export interface TokenClaims {
  userId: string;
  name: string;
  groups: string[];
  destination: string;
  sessionId: string;
}

interface ActiveKey {
  kid: string;
  key(): Promise<CryptoKey>;
  createdAt: number;
}

type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/**
 * Signs destination tokens and publishes the keys that verify them. The signing key is
 * generated on first start; its private part is stored sealed with the data key. A rotated-out
 * key stays in the JWKS until every token it signed has expired.
 */
export class TokenService {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #rotateAfterMs: number;
  #active: ActiveKey | undefined;
  #published: JWK[] = [];
  #loadedAt = 0;
  #verifyKeys: { keys: JWK[]; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  /** Tokens already found valid: token → its destination and expiry (ms). */
  readonly #checked = new Map<string, { destination: string; expiresAt: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    db: Db;
    keyring: Keyring;
    clock: Clock;
    log: Logger;
    rotateAfterMs: number;
  }) {
    this.#db = deps.db;
    this.#keyring = deps.keyring;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#rotateAfterMs = deps.rotateAfterMs;
  }

  /** Whether a signing key is loaded (readiness). */
  get hasSigningKey(): boolean {
    return this.#active !== undefined;
  }

  /** Loads the keys (making the first one on a new install) and starts the refresh loop. */
  async start(): Promise<void> {
    await this.#load();
    if (!this.#active) await this.rotate();
    this.#timer = setInterval(() => {
      this.#refresh().catch((err: unknown) =>
        this.#log.error({ err }, 'could not refresh the token signing keys'),
      );
    }, REFRESH_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * Makes a new signing key active; the old ones stay published until their tokens expire.
   * Given a transaction, the change commits with it and is picked up on the next use.
   */
  async rotate(db: Db = this.#db): Promise<string> {
    const now = this.#clock.now();
    const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const store = async (tx: Db) => {
      await createSigningKey(tx, {
        kid,
        algorithm: TOKEN_ALGORITHM,
        publicJwk: JSON.stringify({ ...publicJwk, kid, alg: TOKEN_ALGORITHM, use: 'sig' }),
        privateJwk: this.#keyring.seal(JSON.stringify(privateJwk), context(kid)),
        createdAt: now,
        retiredAt: null,
      });
      await retireSigningKeys(tx, kid, now);
    };
    this.#log.info({ kid }, 'new token signing key');
    if (db.isTransaction) {
      await store(db);
      this.#loadedAt = 0;
    } else {
      await db.transaction().execute(store);
      await this.#load();
    }
    return kid;
  }

  /** The public keys that verify tokens: the JWKS document's `keys`. */
  async publishedKeys(): Promise<JWK[]> {
    if (this.#loadedAt === 0 || this.#clock.now() - this.#loadedAt > REFRESH_MS) await this.#load();
    return this.#published;
  }

  /**
   * Signs a destination token. With `notAfter` (when the caller's access there ends: their
   * grants there are all temporary), the token expires by then at the latest.
   */
  async mint(
    claims: TokenClaims,
    notAfter = Infinity,
  ): Promise<{ token: string; expiresAt: number }> {
    if (!this.#active || this.#loadedAt === 0 || this.#clock.now() - this.#loadedAt > REFRESH_MS)
      await this.#load();
    const active = this.#active!;
    const now = this.#clock.now();
    const iat = Math.floor(now / 1000);
    const exp = Math.min(iat + TOKEN_LIFETIME_MS / 1000, Math.floor(notAfter / 1000));
    const token = await new SignJWT({
      name: claims.name,
      groups: claims.groups,
      sid: claims.sessionId,
    })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: active.kid, typ: 'JWT' })
      .setIssuer('infra')
      .setSubject(claims.userId)
      .setAudience(claims.destination)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomString(16))
      .sign(await active.key());
    return { token, expiresAt: exp * 1000 };
  }

  /**
   * Whether `token` is a destination token this server signed for `destination` and not yet
   * expired. The tunnel relay asks this to refuse strangers before they use a tunnel; the
   * connector still decides (session ended, access revoked). A token is verified once (ES512
   * costs about a millisecond) and remembered until it expires.
   */
  async isValidFor(token: string, destination: string): Promise<boolean> {
    const now = this.#clock.now();
    const known = this.#checked.get(token);
    if (known) return known.destination === destination && now < known.expiresAt;
    const keys = await this.publishedKeys();
    if (this.#verifyKeys?.keys !== keys)
      this.#verifyKeys = { keys, set: createLocalJWKSet({ keys }) };
    try {
      const { payload } = await jwtVerify(token, this.#verifyKeys.set, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: 'infra',
        audience: destination,
        currentDate: new Date(now),
        clockTolerance: 5,
      });
      if (this.#checked.size >= CHECKED_TOKENS_MAX) this.#checked.clear();
      this.#checked.set(token, { destination, expiresAt: (payload.exp ?? 0) * 1000 });
      return true;
    } catch {
      return false;
    }
  }

  async #refresh(): Promise<void> {
    await this.#load();
    if (this.#active && this.#clock.now() - this.#active.createdAt >= this.#rotateAfterMs)
      await this.rotate();
  }

  async #load(): Promise<void> {
    const now = this.#clock.now();
    // A retired key is kept while tokens it signed may still be valid (plus a minute of slack).
    const rows = await listSigningKeys(this.#db, now - TOKEN_LIFETIME_MS - 60_000);
    const newest: SigningKeyRow | undefined = rows.filter((r) => r.retiredAt === null).at(-1);
    if (newest && newest.kid !== this.#active?.kid) {
      const jwk = JSON.parse(
        await this.#keyring.openLatest(newest.privateJwk, context(newest.kid)),
      ) as JWK;
      // Imported at the first token minted, not at start: the first use of WebCrypto costs
      // ~80 ms, the better part of what a start with existing state still takes.
      let key: Promise<CryptoKey> | undefined;
      this.#active = {
        kid: newest.kid,
        key: () => (key ??= importJWK(jwk, TOKEN_ALGORITHM) as Promise<CryptoKey>),
        createdAt: newest.createdAt,
      };
    }
    this.#published = rows.map((r) => JSON.parse(r.publicJwk) as JWK);
    this.#loadedAt = now;
  }
}
