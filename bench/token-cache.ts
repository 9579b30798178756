/**
 * Memory of the connector's token cache (TokenVerifier, in this process): N distinct users'
 * tokens verified once each, then the same after their five minutes are over and N new ones
 * arrived (each user's next token), as a connector sees them hour after hour.
 *
 *   node --expose-gc --import tsx bench/token-cache.ts [users=10000] [rounds=6] [source tree]
 *
 * With a source tree (a checkout of another commit), its TokenVerifier is measured instead.
 */
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import path from 'node:path';
import type { TokenVerifier as Verifier } from '../src/connector/authenticate.js';
import { TestClock } from '../test/clock.js';

const users = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 6);
const tree = path.resolve(process.argv[4] ?? path.join(import.meta.dirname, '..'));
const { TokenVerifier } = (await import(path.join(tree, 'src/connector/authenticate.ts'))) as {
  TokenVerifier: typeof Verifier;
};
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heap = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

const clock = new TestClock();
const { privateKey, publicKey } = await generateKeyPair('ES512');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES512' };
const verifier = new TokenVerifier({
  audience: 'prod',
  clock,
  fetchJwks: async () => ({ keys: [jwk] }),
});
await verifier.refreshKeys();

async function tokensOfRound(round: number): Promise<string[]> {
  const iat = Math.floor(clock.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < users; i++) {
    out.push(
      await new SignJWT({ name: `user${i}@example.com`, sid: `ses_${round}_${i}` })
        .setProtectedHeader({ alg: 'ES512', kid: 'k1' })
        .setIssuer('infra')
        .setSubject(`usr_${String(i).padStart(20, '0')}`)
        .setAudience('prod')
        .setIssuedAt(iat)
        .setExpirationTime(iat + 300)
        .sign(privateKey),
    );
  }
  return out;
}

const base = heap();
for (let round = 1; round <= rounds; round++) {
  // The tokens themselves are garbage once verified: only the cache keeps anything.
  for (const t of await tokensOfRound(round)) await verifier.verify(t);
  const after = heap();
  console.log(
    `round ${round}: ${users} new tokens verified once; heap ${((after - base) / 2 ** 20).toFixed(1)} MiB over the start (${verifier.cachedTokens ?? '?'} cached)`,
  );
  // Five minutes and a bit later, every user asks with a new token.
  clock.advance(310_000);
}
