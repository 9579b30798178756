import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawRequest, tlsHandshake } from '../../test/http.js';
import { startTestServer, type TestServer } from '../../test/server.js';

describe('infra server TLS', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      settings: { 'tls.hosts': ['infra.example.test', '10.1.2.3'] },
    });
  });
  after(() => server.close());

  it('serves HTTPS by default with a certificate from its own CA', async () => {
    const res = await rawRequest(`${server.url}/healthz`, { ca: server.ca });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok\n');
    const hs = await tlsHandshake(server.running.httpsPort, { ca: server.ca });
    assert.equal(hs.authorized, true);
  });

  it('covers localhost, 127.0.0.1, ::1 and the configured names', async () => {
    const pem = readFileSync(path.join(server.stateDir, 'tls', 'server.crt'), 'utf8');
    const cert = new X509Certificate(pem);
    assert.equal(
      cert.subjectAltName,
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:infra.example.test, IP Address:10.1.2.3',
    );
    assert.ok(cert.checkIssued(new X509Certificate(server.ca)));
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  });

  it('logs the SHA-256 fingerprint of the certificate it serves', async () => {
    const hs = await tlsHandshake(server.running.httpsPort, {});
    assert.equal(hs.certificate.fingerprint256, server.running.fingerprint);
    assert.match(
      server.logs.text,
      new RegExp(`TLS certificate SHA-256 fingerprint ${server.running.fingerprint}`),
    );
  });

  it('keeps private keys readable by the owner only', () => {
    for (const f of ['ca.key', 'server.key']) {
      assert.equal(statSync(path.join(server.stateDir, 'tls', f)).mode & 0o777, 0o600, f);
    }
    assert.equal(statSync(server.stateDir).mode & 0o077, 0);
  });

  it('refuses TLS 1.1 and accepts TLS 1.2 and 1.3', async () => {
    await assert.rejects(
      tlsHandshake(server.running.httpsPort, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
      /alert protocol version/,
    );
    assert.equal(
      (await tlsHandshake(server.running.httpsPort, { maxVersion: 'TLSv1.2' })).protocol,
      'TLSv1.2',
    );
    assert.equal((await tlsHandshake(server.running.httpsPort, {})).protocol, 'TLSv1.3');
  });

  it('serves the same certificate after a restart', async () => {
    const fingerprint = server.running.fingerprint;
    server = await server.restart();
    assert.equal(server.running.fingerprint, fingerprint);
    assert.equal(
      (await tlsHandshake(server.running.httpsPort, {})).certificate.fingerprint256,
      fingerprint,
    );
  });

  it('re-issues the certificate from the same CA when a host name is added', async () => {
    const ca = server.ca;
    const old = server.running.fingerprint;
    server = await server.restart({
      settings: { 'tls.hosts': ['infra.example.test', '10.1.2.3', 'new.example.test'] },
    });
    assert.notEqual(server.running.fingerprint, old);
    assert.equal(server.ca, ca);
    const hs = await tlsHandshake(server.running.httpsPort, { ca, servername: 'new.example.test' });
    assert.equal(hs.authorized, true);
  });
});

describe('infra server with a configured certificate', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-custom-cert-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const otherKey = path.join(dir, 'other.pem');
  execFileSync(
    'openssl',
    ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', otherKey],
    {
      stdio: 'ignore',
    },
  );

  it('serves it instead of generating one', async () => {
    const server = await startTestServer({
      settings: { 'tls.certificate': cert, 'tls.privateKey': `file:${key}` },
    });
    try {
      const pem = readFileSync(cert, 'utf8');
      const expected = new X509Certificate(pem).fingerprint256;
      assert.equal(server.running.fingerprint, expected);
      const res = await rawRequest(`${server.url}/healthz`, { ca: pem });
      assert.equal(res.status, 200);
      assert.equal((await tlsHandshake(server.running.httpsPort, { ca: pem })).authorized, true);
    } finally {
      await server.close();
    }
  });

  it('accepts the certificate as PEM text', async () => {
    const pem = readFileSync(cert, 'utf8');
    const server = await startTestServer({
      settings: { 'tls.certificate': pem, 'tls.privateKey': `file:${key}` },
    });
    try {
      assert.equal(server.running.fingerprint, new X509Certificate(pem).fingerprint256);
    } finally {
      await server.close();
    }
  });

  it('refuses a key that does not belong to the certificate', async () => {
    await assert.rejects(
      startTestServer({
        settings: { 'tls.certificate': cert, 'tls.privateKey': `file:${otherKey}` },
      }),
      {
        message:
          'tls.privateKey does not belong to the first certificate in tls.certificate; check that the key and certificate files are a pair',
      },
    );
  });

  it('refuses TLS 1.2 when tls.minVersion is TLSv1.3', async () => {
    const server = await startTestServer({ settings: { 'tls.minVersion': 'TLSv1.3' } });
    try {
      await assert.rejects(
        tlsHandshake(server.running.httpsPort, { maxVersion: 'TLSv1.2' }),
        /protocol version/i,
      );
      assert.equal((await tlsHandshake(server.running.httpsPort, {})).protocol, 'TLSv1.3');
    } finally {
      await server.close();
    }
  });
});
