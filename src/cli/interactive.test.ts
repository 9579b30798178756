import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn as spawnPty, type IPty } from 'node-pty';
import { infraBin, workstation } from '../../test/cli.js';
import { startAdminServer } from '../../test/identity.js';
import type { TestServer } from '../../test/server.js';

/** A person at a terminal: runs `infra` in a pseudo-terminal, reads its screen and types. */
class Terminal {
  readonly #pty: IPty;
  #output = '';
  #waiters: Array<() => void> = [];
  readonly exited: Promise<number>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.#pty = spawnPty(process.execPath, [infraBin, ...args], {
      cols: 200,
      rows: 50,
      env: env as Record<string, string>,
    });
    this.#pty.onData((d) => {
      this.#output += d;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => this.#pty.onExit(({ exitCode }) => resolve(exitCode)));
  }

  get text(): string {
    // Drop colours and cursor movement: what a person reads.
    // eslint-disable-next-line no-control-regex -- ANSI escape sequences start with ESC
    return this.#output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  }

  /** Waits until the screen shows `pattern` (counting from `since` characters in). */
  async see(pattern: RegExp, since = 0): Promise<number> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const at = this.text.slice(since).search(pattern);
      if (at >= 0) return since + at + 1;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${pattern}; screen:\n${this.text}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  }

  type(text: string): void {
    this.#pty.write(text);
  }
}

describe('infra login at a terminal', () => {
  let server: TestServer;
  let oneTimePassword: string;

  before(async () => {
    let admin;
    ({ server, admin } = await startAdminServer('sqlite'));
    oneTimePassword = (await admin.createUser({ name: 'carol@example.com' })).oneTimePassword;
  });
  after(() => server.close());

  it('asks to trust the certificate, asks for the password without echoing it, and has a one-time password replaced', async () => {
    const ws = workstation();
    const host = new URL(server.url).host;
    const term = new Terminal(['login', host], { ...ws.env, TERM: 'xterm' });
    let at = await term.see(new RegExp(`SHA-256 fingerprint: ${server.running.fingerprint}`));
    at = await term.see(/Trust this certificate\?/, at);
    term.type('y\r');
    at = await term.see(/Email:/, at);
    term.type('carol@example.com\r');
    at = await term.see(/Password:/, at);
    term.type(`${oneTimePassword}\r`);
    at = await term.see(/must be changed now/, at);
    at = await term.see(/New password:/, at);
    term.type('short\r');
    at = await term.see(/New password again:/, at);
    term.type('short\r');
    at = await term.see(/Password must be at least 8 characters; try again\./, at);
    at = await term.see(/New password:/, at);
    term.type('a-much-better-password\r');
    at = await term.see(/New password again:/, at);
    term.type('a-much-better-password\r');
    await term.see(/Logged in as carol@example.com/, at);
    assert.equal(await term.exited, 0);
    assert.equal(term.text.includes(oneTimePassword), false, 'passwords are not echoed');
    assert.equal(term.text.includes('a-much-better-password'), false);

    const config = JSON.parse(readFileSync(path.join(ws.home, '.infra', 'config'), 'utf8'));
    assert.match(config.servers[0].trustedCa, /^-----BEGIN CERTIFICATE-----/);
    // The new password works; the one-time one does not.
    const session = await server.client().login({
      passwordCredentials: { name: 'carol@example.com', password: 'a-much-better-password' },
    });
    assert.equal(session.passwordUpdateRequired, false);
  });

  it('stops when the certificate is not trusted', async () => {
    const ws = workstation();
    const term = new Terminal(['login', new URL(server.url).host], { ...ws.env, TERM: 'xterm' });
    const at = await term.see(/Trust this certificate\?/);
    term.type('n\r');
    await term.see(/Not logged in: the server certificate was not trusted/, at);
    assert.equal(await term.exited, 1);
  });
});
