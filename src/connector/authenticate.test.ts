import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SignJWT,
  UnsecuredJWT,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { TestClock } from '../../test/clock.js';
import {
  CLOCK_TOLERANCE_S,
  KeysUnavailable,
  TokenRejected,
  TokenVerifier,
} from './authenticate.js';

const clock = new TestClock(1_800_000_000_000);

async function signingKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES512', { extractable: true });
  return {
    kid,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES512', use: 'sig' } as JWK,
  };
}

function token(
  key: { kid: string; privateKey: CryptoKey },
  claims: Record<string, unknown> = {},
  aud = 'prod',
  alg = 'ES512',
) {
  const iat = Math.floor(clock.now() / 1000);
  return new SignJWT({ name: 'alice@example.com', sid: 'key_1', ...claims })
    .setProtectedHeader({ alg, kid: key.kid })
    .setIssuer('infra')
    .setSubject('usr_1')
    .setAudience(aud)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + 300)
    .sign(key.privateKey);
}
type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('TokenVerifier', async () => {
  const current = await signingKey('k1');
  let published: JSONWebKeySet = { keys: [current.jwk] };
  let fetches = 0;
  let serverAway = false;
  const verifier = new TokenVerifier({
    audience: 'prod',
    clock,
    fetchJwks: async () => {
      fetches++;
      if (serverAway) throw new Error('connect ECONNREFUSED 127.0.0.1:4443');
      return published;
    },
  });

  it('accepts a token signed by a published key, for this destination', async () => {
    const claims = await verifier.verify(await token(current));
    assert.deepEqual(claims, {
      userId: 'usr_1',
      name: 'alice@example.com',
      sessionId: 'key_1',
      expiresAt: (Math.floor(clock.now() / 1000) + 300) * 1000,
    });
  });

  it('verifies a token once, then answers from its cache until it expires', async () => {
    const t = await token(current);
    const before = { ...verifier.stats };
    await verifier.verify(t);
    await verifier.verify(t);
    await verifier.verify(t);
    assert.deepEqual(verifier.stats, { hits: before.hits + 2, misses: before.misses + 1 });
    clock.advance(361_000);
    await assert.rejects(
      verifier.verify(t),
      (err: Error) => err instanceof TokenRejected && err.message === 'expired',
    );
  });

  it(`takes a token up to ${CLOCK_TOLERANCE_S} s past its expiry (clock skew), and no later`, async () => {
    const [cached, late, never] = [
      await token(current),
      await token(current),
      await token(current),
    ];
    await verifier.verify(cached);
    clock.advance((300 + CLOCK_TOLERANCE_S - 1) * 1000);
    await verifier.verify(cached);
    await verifier.verify(late);
    clock.advance(2000);
    // From the cache, or checked for the first time: the same limit.
    for (const t of [cached, late, never]) {
      await assert.rejects(
        verifier.verify(t),
        (err: Error) => err instanceof TokenRejected && err.message === 'expired',
      );
    }
  });

  it('refuses other destinations, other keys, alg none, HS512 and tampering', async () => {
    const rejects = async (t: string, message: RegExp) =>
      assert.rejects(
        verifier.verify(t),
        (err: Error) => err instanceof TokenRejected && message.test(err.message),
      );
    await rejects(await token(current, {}, 'staging'), /claim aud/);
    const stranger = await signingKey('k1');
    await rejects(await token(stranger), /invalid signature/);
    const unknownKid = await signingKey('k-unknown');
    await rejects(await token(unknownKid), /key the server does not publish/);
    await rejects(
      new UnsecuredJWT({ name: 'alice', sid: 'x', sub: 'usr_1', aud: 'prod' }).encode(),
      /algorithm none/,
    );
    const hs = await new SignJWT({ name: 'alice', sid: 'x' })
      .setProtectedHeader({ alg: 'HS512', kid: 'k1' })
      .setSubject('usr_1')
      .setAudience('prod')
      .sign(new TextEncoder().encode(JSON.stringify(current.jwk)));
    await rejects(hs, /algorithm HS512/);
    const good = await token(current);
    const [h, p, sig] = good.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(p!, 'base64url').toString()),
        name: 'admin@example.com',
      }),
    ).toString('base64url');
    await rejects(`${h}.${forgedPayload}.${sig}`, /invalid signature/);
    await rejects('not a token', /not a JWT/);
    await rejects(await token(current, { sid: undefined }), /missing name or sid/);
  });

  it('fetches the JWKS again for a key it does not know (a rotation), at most every ten seconds', async () => {
    const next = await signingKey('k2');
    published = { keys: [current.jwk, next.jwk] };
    clock.advance(10_000);
    const before = fetches;
    await verifier.verify(await token(next));
    assert.equal(fetches, before + 1);
    const unknown = await signingKey('k3');
    await assert.rejects(verifier.verify(await token(unknown)));
    await assert.rejects(verifier.verify(await token(unknown)));
    assert.equal(fetches, before + 1, 'junk key ids do not hammer the server');
  });

  it('while the server is away, a new key is unavailable (not refused) and asked for each second', async () => {
    const next = await signingKey('k4');
    const signed = await token(next);
    serverAway = true;
    clock.advance(10_000);
    const before = fetches;
    await assert.rejects(verifier.verify(signed), (err: Error) => {
      assert.ok(err instanceof KeysUnavailable);
      assert.match((err.cause as Error).message, /ECONNREFUSED/);
      return true;
    });
    clock.advance(500);
    await assert.rejects(verifier.verify(signed), KeysUnavailable);
    assert.equal(fetches, before + 1, 'no second fetch within a second');
    // Back, with the key published during the outage: taken at the next attempt.
    serverAway = false;
    published = { keys: [current.jwk, next.jwk] };
    clock.advance(500);
    assert.equal((await verifier.verify(signed)).userId, 'usr_1');
    assert.equal(fetches, before + 2);
    // Answering again, the server is asked about unknown keys every ten seconds only.
    clock.advance(1000);
    await assert.rejects(verifier.verify(await token(await signingKey('k5'))), TokenRejected);
    assert.equal(fetches, before + 2);
  });
});

describe('TokenVerifier cache', () => {
  it('forgets expired tokens as new ones arrive: memory follows the users of the last minutes', async () => {
    const key = await signingKey('c1');
    const verifier = new TokenVerifier({
      audience: 'prod',
      clock,
      fetchJwks: async () => ({ keys: [key.jwk] }),
    });
    // 50 tokens (sessions), each verified (and cached) once.
    for (let i = 0; i < 50; i++) {
      await verifier.verify(await token(key, { sid: `ses_${i}` }));
    }
    assert.equal(verifier.cachedTokens, 50);
    // Five minutes later they have all expired; the next user's token pushes them out.
    clock.advance(300_000 + CLOCK_TOLERANCE_S * 1000 + 1000);
    const fresh = await token(key, { sid: 'ses_new' });
    assert.equal((await verifier.verify(fresh)).sessionId, 'ses_new');
    assert.equal(verifier.cachedTokens, 1);
    // The cached one still answers.
    assert.equal((await verifier.verify(fresh)).sessionId, 'ses_new');
    assert.equal(verifier.stats.hits, 1);
  });
});
