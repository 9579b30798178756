import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for HashiCorp Vault (there is no Vault build on our machines), faithful to the parts
 * of its HTTP API we call, as Vault 1.15 answers them:
 *
 * - every request needs `X-Vault-Token`; a missing or unknown token gets
 *   `403 {"errors":["permission denied"]}`; `X-Vault-Namespace` selects a namespace, and a
 *   token only works in the namespace it was made for;
 * - KV v2 at any mount: `GET|POST|PUT /v1/<mount>/data/<path>` (`{"data":{...}}`), the response
 *   wrapped as `{request_id, lease_id, renewable, lease_duration, data: {data, metadata}, ...}`,
 *   and `404 {"errors":[]}` for a path with no secret;
 * - transit at any mount: `POST keys/<name>` (aes256-gcm96), `POST keys/<name>/rotate`,
 *   `POST encrypt/<name>` (creates the key on first use, like Vault's upsert), and
 *   `POST decrypt/<name>`, with `associated_data`, `vault:v<N>:` ciphertexts (12-byte nonce,
 *   ciphertext, 16-byte tag, base64), `400 {"errors":["encryption key not found"]}` and
 *   `400 {"errors":["cipher: message authentication failed"]}`.
 *
 * Which mounts are KV and which transit is given at start (Vault knows it from its mount table);
 * other paths get `404 {"errors":["no handler for route \"<path>\". route entry not found."]}`.
 */
export interface FakeVault {
  address: string;
  /** Writes a KV v2 secret (a new version), as `vault kv put` does. */
  putSecret(
    path: string,
    data: Record<string, unknown>,
    options?: { namespace?: string; mount?: string },
  ): void;
  /** The requests seen, for tests that check headers. */
  requests: Array<{ method: string; path: string; namespace?: string; token?: string }>;
  close(): Promise<void>;
}

export interface FakeVaultOptions {
  /** token → namespace it belongs to ('' for the root namespace). */
  tokens: Record<string, string>;
  kvMounts?: string[];
  transitMounts?: string[];
}

interface KvEntry {
  versions: Array<{ data: Record<string, unknown>; created: string }>;
}

export async function startFakeVault(options: FakeVaultOptions): Promise<FakeVault> {
  const kvMounts = options.kvMounts ?? ['secret'];
  const transitMounts = options.transitMounts ?? ['transit'];
  const kv = new Map<string, KvEntry>();
  const keys = new Map<string, Buffer[]>();
  const requests: FakeVault['requests'] = [];

  const put = (key: string, data: Record<string, unknown>) => {
    const entry = kv.get(key) ?? { versions: [] };
    entry.versions.push({ data, created: new Date().toISOString() });
    kv.set(key, entry);
    return entry;
  };
  const metadata = (entry: KvEntry) => ({
    created_time: entry.versions.at(-1)!.created,
    custom_metadata: null,
    deletion_time: '',
    destroyed: false,
    version: entry.versions.length,
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      const wrap = (data: unknown) => ({
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data,
        wrap_info: null,
        warnings: null,
        auth: null,
      });
      const url = new URL(req.url ?? '/', 'http://vault');
      const token = req.headers['x-vault-token'] as string | undefined;
      const namespace = ((req.headers['x-vault-namespace'] as string | undefined) ?? '').replace(
        /^\/+|\/+$/g,
        '',
      );
      requests.push({ method: req.method ?? '', path: url.pathname, namespace, token });
      if (!url.pathname.startsWith('/v1/')) return send(404);
      if (token === undefined || options.tokens[token] !== namespace) {
        return send(403, { errors: ['permission denied'] });
      }
      let body: Record<string, unknown> = {};
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return send(400, { errors: ['failed to parse JSON input: invalid character'] });
        }
      }
      const apiPath = url.pathname.slice('/v1/'.length);
      const [mount, op, ...rest] = apiPath.split('/');
      const name = rest.join('/');
      const ns = (p: string) => `${namespace}|${mount}|${p}`;

      if (kvMounts.includes(mount!) && op === 'data' && name) {
        if (req.method === 'GET') {
          const entry = kv.get(ns(name));
          if (!entry) return send(404, { errors: [] });
          return send(200, wrap({ data: entry.versions.at(-1)!.data, metadata: metadata(entry) }));
        }
        if (req.method === 'POST' || req.method === 'PUT') {
          const data = body.data;
          if (typeof data !== 'object' || data === null) {
            return send(400, { errors: ['no data provided'] });
          }
          return send(200, wrap(metadata(put(ns(name), data as Record<string, unknown>))));
        }
        return send(405, { errors: [] });
      }

      if (transitMounts.includes(mount!) && req.method !== 'GET') {
        const keyName = op === 'keys' ? rest[0] : name;
        if (!keyName) return send(404, routeNotFound(apiPath));
        const keyId = ns(keyName);
        const aad = Buffer.from(
          typeof body.associated_data === 'string' ? body.associated_data : '',
          'base64',
        );
        if (op === 'keys' && rest.length === 1) {
          if (!keys.has(keyId)) keys.set(keyId, [randomBytes(32)]);
          return send(204);
        }
        if (op === 'keys' && rest.length === 2 && rest[1] === 'rotate') {
          const versions = keys.get(keyId);
          if (!versions) return send(400, { errors: ['key not found'] });
          versions.push(randomBytes(32));
          return send(204);
        }
        if (op === 'encrypt') {
          if (typeof body.plaintext !== 'string')
            return send(400, { errors: ['missing plaintext to encrypt'] });
          if (!keys.has(keyId)) keys.set(keyId, [randomBytes(32)]);
          const versions = keys.get(keyId)!;
          const nonce = randomBytes(12);
          const cipher = createCipheriv('aes-256-gcm', versions.at(-1)!, nonce);
          cipher.setAAD(aad);
          const out = Buffer.concat([
            nonce,
            cipher.update(Buffer.from(body.plaintext, 'base64')),
            cipher.final(),
            cipher.getAuthTag(),
          ]);
          return send(
            200,
            wrap({
              ciphertext: `vault:v${versions.length}:${out.toString('base64')}`,
              key_version: versions.length,
            }),
          );
        }
        if (op === 'decrypt') {
          const versions = keys.get(keyId);
          if (!versions) return send(400, { errors: ['encryption key not found'] });
          const m = /^vault:v(\d+):(.+)$/.exec(
            typeof body.ciphertext === 'string' ? body.ciphertext : '',
          );
          if (!m) return send(400, { errors: ['invalid ciphertext: no prefix'] });
          const key = versions[Number(m[1]) - 1];
          if (!key) return send(400, { errors: ['invalid key version'] });
          const raw = Buffer.from(m[2]!, 'base64');
          try {
            const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
            decipher.setAAD(aad);
            decipher.setAuthTag(raw.subarray(raw.length - 16));
            const plain = Buffer.concat([
              decipher.update(raw.subarray(12, raw.length - 16)),
              decipher.final(),
            ]);
            return send(200, wrap({ plaintext: plain.toString('base64') }));
          } catch {
            return send(400, { errors: ['cipher: message authentication failed'] });
          }
        }
      }
      return send(404, routeNotFound(apiPath));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `http://127.0.0.1:${port}`,
    requests,
    putSecret(path, data, o = {}) {
      put(`${o.namespace ?? ''}|${o.mount ?? kvMounts[0]}|${path}`, data);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function routeNotFound(path: string) {
  return { errors: [`no handler for route "${path}". route entry not found.`] };
}
