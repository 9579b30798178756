/**
 * A real OpenID Connect provider for tests: `oidc-provider` on loopback, with accounts and
 * groups a test can change between steps, a way to take it down, and token-response tampering
 * (re-signed with the provider's own key) for the ID-token checks. `signIn` plays the browser:
 * it follows the authorization URL, signs in as an account, consents, and returns the URL the
 * provider redirects back to.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface Account {
  email: string;
  /** Default true; null leaves the claim out, as some providers do. */
  emailVerified?: boolean | null;
  groups: string[];
}

/** How the next token responses are altered (reset with `undefined`). */
export type Tamper = 'signature' | 'audience' | 'issuer' | 'nonce' | 'expired' | undefined;

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, Account>;
  tamper: Tamper;
  /** Plays the user's browser from the authorization URL to the redirect back. */
  signIn(authorizationUrl: string, accountId: string): Promise<URL>;
  /** Stops answering (connection refused) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const CLIENT_ID = 'infra';
const CLIENT_SECRET = 'infra-client-secret-for-tests';

export async function startTestIdp(
  opts: {
    redirectUris?: string[];
    /**
     * When a refresh token is issued: `scope` for the offline_access scope alone (as Okta and
     * Azure AD do); `spec` as OIDC Core §11 says, only when the request also has prompt=consent
     * (oidc-provider's own rule). Default `scope`.
     */
    refreshTokens?: 'scope' | 'spec';
  } = {},
): Promise<TestIdp> {
  const accounts = new Map<string, Account>();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const signingKey = await importJWK(jwk as JWK, 'RS256');

  // Reserve the port first: the issuer URL must be known before the provider exists.
  let server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: opts.redirectUris ?? ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          const current = accounts.get(sub) ?? account;
          return {
            sub,
            email: current.email,
            ...(current.emailVerified !== null && {
              email_verified: current.emailVerified ?? true,
            }),
            groups: current.groups,
          };
        },
      };
    },
    ...(opts.refreshTokens !== 'spec' && {
      async issueRefreshToken() {
        return true;
      },
    }),
  });
  // The CLI's loopback redirect may use any port (RFC 8252 §7.3); oidc-provider allows that
  // only for native clients, which cannot also have the dashboard's https redirect.
  const clientPrototype = provider.Client.prototype as unknown as {
    redirectUriAllowed(uri: string): boolean;
  };
  const exact = clientPrototype.redirectUriAllowed;
  clientPrototype.redirectUriAllowed = function (this: unknown, uri: string) {
    const u = new URL(uri);
    if (u.protocol === 'http:' && u.hostname === '127.0.0.1') u.port = '';
    return exact.call(this, u.href);
  };

  const idp: TestIdp = {
    issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    accounts,
    tamper: undefined,
    signIn: (url, accountId) => signIn(provider, url, accountId),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start() {
      server = createServer(handler);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    close: () => idp.stop(),
  };

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || idp.tamper === undefined || ctx.status !== 200) return;
    const body = ctx.body as { id_token?: string };
    if (!body.id_token) return;
    if (idp.tamper === 'signature') {
      const [h, p, s] = body.id_token.split('.') as [string, string, string];
      body.id_token = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
      return;
    }
    const claims = decodeJwt(body.id_token);
    const now = Math.floor(Date.now() / 1000);
    if (idp.tamper === 'audience') claims.aud = 'someone-else';
    if (idp.tamper === 'issuer') claims.iss = 'https://impostor.example.com';
    if (idp.tamper === 'nonce') claims.nonce = 'a-nonce-from-another-sign-in';
    if (idp.tamper === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
    body.id_token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .sign(signingKey);
  });

  const callback = provider.callback();
  const handler = (req: Parameters<typeof callback>[0], res: Parameters<typeof callback>[1]) => {
    const m = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
    if (!m) return void callback(req, res);
    void finishInteraction(provider, req, res).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  };
  await idp.start();
  return idp;
}

/** The pending sign-in's account, by interaction uid: set by `signIn` before it follows. */
const pendingAccount = new Map<string, string>();

async function finishInteraction(
  provider: Provider,
  req: Parameters<Provider['interactionDetails']>[0],
  res: Parameters<Provider['interactionDetails']>[1],
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const accountId = pendingAccount.get(details.uid);
  if (details.prompt.name === 'login') {
    if (!accountId) throw new Error('no account chosen for this sign-in');
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId } },
      {
        mergeWithLastSubmission: false,
      },
    );
    return;
  }
  const grant = new provider.Grant({
    accountId: details.session!.accountId,
    clientId: details.params.client_id as string,
  });
  grant.addOIDCScope(String(details.params.scope));
  grant.addOIDCClaims(['email', 'email_verified', 'groups']);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId } },
    {
      mergeWithLastSubmission: true,
    },
  );
}

/** Follows redirects by hand with a cookie jar, as a browser would, until the app's callback. */
async function signIn(provider: Provider, start: string, accountId: string): Promise<URL> {
  const issuer = new URL(provider.issuer);
  const jar = new Map<string, string>();
  let url = new URL(start);
  for (let hop = 0; hop < 10; hop++) {
    if (url.origin !== issuer.origin) return url;
    const m = /^\/interaction\/([^/?]+)/.exec(url.pathname);
    if (m) pendingAccount.set(m[1]!, accountId);
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`the provider answered ${res.status}: ${await res.text()}`);
    url = new URL(location, url);
  }
  throw new Error('too many redirects at the provider');
}
