import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { createServer, type Server } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startConnectProxy } from '../../test/connect-proxy.js';
import {
  createCertificateAuthority,
  issueServerCertificate,
  type KeyPairPem,
} from './tls/certificates.js';
import {
  certificateFingerprint,
  fetchCertificateChain,
  fingerprintProblem,
  parseFingerprint,
  trustByFingerprint,
} from './trust.js';

async function tlsServer(cert: string, key: string): Promise<{ url: string; server: Server }> {
  const server = createServer({ cert, key }, (socket) =>
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

function get(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('trustByFingerprint', () => {
  let ca: KeyPairPem;
  let leaf: KeyPairPem;
  let real: { url: string; server: Server };
  let attacker: { url: string; server: Server };

  before(async () => {
    ca = await createCertificateAuthority(Date.now());
    leaf = await issueServerCertificate(ca, ['127.0.0.1', 'localhost'], Date.now(), 30);
    real = await tlsServer(leaf.certificate + ca.certificate, leaf.privateKey);
    // Someone in the middle: their own CA and certificate, plus copies of the real (public)
    // certificates appended to their chain.
    const evilCa = await createCertificateAuthority(Date.now(), 'Evil CA');
    const evilLeaf = await issueServerCertificate(evilCa, ['127.0.0.1'], Date.now(), 30);
    attacker = await tlsServer(
      evilLeaf.certificate + evilCa.certificate + leaf.certificate + ca.certificate,
      evilLeaf.privateKey,
    );
  });
  after(() => {
    real.server.close();
    attacker.server.close();
  });

  it('reads the chain the server presents, leaf first', async () => {
    const chain = await fetchCertificateChain(real.url);
    assert.deepEqual(chain.map(certificateFingerprint), [
      certificateFingerprint(leaf.certificate),
      certificateFingerprint(ca.certificate),
    ]);
  });

  it('reads the chain through HTTPS_PROXY when one is set (a connector behind an egress proxy)', async () => {
    const proxy = await startConnectProxy();
    try {
      const chain = await fetchCertificateChain(real.url, 5_000, { HTTPS_PROXY: proxy.url });
      assert.equal(chain.length, 2);
      assert.deepEqual(proxy.targets, [new URL(real.url).host]);
      // NO_PROXY naming the host goes straight there.
      await fetchCertificateChain(real.url, 5_000, {
        HTTPS_PROXY: proxy.url,
        NO_PROXY: '127.0.0.1',
      });
      assert.equal(proxy.targets.length, 1);
    } finally {
      await proxy.close();
    }
  });

  it('trusts the CA of a pinned certificate or a pinned CA, and the server verifies with it', async () => {
    for (const pinned of [leaf.certificate, ca.certificate]) {
      const trusted = await trustByFingerprint(real.url, certificateFingerprint(pinned));
      assert.equal(certificateFingerprint(trusted), certificateFingerprint(ca.certificate));
      assert.equal(await get(real.url, trusted), 200);
    }
    // Spelled as sha256sum prints it.
    const plain = certificateFingerprint(leaf.certificate).replaceAll(':', '').toLowerCase();
    const trusted = await trustByFingerprint(real.url, plain);
    assert.equal(certificateFingerprint(trusted), certificateFingerprint(ca.certificate));
  });

  it('refuses a server whose certificates do not match', async () => {
    const actual = certificateFingerprint(ca.certificate);
    // Another first byte (the actual one may itself be AA).
    const first = actual.startsWith('AA') ? 'BB' : 'AA';
    await assert.rejects(
      trustByFingerprint(real.url, `${first}${actual.slice(2)}`),
      new RegExp(`presents a certificate with SHA-256 fingerprint .+, not the trusted ${first}:`),
    );
  });

  it('never trusts what someone in the middle sends along with copies of the real certificates', async () => {
    for (const pinned of [leaf.certificate, ca.certificate]) {
      // Either the pinned certificate is not in the chain the handshake proves, or trusting its CA
      // makes the real connection fail: never a request the attacker can read.
      await assert.rejects(async () => {
        const trusted = await trustByFingerprint(attacker.url, certificateFingerprint(pinned));
        await get(attacker.url, trusted);
      }, /not the trusted|unable to verify|self.signed/i);
    }
  });
});

describe('parseFingerprint', () => {
  let pem: string;
  let canonical: string;
  const run = (cmd: string, args: string[], input: string | Buffer) =>
    execFileSync(cmd, args, { input }).toString().trim();

  before(async () => {
    pem = (await createCertificateAuthority(Date.now())).certificate;
    canonical = certificateFingerprint(pem);
  });

  it('takes the SHA-256 fingerprint as openssl, sha256sum, the server log or a person writes it', () => {
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const hex = canonical.replaceAll(':', '').toLowerCase();
    const spellings = [
      canonical,
      run('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], pem), // sha256 Fingerprint=AB:…
      run('sha256sum', [], der).split(/\s/)[0]!, // lower case, no colons
      canonical.toLowerCase(),
      hex.toUpperCase(),
      `sha256:${hex}`,
      `SHA256 Fingerprint=${canonical}`,
      ` ${canonical.replaceAll(':', ' ')}\n`,
    ];
    assert.match(spellings[1]!, /^sha256 Fingerprint=/i);
    assert.equal(spellings[2], hex);
    for (const s of spellings) assert.equal(parseFingerprint(s), canonical, s);
  });

  it('refuses anything that is not 64 hex digits, naming a SHA-1 fingerprint for what it is', () => {
    const sha1 = run('openssl', ['x509', '-noout', '-fingerprint', '-sha1'], pem);
    for (const bad of [
      canonical.slice(3),
      `${canonical}:00`,
      canonical.replace(/^../, 'ZZ'),
      '',
      'sha256:',
      sha1,
    ])
      assert.equal(parseFingerprint(bad), undefined, bad);
    assert.equal(
      fingerprintProblem(canonical.slice(3)),
      'must be a SHA-256 fingerprint: 64 hex digits, with or without colons (AB:CD:… as the server logs it)',
    );
    assert.equal(
      fingerprintProblem(sha1),
      'must be a SHA-256 fingerprint: 64 hex digits, with or without colons (AB:CD:… as the server logs it); this is 40, a SHA-1 fingerprint: `openssl x509 -noout -fingerprint -sha256` prints the SHA-256 one',
    );
  });
});
