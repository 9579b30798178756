import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { connectThroughProxy, proxyFor } from './https-proxy.js';

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
 * decide whether to trust what it saw (a pinned fingerprint, or a person's answer). It goes
 * through HTTPS_PROXY as every other request to the server does (`env` is for tests).
 */
export async function fetchCertificateChain(
  url: string,
  timeoutMs = 10_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 443);
  const proxy = proxyFor(u, env);
  const socket = proxy ? await connectThroughProxy(proxy, host, port, timeoutMs) : undefined;
  return new Promise((resolve, reject) => {
    const tls = connect({
      host,
      port,
      socket,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    tls.once('secureConnect', () => {
      const chain: string[] = [];
      let cert: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
      while (cert?.raw && !chain.includes(toPem(cert.raw))) {
        chain.push(toPem(cert.raw));
        cert = cert.issuerCertificate;
      }
      tls.destroy();
      resolve(chain);
    });
    tls.once('timeout', () =>
      tls.destroy(new Error(`no TLS answer from ${u.host} within ${timeoutMs} ms`)),
    );
    tls.once('error', reject);
  });
}

// A label copied along with the digits: `sha256:`, OpenSSL's `sha256 Fingerprint=`.
const LABEL = /^(sha-?256|sha1)?(\s*fingerprint)?\s*[:=]\s*/i;

/**
 * A SHA-256 fingerprint as people copy it, in the form the server logs and Node prints
 * (`AB:CD:…`, upper case): with or without colons (or spaces), in any case, with or without a
 * `sha256:` or `sha256 Fingerprint=` label. Undefined unless it is 64 hex digits.
 */
export function parseFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(LABEL, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-f]{64}$/i.test(hex)) return undefined;
  return hex.toUpperCase().match(/../g)!.join(':');
}

/** What is wrong with a fingerprint `parseFingerprint` refused, as the end of a sentence. */
export function fingerprintProblem(text: string): string {
  const hex = text.trim().replace(LABEL, '').replace(/[:\s]/g, '');
  const sha1 = /^[0-9a-f]{40}$/i.test(hex)
    ? '; this is 40, a SHA-1 fingerprint: `openssl x509 -noout -fingerprint -sha256` prints the SHA-256 one'
    : '';
  return `must be a SHA-256 fingerprint: 64 hex digits, with or without colons (AB:CD:… as the server logs it)${sha1}`;
}

/** SHA-256 fingerprint of a PEM certificate: `AB:CD:…`. */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Trust pinned by fingerprint (any spelling `parseFingerprint` takes): fetches the server's chain, finds the certificate with the
 * fingerprint, and follows it up the chain, checking each signature, to a self-signed root. That
 * root is what to trust as the CA afterwards (so a server certificate re-issued by the same CA
 * stays trusted). A chain that does not lead from the pinned certificate to a root by valid
 * signatures is refused: trusting a root the server merely sent would let anyone in the middle
 * send their own.
 */
export async function trustByFingerprint(url: string, fingerprint: string): Promise<string> {
  const wanted = parseFingerprint(fingerprint);
  if (!wanted) throw new TypeError(`the fingerprint ${fingerprintProblem(fingerprint)}`);
  const chain = (await fetchCertificateChain(url)).map((pem) => ({
    pem,
    cert: new X509Certificate(pem),
  }));
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
