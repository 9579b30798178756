import { X509Certificate } from 'node:crypto';
import { connect, type DetailedPeerCertificate } from 'node:tls';

function toPem(der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * The certificate chain a TLS server presents, leaf first, as PEM. The handshake is not
 * verified and nothing is sent over the connection: this only looks, so that the caller can
 * decide whether to trust what it saw (a pinned fingerprint, or a person's answer).
 */
export function fetchCertificateChain(url: string, timeoutMs = 10_000): Promise<string[]> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || 443),
      servername: /^[\d.]+$|:/.test(u.hostname) ? undefined : u.hostname,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const chain: string[] = [];
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (cert?.raw && !chain.includes(toPem(cert.raw))) {
        chain.push(toPem(cert.raw));
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
    socket.once('timeout', () =>
      socket.destroy(new Error(`no TLS answer from ${u.host} within ${timeoutMs} ms`)),
    );
    socket.once('error', reject);
  });
}

/** SHA-256 fingerprint of a PEM certificate: `AB:CD:…`. */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Trust pinned by fingerprint: fetches the server's chain, finds the certificate with the
 * fingerprint, and follows it up the chain, checking each signature, to a self-signed root. That
 * root is what to trust as the CA afterwards (so a server certificate re-issued by the same CA
 * stays trusted). A chain that does not lead from the pinned certificate to a root by valid
 * signatures is refused: trusting a root the server merely sent would let anyone in the middle
 * send their own.
 */
export async function trustByFingerprint(url: string, fingerprint: string): Promise<string> {
  const chain = (await fetchCertificateChain(url)).map((pem) => ({
    pem,
    cert: new X509Certificate(pem),
  }));
  const wanted = fingerprint.toUpperCase();
  let current = chain.find((c) => c.cert.fingerprint256 === wanted);
  if (!current) {
    const seen = chain[0]?.cert.fingerprint256 ?? 'none';
    throw new Error(
      `the server at ${new URL(url).host} presents a certificate with SHA-256 fingerprint ${seen}, not the trusted ${wanted}`,
    );
  }
  const signedBy = (child: X509Certificate, parent: X509Certificate) =>
    child.checkIssued(parent) && child.verify(parent.publicKey);
  for (let steps = 0; !signedBy(current.cert, current.cert); steps++) {
    const issuer = chain.find((c) => c !== current && signedBy(current!.cert, c.cert));
    if (!issuer || steps > 8) {
      throw new Error(
        `the server at ${new URL(url).host} does not send the CA of its certificate; trust it with its CA certificate instead of a fingerprint`,
      );
    }
    current = issuer;
  }
  return current.pem;
}
