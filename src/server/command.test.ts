import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { spawn as spawnPty } from 'node-pty';
import { rawRequest } from '../../test/http.js';

const root = path.resolve(import.meta.dirname, '../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runInfra(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: mkdtempSync(path.join(tmpdir(), 'infra-home-')),
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'infra-command-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
const base = ['--addr-https', '127.0.0.1:0', '--addr-metrics', ''];

describe('infra server start-up failures', { concurrency: true }, () => {
  const cases: Array<{ name: string; args: () => Promise<string[]>; message: RegExp }> = [
    {
      name: 'a config file with a syntax error',
      args: async () => ['-f', file('broken.yaml', 'addr: [\n')],
      message:
        /^infra server: config file .+broken\.yaml is not valid YAML at line \d+, column \d+: .+$/,
    },
    {
      name: 'an unknown key',
      args: async () => ['-f', file('unknown.yaml', 'adress:\n  https: ":4443"\n')],
      message:
        /^infra server: unknown setting adress \(from config file .+\); known settings here: stateDir, logLevel, logFormat, addr, tls, sessions, passwords, tokens, users, grants, (?:\w+, )*secrets, (?:\w+, )*keyProvider, previousKeyProvider, db$/,
    },
    {
      name: 'a value of the wrong type',
      args: async () => ['--db-port', 'many'],
      message:
        /^infra server: invalid setting db\.port \(from flag --db-port\): Invalid input: expected number, received string$/,
    },
    {
      name: 'an unreadable secret file',
      args: async () => [
        '--db-host',
        '127.0.0.1',
        '--db-password',
        'file:/nonexistent/db-password',
      ],
      message:
        /^infra server: db\.password: cannot resolve secret file:\/nonexistent\/db-password from storage "file": cannot read file \/nonexistent\/db-password: ENOENT$/,
    },
    {
      name: 'a PostgreSQL server that is down',
      args: async () => ['--db-host', '127.0.0.1', '--db-port', String(await closedPort())],
      message:
        /^infra server: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/infra: connection refused; check db\.host, db\.port, db\.username and db\.password, and that the server is running$/,
    },
  ];
  for (const tc of cases) {
    it(`stops with one sentence on ${tc.name}`, async () => {
      const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-state-'));
      const run = await runInfra([
        'server',
        ...base,
        '--state-dir',
        stateDir,
        ...(await tc.args()),
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr.trim(), tc.message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /\n\s+at /);
    });
  }

  it('prints the stack trace with --log-level debug', async () => {
    const run = await runInfra(['server', ...base, '--log-level', 'debug', '--db-port', 'many']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^infra server: invalid setting db\.port/);
    assert.match(run.stderr, /\n\s+at /);
  });
});

describe('infra server and connector usage', { concurrency: true }, () => {
  for (const [argv, message] of [
    [
      ['server', '--adr-https', ':4443'],
      "error: unknown option '--adr-https'\n(Did you mean --addr-https?)\n",
    ],
    [['connector', '--bogus'], "error: unknown option '--bogus'\n"],
  ] as const) {
    it(`refuses ${argv.join(' ')} as a usage error (exit 2)`, async () => {
      const run = await runInfra([...argv]);
      assert.deepEqual([run.code, run.stdout, run.stderr], [2, '', message]);
    });
  }

  it('prints help with exit code 0', async () => {
    const run = await runInfra(['server', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: infra server \[options\]/);
  });
});

/**
 * Starts `infra server` with `args` in a pipe or at a terminal (a pseudo-terminal), returns what
 * it wrote until it said it is listening, and stops it.
 */
function logsUntilListening(
  args: string[],
  where: 'pipe' | 'terminal',
  env: Record<string, string> = {},
): Promise<string> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-state-'));
  const argv = ['--import', 'tsx', 'src/main.ts', 'server', ...base, '--state-dir', stateDir];
  const fullEnv = { PATH: process.env.PATH!, HOME: stateDir, ...env };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no "listening on" within 30 s: ${out}`));
    }, 30_000);
    const seen = (d: string) => {
      out += d;
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        stop();
        resolve(out);
      }
    };
    const exited = () => {
      clearTimeout(timer);
      reject(new Error(`exited before listening: ${out}`));
    };
    let stop: () => void;
    if (where === 'terminal') {
      const pty = spawnPty(process.execPath, [...argv, ...args], { cwd: root, env: fullEnv });
      pty.onData(seen);
      pty.onExit(() => exited());
      stop = () => pty.kill('SIGTERM');
    } else {
      const child = spawn(process.execPath, [...argv, ...args], { cwd: root, env: fullEnv });
      child.stdout.on('data', (d: Buffer) => seen(d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', () => exited());
      stop = () => child.kill('SIGTERM');
    }
  });
}

describe('infra server logs', { concurrency: true }, () => {
  const listening = (out: string) => out.split(/\r?\n/).find((l) => /listening on/.test(l))!;
  // eslint-disable-next-line no-control-regex -- ANSI colours start with ESC
  const COLOUR = /\x1b\[[0-9;]*m/;

  it('are readable, coloured text on a terminal', async () => {
    const line = listening(await logsUntilListening([], 'terminal'));
    assert.match(line, COLOUR);
    assert.match(
      line.replaceAll(new RegExp(COLOUR, 'g'), ''),
      /^\[\d\d:\d\d:\d\d\] INFO: infra server \S+ listening on https:/,
    );
  });

  it('are JSON lines at a terminal with INFRA_SERVER_LOG_FORMAT=json', async () => {
    const line = listening(
      await logsUntilListening([], 'terminal', { INFRA_SERVER_LOG_FORMAT: 'json' }),
    );
    assert.match(JSON.parse(line).msg, /^infra server \S+ listening on https:/);
  });

  it('are plain text lines in a pipe with --log-format text', async () => {
    const line = listening(await logsUntilListening(['--log-format', 'text'], 'pipe'));
    assert.doesNotMatch(line, COLOUR);
    assert.match(line, /^\[\d\d:\d\d:\d\d\] INFO: infra server \S+ listening on https:/);
  });
});

describe('infra server shutdown', () => {
  /** `infra server` in a state directory of its own, its output piped. */
  const spawnServer = () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-state-'));
    return spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'server', ...base, '--state-dir', stateDir],
      { cwd: root, env: { PATH: process.env.PATH, HOME: stateDir } },
    );
  };

  it('finishes in-flight requests on SIGTERM, then exits 0', async () => {
    const child = spawnServer();
    let out = '';
    const listening = new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`server exited early: ${out}`)));
    });
    const port = await listening;
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

    // A request whose body is still arriving when the signal comes.
    const { request } = await import('node:https');
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/version',
          rejectUnauthorized: false,
          headers: { 'content-type': 'application/json', 'content-length': '2' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('{');
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end('}'), 300);
      }, 200);
    });
    assert.equal(await response, 404);
    assert.equal(await exited, 0);
    assert.match(out, /shutting down: finishing in-flight requests/);
    assert.match(out, /"msg":"stopped"/);
    await assert.rejects(rawRequest(`https://127.0.0.1:${port}/healthz`), /ECONNREFUSED/);
  });

  // Early in the start (migrations done; keys, certificate and listener to come), and at its
  // very end (the log says it listens; the start has not returned yet).
  for (const [when, mark] of [
    ['while it is still starting', /database migrated/],
    ['as soon as it says it listens', /listening on https:/],
  ] as const) {
    it(`stops gracefully on a SIGTERM that comes ${when}`, async () => {
      const child = spawnServer();
      let out = '';
      const exited = new Promise<[number | null, string | null]>((resolve) =>
        // 'close', not 'exit': the last log lines may still be in the pipe at exit.
        child.on('close', (code, signal) => resolve([code, signal])),
      );
      let signalled = false;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!signalled && mark.test(out)) {
          signalled = true;
          child.kill('SIGTERM');
        }
      });
      assert.deepEqual(await exited, [0, null], out);
      assert.match(out, /listening on https:/);
      assert.match(out, /"signal":"SIGTERM".*shutting down/);
      assert.match(out, /"msg":"stopped"/);
    });
  }
});
