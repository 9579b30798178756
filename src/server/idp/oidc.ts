import type * as Oidc from 'openid-client';
import { fetchGroups, validGroupNames, type ProviderGroups } from './groups.js';
import { nameProblem, printable } from '../../shared/names.js';
import { IdpError, type IdpIdentity, type IdpSecrets, type IdpSettings } from './provider.js';

/** Every call to a provider gives up after this long. */
const TIMEOUT_SECONDS = 10;
const METADATA_TTL_MS = 60 * 60_000;

// openid-client (with its own jose) loads with the first provider that needs it: most servers
// have none, and it costs their start ~60 ms.
let loaded: typeof Oidc | undefined;
async function openidClient(): Promise<typeof Oidc> {
  return (loaded ??= await import('openid-client'));
}

export function defaultScopes(kind: IdpSettings['kind']): string[] {
  const scopes = ['openid', 'email', 'profile', 'offline_access'];
  return kind === 'okta' ? [...scopes, 'groups'] : scopes;
}

/**
 * What the authorization request adds so the provider issues a refresh token. OIDC Core §11: a
 * provider ignores `offline_access` unless the request also has `prompt=consent`, so a standard
 * provider (`oidc`) gets it. Google ignores the scope and wants `access_type=offline` (and the
 * consent prompt, or it issues a refresh token only at the first sign-in). Okta and Azure AD
 * issue one for the scope alone; forcing their consent screen would fail where user consent is
 * turned off.
 */
function offlineAccessParams(p: IdpSettings): Record<string, string> {
  if (p.kind === 'google') return { access_type: 'offline', prompt: 'consent' };
  if (p.kind === 'oidc' && p.scopes.includes('offline_access')) return { prompt: 'consent' };
  return {};
}

function isLoopbackUrl(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 5;) {
    chain.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return chain;
}

/** Sorts a failure from openid-client (or fetch) into what the caller should do about it. */
export function classifyIdpError(err: unknown, what: string): IdpError {
  if (err instanceof IdpError) return err;
  // Not loaded: nothing has asked a provider, so this is no openid-client error.
  if (loaded && err instanceof loaded.ResponseBodyError) {
    const detail = err.error_description ? `${err.error}: ${err.error_description}` : err.error;
    if (err.status >= 500) return new IdpError('unreachable', `${what}: ${detail}`, { cause: err });
    // Only invalid_grant speaks of this user's grant; a client misconfigured at the provider
    // (invalid_client, unauthorized_client) must not end everyone's sessions.
    const refused = err.error === 'invalid_grant';
    const client = err.error === 'invalid_client' || err.error === 'unauthorized_client';
    return new IdpError(refused ? 'refused' : 'invalid', `${what}: ${detail}`, {
      cause: err,
      problem: client ? 'client_refused' : undefined,
    });
  }
  for (const e of causes(err)) {
    const name = (e as { name?: string }).name;
    const code = (e as { code?: string }).code;
    if (name === 'TimeoutError' || name === 'AbortError')
      return new IdpError('unreachable', `${what}: no answer in ${TIMEOUT_SECONDS}s`, {
        cause: err,
      });
    if (e instanceof TypeError && e.message === 'fetch failed')
      return new IdpError('unreachable', `${what}: cannot connect`, { cause: err });
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_\w+)$/.test(code))
      return new IdpError('unreachable', `${what}: cannot connect (${code})`, { cause: err });
    if (e instanceof Response && e.status >= 500)
      return new IdpError('unreachable', `${what}: HTTP ${e.status}`, { cause: err });
    if (e instanceof Response)
      return new IdpError('invalid', `${what}: unexpected HTTP ${e.status}`, { cause: err });
  }
  const check = failedCheck(err);
  if (check)
    return new IdpError('invalid', `${what}: ${check}`, { cause: err, problem: 'check_failed' });
  const message = err instanceof Error ? err.message : String(err);
  return new IdpError('invalid', `${what}: ${message}`, { cause: err });
}

/**
 * Which check of the provider's answer failed, naming the claim (`aud`, `iss`, `nonce`, `exp`)
 * and what was expected: openid-client's own message says only "unexpected JWT claim value".
 */
function failedCheck(err: unknown): string | undefined {
  for (const e of causes(err)) {
    if (e instanceof Error && /signature verification failed/i.test(e.message))
      return 'the ID token signature does not verify with the provider’s published keys';
    const code = (e as { code?: unknown }).code;
    if (code !== 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' && code !== 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED')
      continue;
    // The innermost error names the claim; its cause holds the claim and what was expected.
    const detail = causes(e).find((c) => typeof (c as { claim?: unknown }).claim === 'string') as
      { claim: string; expected?: unknown; claims?: Record<string, unknown> } | undefined;
    if (!detail) continue;
    const got = detail.claims?.[detail.claim];
    const expected =
      detail.expected === undefined ? '' : `, expected ${JSON.stringify(detail.expected)}`;
    return `the ID token's "${detail.claim}" claim failed its check (it is ${JSON.stringify(got)}${expected})`;
  }
  return undefined;
}

