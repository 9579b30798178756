import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createCertificateAuthority,
  issueServerCertificate,
} from '../src/shared/tls/certificates.js';
import { rawRequest } from './http.js';

/**
 * Debian's `pebble`, a real ACME server for tests, with `pebble-challtestsrv` as its DNS server
 * (every name resolves to 127.0.0.1). Pebble checks http-01 challenges by connecting to
 * `<name>:<httpPort>`, so the server under test must listen for HTTP on that port.
 */
export interface Pebble {
  directoryUrl: string;
  /** CA that signs pebble's own HTTPS endpoint (trust it to talk ACME to pebble). */
  apiCa: string;
  httpPort: number;
  /** PEM of the root that signs the certificates pebble issues. */
  issuingRoot(): Promise<string>;
  stop(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, ca: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await rawRequest(url, { ca });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`pebble did not answer at ${url}`);
}

export async function startPebble(): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-pebble-'));
  const now = Date.now();
  const ca = await createCertificateAuthority(now);
  const leaf = await issueServerCertificate(ca, ['localhost', '127.0.0.1'], now, 30);
  writeFileSync(path.join(dir, 'cert.pem'), leaf.certificate);
  writeFileSync(path.join(dir, 'key.pem'), leaf.privateKey);
  const [apiPort, managementPort, dnsPort, httpPort, challMgmt] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  writeFileSync(
    path.join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${apiPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: path.join(dir, 'cert.pem'),
        privateKey: path.join(dir, 'key.pem'),
        httpPort,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const children: ChildProcess[] = [];
  children.push(
    spawn(
      'pebble-challtestsrv',
      [
        '-dns01',
        `127.0.0.1:${dnsPort}`,
        '-defaultIPv4',
        '127.0.0.1',
        '-defaultIPv6',
        '',
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-management',
        `127.0.0.1:${challMgmt}`,
      ],
      { stdio: 'ignore' },
    ),
  );
  children.push(
    spawn(
      'pebble',
      ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`],
      {
        stdio: 'ignore',
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      },
    ),
  );
  const stop = () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const directoryUrl = `https://127.0.0.1:${apiPort}/dir`;
    await waitFor(directoryUrl, ca.certificate);
    return {
      directoryUrl,
      apiCa: ca.certificate,
      httpPort,
      issuingRoot: async () =>
        (await rawRequest(`https://127.0.0.1:${managementPort}/roots/0`, { ca: ca.certificate }))
          .body,
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
