import { hash } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Clock } from '../shared/clock.js';

/** What a verified destination token says about its holder. */
export interface TokenClaims {
  userId: string;
  name: string;
  sessionId: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
}

/** Why a token was refused; the proxy answers 401 with `message`. */
export class TokenRejected extends Error {}

/**
 * The server's keys were needed to check a token and could not be fetched (a 503): with the
 * fetch's error as `cause`, or without one when the last fetch, under a second ago, failed.
 */
export class KeysUnavailable extends Error {}

/**
 * How far past its expiry (or before its not-before) a token is still taken, for clocks that
 * disagree a little. Kept small: it extends every token's life (docs/connector.md).
 */
export const CLOCK_TOLERANCE_S = 5;
/** An unknown key id refreshes the JWKS at most this often (a stream of junk tokens cannot DoS the server). */
const REFRESH_ON_MISS_MS = 10_000;
/** After a failed fetch (the server away), sooner: the first token after its return needs keys. */
const REFRESH_AFTER_FAILURE_MS = 1000;
const MAX_CACHED_TOKENS = 100_000;

/**
 * Verifies destination tokens: ES512 only, signed by a key the server publishes, for this
 * destination, not expired. A verified token is cached (by the SHA-256 of its text) until it
 * expires, so the costly ES512 check runs once per token, not once per request.
 */
export class TokenVerifier {
  readonly #audience: string;
  readonly #fetchJwks: () => Promise<JSONWebKeySet>;
  readonly #clock: Clock;
  readonly #cache = new Map<string, TokenClaims>();
  #keys: JWTVerifyGetKey | undefined;
  #kids = new Set<string>();
  #lastFetch = 0;
  #lastFetchFailed = false;
  /** Counts for metrics. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(options: {
    audience: string;
    fetchJwks: () => Promise<JSONWebKeySet>;
    clock: Clock;
  }) {
    this.#audience = options.audience;
    this.#fetchJwks = options.fetchJwks;
    this.#clock = options.clock;
  }

  async refreshKeys(): Promise<void> {
    this.#lastFetch = this.#clock.now();
    let jwks: JSONWebKeySet;
    try {
      jwks = await this.#fetchJwks();
    } catch (err) {
      this.#lastFetchFailed = true;
      throw err;
    }
    this.#lastFetchFailed = false;
    this.#keys = createLocalJWKSet(jwks);
    this.#kids = new Set(jwks.keys.map((k) => k.kid ?? ''));
  }

  async verify(token: string): Promise<TokenClaims> {
    const now = this.#clock.now();
    const cacheKey = hash('sha256', token, 'base64url');
    const cached = this.#cache.get(cacheKey);
    if (cached) {
      if (cached.expiresAt > now - CLOCK_TOLERANCE_S * 1000) {
        this.stats.hits++;
        return cached;
      }
      this.#cache.delete(cacheKey);
    }
    this.stats.misses++;

    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRejected('not a JWT');
    }
    if (header.alg !== 'ES512')
      throw new TokenRejected(
        // Any JSON can sit there; String() of some objects throws.
        `algorithm ${typeof header.alg === 'string' ? header.alg : JSON.stringify(header.alg)} is not accepted`,
      );
    const kid = header.kid ?? '';
    const known = () => this.#keys !== undefined && this.#kids.has(kid);
    const refreshAfter = this.#lastFetchFailed ? REFRESH_AFTER_FAILURE_MS : REFRESH_ON_MISS_MS;
    if (!known() && now - this.#lastFetch >= refreshAfter) {
      await this.refreshKeys().catch((err: unknown) => {
        throw new KeysUnavailable('cannot fetch the signing keys from the Infra server', {
          cause: err,
        });
      });
    }
    const keys = this.#keys;
    if (!keys || !this.#kids.has(kid)) {
      // The key may be new, and the server could not be asked: not the holder's fault.
      if (this.#lastFetchFailed)
        throw new KeysUnavailable('the signing keys could not be fetched a moment ago');
      throw new TokenRejected('signed with a key the server does not publish');
    }

    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms: ['ES512'],
        audience: this.#audience,
        issuer: 'infra',
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new TokenRejected('expired');
      if (err instanceof errors.JWTClaimValidationFailed)
        throw new TokenRejected(`claim ${err.claim} is wrong`);
      throw new TokenRejected('invalid signature');
    }
    if (typeof payload.name !== 'string' || typeof payload.sid !== 'string') {
      throw new TokenRejected('missing name or sid');
    }
    const claims: TokenClaims = {
      userId: payload.sub!,
      name: payload.name,
      sessionId: payload.sid,
      expiresAt: payload.exp! * 1000,
    };
    this.#dropExpired(now);
    if (this.#cache.size >= MAX_CACHED_TOKENS) this.#evictExpired(now);
    this.#cache.set(cacheKey, claims);
    return claims;
  }

  /**
   * Drops expired tokens from the front of the cache (the oldest entries), stopping at the first
   * live one: tokens all live five minutes, so the front is roughly the first to expire. Without
   * this, expired tokens would stay until the cache is full, and the memory of a connector would
   * grow with every token it ever saw (each user gets a new one every few minutes).
   */
  #dropExpired(now: number): void {
    for (const [key, claims] of this.#cache) {
      if (claims.expiresAt > now - CLOCK_TOLERANCE_S * 1000) return;
      this.#cache.delete(key);
    }
  }

  /** How many verified tokens are cached (tests check the cache stays bounded). */
  get cachedTokens(): number {
    return this.#cache.size;
  }

  #evictExpired(now: number): void {
    for (const [key, claims] of this.#cache) {
      if (claims.expiresAt <= now - CLOCK_TOLERANCE_S * 1000) this.#cache.delete(key);
    }
    // Still full of live tokens: drop the oldest rather than grow without bound.
    if (this.#cache.size >= MAX_CACHED_TOKENS) this.#cache.delete(this.#cache.keys().next().value!);
  }
}