/**
 * The OpenID Connect client side, over openid-client: discovery (cached an hour per issuer),
 * authorization URLs with PKCE, state and nonce, the code exchange and the refresh, each
 * followed by reading the identity and its groups. Holds no secrets between calls.
 */
export class OidcClient {
  readonly #metadata = new Map<string, { value: Oidc.ServerMetadata; at: number }>();
  readonly #now: () => number;

  constructor(opts: { now: () => number }) {
    this.#now = opts.now;
  }

  /** Fetches and checks the discovery document; throws an IdpError that says what is wrong. */
  async check(issuer: string, clientId: string): Promise<void> {
    await this.#serverMetadata(issuer, clientId, { fresh: true });
  }

  async #serverMetadata(
    issuer: string,
    clientId: string,
    opts: { fresh?: boolean } = {},
  ): Promise<Oidc.ServerMetadata> {
    const oidc = await openidClient();
    const cached = this.#metadata.get(issuer);
    if (!opts.fresh && cached && this.#now() - cached.at < METADATA_TTL_MS) return cached.value;
    const url = new URL(issuer);
    let config: Oidc.Configuration;
    try {
      config = await oidc.discovery(url, clientId, undefined, undefined, {
        execute: isLoopbackUrl(url) ? [oidc.allowInsecureRequests] : [],
        timeout: TIMEOUT_SECONDS,
      });
    } catch (err) {
      throw classifyIdpError(err, `OIDC discovery at ${issuer}/.well-known/openid-configuration`);
    }
    const value = config.serverMetadata();
    if (!value.authorization_endpoint || !value.token_endpoint || !value.jwks_uri)
      throw new IdpError(
        'invalid',
        `the discovery document of ${issuer} lacks an authorization, token or jwks endpoint`,
      );
    this.#metadata.set(issuer, { value, at: this.#now() });
    return value;
  }

  async #configuration(p: IdpSettings, clientSecret?: string): Promise<Oidc.Configuration> {
    const oidc = await openidClient();
    const metadata = await this.#serverMetadata(p.issuer, p.clientId);
    const config = new oidc.Configuration(metadata, p.clientId, clientSecret);
    if (isLoopbackUrl(new URL(p.issuer))) oidc.allowInsecureRequests(config);
    // Also verify ID token signatures from the token endpoint (TLS alone is not enough for us).
    oidc.enableNonRepudiationChecks(config);
    config.timeout = TIMEOUT_SECONDS;
    return config;
  }

  /**
   * Where to send the browser, asking for a refresh token the way the kind of provider wants
   * (`offlineAccessParams`).
   */
  async authorizationUrl(
    p: IdpSettings,
    checks: { redirectUri: string; state: string; nonce: string; codeVerifier: string },
  ): Promise<URL> {
    const oidc = await openidClient();
    const config = await this.#configuration(p);
    const params: Record<string, string> = {
      redirect_uri: checks.redirectUri,
      scope: p.scopes.join(' '),
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
      code_challenge_method: 'S256',
    };
    Object.assign(params, offlineAccessParams(p));
    return oidc.buildAuthorizationUrl(config, params);
  }

  /**
   * Exchanges a code for tokens, checking PKCE, state, nonce and the ID token (signature,
   * issuer, audience, expiry), then reads the email and groups.
   */
  async exchange(
    p: IdpSettings,
    secrets: IdpSecrets,
    callback: { redirectUri: string; code: string; state: string },
    checks: { nonce: string; codeVerifier: string },
  ): Promise<IdpIdentity> {
    const oidc = await openidClient();
    const config = await this.#configuration(p, secrets.clientSecret);
    const url = new URL(callback.redirectUri);
    url.searchParams.set('code', callback.code);
    url.searchParams.set('state', callback.state);
    // RFC 9207 guards against mixing up providers; the state is already bound to this provider
    // on the server, so the expected issuer is the one to report.
    if (config.serverMetadata().authorization_response_iss_parameter_supported)
      url.searchParams.set('iss', config.serverMetadata().issuer);
    let tokens: Oidc.TokenEndpointResponse & Oidc.TokenEndpointResponseHelpers;
    try {
      tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: callback.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw classifyIdpError(err, 'the code exchange');
    }
    return this.#identity(p, secrets, config, tokens, undefined);
  }

  /**
   * Uses a refresh token to learn whether the user may still sign in and what their groups are
   * now. A refusal (invalid_grant) means they were removed or disabled.
   */
  async refresh(
    p: IdpSettings,
    secrets: IdpSecrets,
    refreshToken: string,
    subject: string,
  ): Promise<IdpIdentity> {
    const oidc = await openidClient();
    const config = await this.#configuration(p, secrets.clientSecret);
    let tokens: Oidc.TokenEndpointResponse & Oidc.TokenEndpointResponseHelpers;
    try {
      tokens = await oidc.refreshTokenGrant(config, refreshToken);
    } catch (err) {
      throw classifyIdpError(err, 'the token refresh');
    }
    const identity = await this.#identity(p, secrets, config, tokens, subject);
    // Providers that do not rotate refresh tokens keep the old one valid.
    return { ...identity, refreshToken: identity.refreshToken ?? refreshToken };
  }

  async #identity(
    p: IdpSettings,
    secrets: IdpSecrets,
    config: Oidc.Configuration,
    tokens: Oidc.TokenEndpointResponse & Oidc.TokenEndpointResponseHelpers,
    knownSubject: string | undefined,
  ): Promise<IdpIdentity> {
    const oidc = await openidClient();
    let claims: Record<string, unknown> | undefined = tokens.claims();
    const subject = (claims?.sub as string | undefined) ?? knownSubject;
    if (subject === undefined) throw new IdpError('invalid', 'the provider returned no ID token');
    if (knownSubject !== undefined && subject !== knownSubject)
      throw new IdpError('invalid', 'the refreshed ID token is for another subject');
    let userinfo: Record<string, unknown> | undefined;
    const readUserinfo = async () => {
      if (userinfo || !config.serverMetadata().userinfo_endpoint) return userinfo;
      try {
        userinfo = await oidc.fetchUserInfo(config, tokens.access_token, subject);
      } catch (err) {
        throw classifyIdpError(err, 'the userinfo request');
      }
      return userinfo;
    };
    // A refresh need not return an ID token: the userinfo endpoint says the same things.
    claims ??= await readUserinfo();
    if (claims?.email === undefined && p.kind !== 'azure')
      claims = { ...claims, ...(await readUserinfo()) };
    const email = emailOf(p, claims ?? {});
    // Azure AD's tokens carry no email_verified; the sign-in name (UPN) of a single-tenant
    // issuer is set by the tenant's admins, not by the user.
    const emailVerified =
      claims?.email_verified === true ||
      claims?.email_verified === 'true' ||
      (p.kind === 'azure' && String(claims?.preferred_username ?? '').toLowerCase() === email);
    let groups: ProviderGroups | undefined;
    let groupsError: string | undefined;
    if (p.kind === 'azure' || p.kind === 'google') {
      try {
        groups = await fetchGroups(p, secrets, {
          accessToken: tokens.access_token,
          email,
          timeoutMs: TIMEOUT_SECONDS * 1000,
        });
      } catch (err) {
        // Sign-in still works; the groups stay as they were until the next sync.
        groupsError = classifyIdpError(err, 'reading groups').message;
      }
    } else {
      let value: unknown = tokens.claims()?.[p.groupsClaim];
      if (value === undefined) value = (await readUserinfo())?.[p.groupsClaim];
      groups = groupNames(value);
    }
    return {
      subject,
      email,
      emailVerified,
      groups: groups?.groups,
      refusedGroups: groups?.refused ?? [],
      groupsError,
      refreshToken: tokens.refresh_token,
    };
  }
}

