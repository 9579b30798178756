import { readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { ApiError } from '../../api/errors.js';
import {
  certificateFingerprint,
  fetchCertificateChain,
  fingerprintProblem,
  parseFingerprint,
  trustByFingerprint,
} from '../../shared/trust.js';
import { CliError, clientFor, explain, type CliIO, type Session } from '../context.js';
import { humanTime } from '../output.js';
import { refreshKubeconfig } from '../refresh.js';
import {
  currentServer,
  findServer,
  infraDir,
  normalizeServerUrl,
  readState,
  writeState,
  type SavedServer,
} from '../state.js';
import { tokenCacheFile } from '../token-cache.js';

export interface LoginOptions {
  key?: string;
  user?: string;
  provider?: string;
  device?: boolean;
  skipTlsVerify?: boolean;
  tlsTrustedCert?: string;
  tlsTrustedFingerprint?: string;
}

const UNTRUSTED =
  /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID|CERT_HAS_EXPIRED/;

async function prompts() {
  return import('@inquirer/prompts');
}

/**
 * Decides how to trust the server's certificate: the system's CAs, a certificate or fingerprint
 * given on the command line, one trusted at an earlier login, or, at a terminal, the person's
 * answer after seeing the certificate's SHA-256 fingerprint (trust on first use).
 */
type Trust = { trustedCa?: string; skipTlsVerify?: boolean };

async function establishTrust(
  io: CliIO,
  url: string,
  options: LoginOptions,
  known?: SavedServer,
): Promise<Trust> {
  if (options.skipTlsVerify) {
    io.stderr.write(
      'WARNING: --skip-tls-verify: the server certificate is not checked, so anyone on the network path can read your password and session. Use --tls-trusted-fingerprint instead.\n',
    );
    return { skipTlsVerify: true };
  }
  if (options.tlsTrustedCert) {
    const pem = options.tlsTrustedCert.trimStart().startsWith('-----BEGIN')
      ? options.tlsTrustedCert
      : readFileSync(options.tlsTrustedCert, 'utf8');
    return { trustedCa: pem };
  }
  if (options.tlsTrustedFingerprint) {
    const fingerprint = parseFingerprint(options.tlsTrustedFingerprint);
    if (!fingerprint)
      throw new CliError(
        `--tls-trusted-fingerprint ${fingerprintProblem(options.tlsTrustedFingerprint)}`,
        2,
      );
    return { trustedCa: await trustByFingerprint(url, fingerprint) };
  }
  const attempt = async (trust: { trustedCa?: string }) => {
    await clientFor({ url, ...trust }).getVersion();
    return trust;
  };
  try {
    return await attempt(known?.trustedCa ? { trustedCa: known.trustedCa } : {});
  } catch (err) {
    if (!UNTRUSTED.test((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  const chain = await fetchCertificateChain(url);
  const leaf = new X509Certificate(chain[0]!);
  const fingerprint = certificateFingerprint(chain[0]!);
  if (!io.interactive) {
    throw new CliError(
      `The certificate of ${new URL(url).host} is not trusted (SHA-256 fingerprint ${fingerprint}); if that is the fingerprint the server logged, pass --tls-trusted-fingerprint ${fingerprint}`,
    );
  }
  io.stderr.write(
    [
      `The certificate of ${new URL(url).host} is not signed by an authority this computer trusts.`,
      `  Subject:     ${leaf.subject.replace(/\n/g, ', ')}`,
      `  Issuer:      ${leaf.issuer.replace(/\n/g, ', ')}`,
      `  Valid until: ${leaf.validTo}`,
      `  SHA-256 fingerprint: ${fingerprint}`,
      'Compare the fingerprint with the one the Infra server logged when it started.',
      '',
    ].join('\n'),
  );
  const { confirm } = await prompts();
  if (!(await confirm({ message: 'Trust this certificate?', default: false }))) {
    throw new CliError('Not logged in: the server certificate was not trusted');
  }
  return attempt({ trustedCa: await trustByFingerprint(url, fingerprint) });
}

/**
 * `infra login [SERVER]`: picks the server, settles trust in its certificate, signs in with an
 * access key or a password (choosing a new password when the old one was one-time), saves the
 * session, and writes kubeconfig contexts for everything the user may reach.
 */
export async function login(
  io: CliIO,
  serverArg: string | undefined,
  options: LoginOptions,
): Promise<void> {
  const state = readState(io.env);
  let target = serverArg ?? io.env.INFRA_SERVER ?? currentServer(state)?.url;
  if (!target) {
    if (!io.interactive)
      throw new CliError('Which server? Pass its address: `infra login infra.example.com`');
    const { input } = await prompts();
    target = await input({ message: 'Infra server address:' });
  }
  let url: string;
  try {
    url = normalizeServerUrl(target);
  } catch {
    throw new CliError(
      `${target} is not a server address; use host[:port], such as infra.example.com:4443`,
    );
  }
  if (options.device && !options.provider)
    throw new CliError('--device signs in through an identity provider: add --provider NAME');

  const trust = await establishTrust(io, url, options, findServer(state, url));
  const client = clientFor({ url, ...trust });
  const key = options.key ?? io.env.INFRA_ACCESS_KEY;
  let session;
  try {
    if (key) {
      session = await client.login({ accessKey: key });
    } else if (options.provider) {
      const { loginWithProvider } = await import('../provider-login.js');
      session = await loginWithProvider(io, client, options.provider, options);
    } else {
      if (!io.interactive) {
        throw new CliError(
          'No terminal to ask for a password: pass --key (or set INFRA_ACCESS_KEY) to log in',
        );
      }
      const { input, password } = await prompts();
      const name = options.user ?? (await input({ message: 'Email:' }));
      const secret = await password({ message: 'Password:', mask: true });
      session = await client.login({ passwordCredentials: { name, password: secret } });
      if (session.passwordUpdateRequired) {
        io.stderr.write('Your password was set by an admin and must be changed now.\n');
        for (;;) {
          const next = await password({ message: 'New password:', mask: true });
          const again = await password({ message: 'New password again:', mask: true });
          if (next !== again) {
            io.stderr.write('The passwords do not match; try again.\n');
            continue;
          }
          try {
            await clientFor({ url, ...trust }, session.accessKey).updateUser({
              id: 'self',
              password: next,
              oldPassword: secret,
            });
            break;
          } catch (err) {
            if (err instanceof ApiError && err.status === 400 && err.fieldErrors?.length) {
              io.stderr.write(
                `${err.fieldErrors.map((f) => `${f.field === 'password' ? 'Password' : f.field} ${f.errors.join(', ')}`).join('; ')}; try again.\n`,
              );
              continue;
            }
            throw err;
          }
        }
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unauthenticated') {
      throw new CliError(
        key
          ? 'Login failed: the access key is not valid or has expired'
          : options.provider
            ? `Login through ${options.provider} failed; the server log says why`
            : 'Login failed: wrong email or password',
      );
    }
    throw explain(err);
  }

  for (const s of state.servers) s.current = false;
  const record: SavedServer = findServer(state, url) ?? { url, current: true };
  if (!state.servers.includes(record)) state.servers.push(record);
  Object.assign(record, {
    current: true,
    trustedCa: trust.trustedCa,
    skipTlsVerify: trust.skipTlsVerify,
    session: {
      userId: session.userID,
      name: session.name,
      accessKey: session.accessKey,
      expires: session.expires,
    },
  });
  await writeState(io.env, state);
  rmSync(tokenCacheFile(infraDir(io.env)), { force: true });
  const live: Session = { state, server: record as Session['server'], client: clientFor(record) };
  const usable = (await refreshKubeconfig(live, io)).filter((r) => r.written);
  io.stderr.write(`Logged in as ${session.name}\n`);
  if (usable.length > 0) {
    io.stderr.write(
      `You can reach: ${usable.map((r) => r.context.name.replace(/^infra:/, '').replace(':', '.')).join(', ')}. Use \`infra use\` to pick one.\n`,
    );
  }
  await mentionRequests(io, live);
}

/** Pending and live approved access requests, and those waiting for the user's review. */
async function mentionRequests(io: CliIO, live: Session): Promise<void> {
  const now = Date.now();
  const answer = await live.client.listAccessRequests({ mine: 'true', limit: 100 }).catch(
    // A server without access requests, or a hiccup: login itself went fine.
    () => undefined,
  );
  if (!answer) return;
  const current = answer.items.filter(
    (r) =>
      r.state === 'pending' ||
      (r.state === 'approved' && r.accessExpires && Date.parse(r.accessExpires) > now),
  );
  for (const r of current) {
    io.stderr.write(
      r.state === 'pending'
        ? `Your request for ${r.role} on ${r.resource} (${r.id}) waits for review.\n`
        : `Your request for ${r.role} on ${r.resource} was approved: access ${humanTime(r.accessExpires, now).replace(/^in /, 'for ')} more.\n`,
    );
  }
  if (answer.pendingToReview > 0) {
    io.stderr.write(
      `${answer.pendingToReview} access request${answer.pendingToReview === 1 ? ' waits' : 's wait'} for your review: \`infra request list --review\`.\n`,
    );
  }
}
