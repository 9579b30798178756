import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { tlsHandshake } from '../../../test/http.js';
import { startPebble, type Pebble } from '../../../test/pebble.js';
import { startTestServer, type TestServer } from '../../../test/server.js';

const NAME = 'infra.acme.test';

async function servedCertificate(server: TestServer, until: (cert: X509Certificate) => boolean) {
  for (let i = 0; i < 300; i++) {
    const hs = await tlsHandshake(server.running.httpsPort, { servername: NAME });
    const cert = new X509Certificate(hs.certificate.raw);
    if (until(cert)) return cert;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server never served the expected certificate');
}

describe('ACME certificates (against pebble)', () => {
  let pebble: Pebble;
  let server: TestServer;
  before(async () => {
    pebble = await startPebble();
  });
  after(async () => {
    await server?.close();
    pebble.stop();
  });

  const settings = (renewBefore = '720h') => ({
    'addr.http': `127.0.0.1:${pebble.httpPort}`,
    'tls.hosts': [NAME],
    'tls.acme.enabled': true,
    'tls.acme.directoryUrl': pebble.directoryUrl,
    'tls.acme.caCertificate': pebble.apiCa,
    'tls.acme.email': 'admin@example.com',
    'tls.acme.renewBefore': renewBefore,
  });

  it('obtains a certificate through http-01 and serves it', async () => {
    server = await startTestServer({ settings: settings() });
    // Until ACME answers, the server serves its own certificate.
    const cert = await servedCertificate(
      server,
      (c) => !c.checkIssued(new X509Certificate(server.ca)),
    );
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${NAME}`));
    const root = new X509Certificate(await pebble.issuingRoot());
    const hs = await tlsHandshake(server.running.httpsPort, { servername: NAME });
    const intermediate = new X509Certificate(hs.certificate.issuerCertificate.raw);
    assert.ok(cert.checkIssued(intermediate), 'served leaf is signed by the chain it sends');
    assert.ok(intermediate.verify(root.publicKey), 'the chain leads to pebble’s root');
    assert.match(server.logs.text, /now serving a new TLS certificate, SHA-256 fingerprint/);
  });

  it('keeps the certificate across a restart instead of ordering a new one', async () => {
    const before = (await tlsHandshake(server.running.httpsPort, { servername: NAME })).certificate
      .fingerprint256;
    server = await server.restart();
    assert.equal(server.running.fingerprint, before);
    assert.doesNotMatch(server.logs.text, /requesting a certificate through ACME/);
  });

  it('renews when the certificate is within the renewal window', async () => {
    const before = server.running.fingerprint;
    server = await server.restart({ settings: settings('100000h') });
    const cert = await servedCertificate(server, (c) => c.fingerprint256 !== before);
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${NAME}`));
    assert.match(server.logs.text, /requesting a certificate through ACME/);
  });
});
