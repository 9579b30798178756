import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listAll, type ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import type { LoginResponse } from '../api/login.js';
import { CliError, explain, type CliIO } from './context.js';

/** A provider login must finish within the server's lifetime of a started login. */
const WAIT_MS = 10 * 60_000;

async function findProvider(client: ApiClient, name: string) {
  const items = await listAll(client.listProviders, {});
  const provider = items.find((p) => p.name === name);
  if (!provider) {
    const known = items.map((p) => p.name).join(', ');
    throw new CliError(
      `This server has no identity provider named ${name}${known ? ` (it has: ${known})` : ''}`,
    );
  }
  return provider;
}

/**
 * Opens a URL in the person's browser: `$BROWSER` when set (as many tools honour), else the
 * platform's opener. Returns false when there is evidently no browser (no display on Linux).
 */
function openBrowser(io: CliIO, url: string): boolean {
  const env = io.env;
  let command: string;
  if (env.BROWSER) command = env.BROWSER;
  else if (process.platform === 'darwin') command = 'open';
  else if (process.platform === 'win32') command = 'explorer';
  else if (env.DISPLAY || env.WAYLAND_DISPLAY) command = 'xdg-open';
  else return false;
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true, env });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title>` +
  `<body style="font-family:system-ui;margin:3em"><h1>${title}</h1><p>${text}</p></body>`;

/** What the CLI says when the server refused a provider login, by the server's code. */
function loginFailure(err: unknown, provider: string): CliError {
  if (!(err instanceof ApiError)) return explain(err);
  const again = `run \`infra login --provider ${provider}\` again`;
  const sentences: Record<string, string> = {
    login_unknown: `The server does not know this sign-in, or it was already finished; ${again}`,
    login_expired: `The sign-in took longer than the server allows (10 minutes); ${again}`,
    login_other_browser: `The sign-in was finished somewhere other than where it started; ${again}`,
    login_refused: `${provider} refused the sign-in (its code was already used or had expired); ${again}`,
    login_check_failed: `${provider}'s answer failed a security check on the server, so you are not signed in; tell an admin (the server log names the check)`,
    login_email_unverified: `${provider} says your email address is not verified; verify it there, then ${again}`,
    login_email_missing: `${provider} gave no usable email address for you; tell an admin (the provider must send the email claim)`,
    login_account_conflict: `Your email address is linked to another account at ${provider}; tell an admin`,
    login_deactivated: `${provider} has deactivated your account, so Infra lets you in no more; ask an admin if this is a mistake`,
    upstream_failed: `${provider} did not answer the Infra server; try again shortly`,
  };
  const sentence = sentences[err.code];
  return sentence ? new CliError(sentence) : explain(err);
}

interface Callback {
  state: string;
  code: string;
  /** Answers the browser, once the server has accepted the login or refused it. */
  reply(status: number, title: string, text: string): Promise<void>;
}

/** Waits for the provider to send the browser back to our loopback listener. */
function awaitCallback(server: Server, expectedState: string): Promise<Callback> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new CliError('Gave up waiting for the browser sign-in (10 minutes)')),
      WAIT_MS,
    );
    timer.unref();
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/callback') {
        res.writeHead(404).end();
        return;
      }
      const state = url.searchParams.get('state');
      const code = url.searchParams.get('code');
      const error = url.searchParams.get('error');
      res.setHeader('content-type', 'text/html; charset=utf-8');
      // Only the sign-in we started counts: anything else on this port is ignored.
      if (state !== expectedState) {
        res
          .writeHead(400)
          .end(PAGE('Unexpected sign-in', 'This is not the sign-in infra started.'));
        return;
      }
      clearTimeout(timer);
      if (error || !code) {
        const why = url.searchParams.get('error_description') ?? error ?? 'no code';
        res.writeHead(400).end(PAGE('Sign-in failed', 'Go back to your terminal.'));
        reject(new CliError(`The identity provider did not sign you in: ${why}`));
        return;
      }
      // The page waits for the server's answer: "Signed in" only once it is true.
      resolve({
        state,
        code,
        reply: (status, title, text) =>
          new Promise((done) => res.writeHead(status).end(PAGE(title, text), () => done())),
      });
    });
  });
}

/**
 * `infra login --provider NAME`: the authorization-code flow through the system browser and a
 * loopback listener on a random port (RFC 8252), or the device flow when asked or when no browser
 * can be opened: a signed-in browser elsewhere approves the code this prints.
 */
export async function loginWithProvider(
  io: CliIO,
  client: ApiClient,
  name: string,
  opts: { device?: boolean },
): Promise<LoginResponse> {
  const provider = await findProvider(client, name);
  if (opts.device) return loginWithDevice(io, client);

  const listener = createServer();
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', resolve);
  });
  try {
    const port = (listener.address() as AddressInfo).port;
    const started = await client.startProviderLogin({
      id: provider.id,
      redirectURL: `http://127.0.0.1:${port}/callback`,
    });
    const state = new URL(started.authorizationURL).searchParams.get('state') ?? '';
    const callback = awaitCallback(listener, state);
    if (openBrowser(io, started.authorizationURL)) {
      io.stderr.write(
        `Opening your browser to sign in through ${provider.name}. If it does not open, visit:\n${started.authorizationURL}\n`,
      );
    } else {
      io.stderr.write(
        `Open this URL in a browser on this machine to sign in through ${provider.name}:\n${started.authorizationURL}\n` +
          `(No browser here? Run \`infra login --provider ${provider.name} --device\` instead.)\n`,
      );
    }
    const { code, reply } = await callback;
    let session: LoginResponse;
    try {
      session = await client.login({ oidc: { state, code } });
    } catch (err) {
      const failure = loginFailure(err, provider.name);
      await reply(400, 'Sign-in failed', `${escapeHtml(failure.message)}.`);
      throw failure;
    }
    await reply(200, 'Signed in', 'You can close this tab and go back to your terminal.');
    return session;
  } finally {
    listener.closeAllConnections();
    listener.close();
  }
}

async function loginWithDevice(io: CliIO, client: ApiClient): Promise<LoginResponse> {
  const request = await client.createDeviceRequest({});
  io.stderr.write(
    `To sign in, open ${request.verificationURL} in a browser where you can sign in, and approve the code\n\n    ${request.userCode}\n\n` +
      `or go straight to ${request.verificationURLComplete}\nWaiting for approval...\n`,
  );
  const deadline = Date.parse(request.expires);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, request.interval * 1000));
    let status;
    try {
      status = await client.getDeviceStatus({ deviceCode: request.deviceCode });
    } catch (err) {
      if (err instanceof ApiError && err.status === 410)
        throw new CliError('The code expired before anyone approved it; run infra login again');
      throw err;
    }
    if (status.status === 'approved' && status.login) return status.login;
    if (Date.now() > deadline)
      throw new CliError('The code expired before anyone approved it; run infra login again');
  }
}