/** The user's email: required, and verified unless the provider does not say. */
function emailOf(p: IdpSettings, claims: Record<string, unknown>): string {
  let claim = claims.email;
  // Azure AD puts the sign-in name in preferred_username and email only when configured.
  if (typeof claim !== 'string' && p.kind === 'azure') claim = claims.preferred_username;
  if (typeof claim !== 'string' || !/^[^\s@'"<>]+@[^\s@'"<>]+$/.test(claim) || claim.length > 254)
    throw new IdpError(
      'invalid',
      'the provider gave no usable email address for this user (request the email scope)',
      { problem: 'email_missing' },
    );
  // The same rule as names given through the API: nothing invisible, one script per word.
  const email = claim.normalize('NFC');
  const problem = nameProblem(email);
  if (problem)
    throw new IdpError(
      'invalid',
      `the provider gave an email address that ${problem}: ${printable(email)}`,
      { problem: 'email_missing' },
    );
  if (claims.email_verified === false || claims.email_verified === 'false')
    throw new IdpError('invalid', `the provider says ${email} is not verified`, {
      problem: 'email_unverified',
    });
  return email.toLowerCase();
}

/** A groups claim: an array of names (or one name); anything else is no groups. */
function groupNames(value: unknown): ProviderGroups {
  return validGroupNames(Array.isArray(value) ? value : value === undefined ? [] : [value]);
}
