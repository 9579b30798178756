import { importPKCS8, SignJWT } from 'jose';
import { isReservedGroupName } from '../../api/groups.js';
import { nameProblem, printable } from '../../shared/names.js';
import { IdpError, type IdpSecrets, type IdpSettings } from './provider.js';

const GRAPH_URL = 'https://graph.microsoft.com';
const DIRECTORY_URL = 'https://admin.googleapis.com';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';
/** Enough for users in thousands of groups; a loop of next links ends here. */
const MAX_PAGES = 50;

/**
 * Groups that come from an API rather than a claim: Azure AD through Microsoft Graph
 * (`/me/memberOf`, display names of groups) and Google Workspace through the Admin Directory API
 * (as a service account acting for a domain admin). Throws an IdpError when the API fails.
 */
export async function fetchGroups(
  p: IdpSettings,
  secrets: IdpSecrets,
  call: { accessToken: string; email: string; timeoutMs: number },
): Promise<ProviderGroups> {
  const names =
    p.kind === 'azure'
      ? await graphGroups(p.apiUrl ?? GRAPH_URL, call)
      : await directoryGroups(p, secrets, call);
  return validGroupNames(names);
}

/** The group names a provider gave: those that are group names here, and the others, and why. */
export interface ProviderGroups {
  groups: string[];
  /** Names skipped, spelled out for a log line (`\u{202E}`), each with the reason. */
  refused: string[];
}

/**
 * Sorts the names a provider reports by the API's rule for group names (`GroupName`): trimmed
 * and in NFC; at most 256 characters; nothing invisible, direction-changing or mixing scripts in
 * a word; not `system:…`.
 */
export function validGroupNames(names: unknown[]): ProviderGroups {
  const groups = new Set<string>();
  const refused: string[] = [];
  for (const n of names) {
    if (typeof n !== 'string') continue;
    const name = n.trim().normalize('NFC');
    if (name === '') continue;
    const problem =
      name.length > 256
        ? 'is longer than 256 characters'
        : isReservedGroupName(name)
          ? 'starts with system: (Kubernetes reserves those groups)'
          : nameProblem(name);
    if (problem) refused.push(`${printable(name.slice(0, 256))}: ${problem}`);
    else groups.add(name);
  }
  return { groups: [...groups].sort(), refused };
}

async function getJson(
  url: URL,
  init: RequestInit & { timeoutMs: number },
  what: string,
): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs) });
  if (!res.ok) {
    throw new IdpError(
      res.status >= 500 ? 'unreachable' : 'invalid',
      `${what} answered HTTP ${res.status}${res.status === 403 ? ' (missing permission?)' : ''}`,
    );
  }
  return (await res.json()) as Record<string, unknown>;
}

/** Follows `@odata.nextLink` only on the same origin, so the token goes nowhere else. */
async function graphGroups(
  base: string,
  call: { accessToken: string; timeoutMs: number },
): Promise<string[]> {
  const origin = new URL(base).origin;
  let url = new URL(`${base.replace(/\/$/, '')}/v1.0/me/memberOf?$select=displayName`);
  const names: string[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await getJson(
      url,
      { headers: { authorization: `Bearer ${call.accessToken}` }, timeoutMs: call.timeoutMs },
      'Microsoft Graph',
    );
    for (const item of (body.value as Array<Record<string, unknown>> | undefined) ?? []) {
      if (item['@odata.type'] === '#microsoft.graph.group' && typeof item.displayName === 'string')
        names.push(item.displayName);
    }
    const next = body['@odata.nextLink'];
    if (typeof next !== 'string') return names;
    // The token goes nowhere else; a list cut short is not the user's groups.
    if (new URL(next).origin !== origin)
      throw new IdpError('invalid', `Microsoft Graph sent a next page on another origin: ${next}`);
    url = new URL(next);
  }
  throw new IdpError('invalid', `Microsoft Graph listed more than ${MAX_PAGES} pages of groups`);
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri?: string;
}

function parseServiceAccountKey(json: string): ServiceAccountKey {
  let key: Partial<ServiceAccountKey>;
  try {
    key = JSON.parse(json) as Partial<ServiceAccountKey>;
  } catch {
    throw new IdpError('invalid', 'the Google service account key is not JSON');
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string')
    throw new IdpError(
      'invalid',
      'the Google service account key lacks client_email or private_key',
    );
  return key as ServiceAccountKey;
}

async function directoryGroups(
  p: IdpSettings,
  secrets: IdpSecrets,
  call: { email: string; timeoutMs: number },
): Promise<string[]> {
  // Without a service account Google says nothing about groups.
  if (!secrets.serviceAccountKey || !p.domainAdminEmail) return [];
  const key = parseServiceAccountKey(secrets.serviceAccountKey);
  const tokenUrl = key.token_uri ?? GOOGLE_TOKEN_URL;
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ scope: DIRECTORY_SCOPE })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(key.client_email)
    .setSubject(p.domainAdminEmail)
    .setAudience(tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(await importPKCS8(key.private_key, 'RS256'));
  const token = await getJson(
    new URL(tokenUrl),
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }),
      timeoutMs: call.timeoutMs,
    },
    'Google OAuth',
  );
  if (typeof token.access_token !== 'string')
    throw new IdpError('invalid', 'Google OAuth returned no access token');
  const base = (p.apiUrl ?? DIRECTORY_URL).replace(/\/$/, '');
  const names: string[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const url = new URL(`${base}/admin/directory/v1/groups`);
    url.searchParams.set('userKey', call.email);
    if (pageToken) url.searchParams.set('pageToken', pageToken);
    const body = await getJson(
      url,
      { headers: { authorization: `Bearer ${token.access_token}` }, timeoutMs: call.timeoutMs },
      'the Google Admin Directory API',
    );
    for (const g of (body.groups as Array<Record<string, unknown>> | undefined) ?? [])
      if (typeof g.name === 'string') names.push(g.name);
    pageToken = typeof body.nextPageToken === 'string' ? body.nextPageToken : undefined;
    if (!pageToken) return names;
  }
  throw new IdpError(
    'invalid',
    `the Google Directory API listed more than ${MAX_PAGES} pages of groups`,
  );
}
