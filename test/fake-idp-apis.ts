/**
 * Local stand-ins for the two group APIs the server calls, faithful to their documented
 * requests and responses:
 *
 * - Microsoft Graph `GET /v1.0/me/memberOf` (OData: `value[]` with `@odata.type` and
 *   `displayName`, paged by `@odata.nextLink`; 401 without a valid bearer token). The bearer
 *   token is checked the way a resource server would: against the provider's userinfo endpoint.
 * - Google: the OAuth token endpoint's JWT-bearer grant for a service account (RFC 7523: an RS256
 *   assertion with iss, sub, scope, aud, iat, exp) and the Admin Directory API
 *   `GET /admin/directory/v1/groups?userKey=` (`groups[]`, paged by `nextPageToken`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportPKCS8, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';

interface Running {
  url: string;
  close(): Promise<void>;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => Promise<void>,
): Promise<Running> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      handler(req, res, body).catch((err: unknown) => send(res, 500, { error: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
}

export interface FakeGraph extends Running {
  /** Directory objects per email: groups and, to be ignored, roles. */
  memberOf: Map<string, Array<{ type: 'group' | 'directoryRole'; displayName: string }>>;
  /** Answer every request with this status (403: permission not granted). */
  failWith?: number;
  /** Point next links elsewhere (a misbehaving or hijacked answer). */
  nextLinkOrigin?: string;
}

const GRAPH_PAGE = 2;

export async function startFakeGraph(userinfoUrl: string): Promise<FakeGraph> {
  const graph = { memberOf: new Map() } as FakeGraph;
  const running = await serve(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://graph');
    if (graph.failWith) return send(res, graph.failWith, { error: { code: 'Forbidden' } });
    if (req.method !== 'GET' || url.pathname !== '/v1.0/me/memberOf')
      return send(res, 404, { error: { code: 'Request_ResourceNotFound' } });
    const token = bearer(req);
    const who = token
      ? await fetch(userinfoUrl, { headers: { authorization: `Bearer ${token}` } })
      : undefined;
    if (!who?.ok)
      return send(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'token' } });
    const { email } = (await who.json()) as { email: string };
    const all = graph.memberOf.get(email) ?? [];
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
    const page = all.slice(skip, skip + GRAPH_PAGE);
    const next = skip + GRAPH_PAGE < all.length;
    send(res, 200, {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#directoryObjects',
      value: page.map((o, i) => ({
        '@odata.type': `#microsoft.graph.${o.type}`,
        id: `00000000-0000-0000-0000-${String(skip + i).padStart(12, '0')}`,
        displayName: o.displayName,
      })),
      ...(next && {
        '@odata.nextLink': `${graph.nextLinkOrigin ?? running.url}/v1.0/me/memberOf?$select=displayName&$skiptoken=${skip + GRAPH_PAGE}`,
      }),
    });
  });
  return Object.assign(graph, running);
}

export interface FakeGoogle extends Running {
  /** Group names per user email. */
  groups: Map<string, string[]>;
  /** The service account key JSON an admin downloads from Google Cloud. */
  serviceAccountKey: string;
  domainAdmin: string;
}

const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';

export async function startFakeGoogle(): Promise<FakeGoogle> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const clientEmail = 'infra-groups@test-project.iam.gserviceaccount.com';
  const google = { groups: new Map(), domainAdmin: 'admin@example.com' } as FakeGoogle;
  const tokens = new Set<string>();
  const running = await serve(async (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://google');
    if (req.method === 'POST' && url.pathname === '/token') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
        return send(res, 400, { error: 'unsupported_grant_type' });
      try {
        const { payload } = await jwtVerify(form.get('assertion') ?? '', publicKey as CryptoKey, {
          issuer: clientEmail,
          audience: `${running.url}/token`,
        });
        if (payload.scope !== DIRECTORY_SCOPE || payload.sub !== google.domainAdmin)
          return send(res, 400, { error: 'unauthorized_client' });
      } catch {
        return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT' });
      }
      const token = `ya29.${Math.random().toString(36).slice(2)}`;
      tokens.add(token);
      return send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3599 });
    }
    if (req.method === 'GET' && url.pathname === '/admin/directory/v1/groups') {
      if (!tokens.has(bearer(req) ?? ''))
        return send(res, 401, { error: { code: 401, message: 'Invalid Credentials' } });
      const names = google.groups.get(url.searchParams.get('userKey') ?? '') ?? [];
      const start = Number(url.searchParams.get('pageToken') ?? '0');
      const page = names.slice(start, start + 2);
      return send(res, 200, {
        kind: 'admin#directory#groups',
        groups: page.map((name, i) => ({
          kind: 'admin#directory#group',
          id: `group-${start + i}`,
          email: `${name.toLowerCase().replace(/\W+/g, '-')}@example.com`,
          name,
        })),
        ...(start + 2 < names.length && { nextPageToken: String(start + 2) }),
      });
    }
    send(res, 404, { error: { code: 404, message: 'Not Found' } });
  });
  google.serviceAccountKey = JSON.stringify({
    type: 'service_account',
    project_id: 'test-project',
    client_email: clientEmail,
    private_key: await exportPKCS8(privateKey),
    token_uri: `${running.url}/token`,
  });
  return Object.assign(google, running);
}
