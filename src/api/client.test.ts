import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../shared/tls/certificates.js';
import { createApiClient } from './client.js';

describe('createApiClient', () => {
  let server: Server;
  let url: string;
  let ca: string;
  const open = new Set<Socket>();

  before(async () => {
    const authority = await createCertificateAuthority(Date.now());
    const leaf = await issueServerCertificate(authority, ['127.0.0.1'], Date.now(), 30);
    ca = authority.certificate;
    server = createServer({ cert: leaf.certificate, key: leaf.privateKey }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [] }));
    });
    server.on('secureConnection', (socket: Socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('keeps its connection for the next request, and closes it when its signal aborts', async () => {
    const abort = new AbortController();
    const client = createApiClient({ baseUrl: url, ca, signal: abort.signal });
    await client.getJwks();
    await client.getJwks();
    assert.equal(open.size, 1, 'one kept-alive connection for both requests');
    abort.abort();
    for (let i = 0; i < 200 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(open.size, 0, 'a stopped client leaves no connection open to the server');
  });
});
