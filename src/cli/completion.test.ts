import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { infraBin, workstation, type Workstation } from '../../test/cli.js';
import { assertGolden } from '../../test/golden.js';

const run = promisify(execFile);
const golden = (name: string) => path.join(import.meta.dirname, 'testdata', name);

describe('infra completion', () => {
  let ws: Workstation;
  /** An environment where `infra` is the built command, as after `npm install -g`. */
  let env: NodeJS.ProcessEnv;
  before(() => {
    ws = workstation();
    // A saved login whose server does not exist: completing must not need it.
    mkdirSync(path.join(ws.home, '.infra'));
    writeFileSync(
      path.join(ws.home, '.infra', 'config'),
      JSON.stringify({
        version: 1,
        servers: [
          {
            url: 'https://127.0.0.1:1',
            current: true,
            kubeconfig: {
              file: ws.kubeconfig,
              clusters: ['infra:prod', 'infra:staging'],
              users: ['infra:prod', 'infra:staging'],
              contexts: ['infra:prod', 'infra:prod:web', 'infra:staging'],
            },
          },
          { url: 'https://infra.example.com:4443', current: false },
        ],
      }),
    );
    const bin = path.join(ws.home, 'bin');
    mkdirSync(bin);
    symlinkSync(infraBin, path.join(bin, 'infra'));
    env = { ...ws.env, PATH: `${bin}${path.delimiter}${ws.env.PATH}` };
  });

  it('prints a script for bash, zsh and fish, and refuses other shells', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const res = await ws.run('completion', shell);
      assert.equal(res.code, 0);
      assertGolden(golden(`completion.${shell}`), res.stdout);
    }
    const other = await ws.run('completion', 'tcsh');
    assert.deepEqual(
      [other.code, other.stderr],
      [2, 'infra: No completion for tcsh; use bash, zsh or fish\n'],
    );
  });

  it('completes commands, options, their values and saved names, offline', async () => {
    const complete = async (...words: string[]) => {
      const res = await ws.run('__complete', ...words);
      assert.equal(res.code, 0, res.stderr);
      return res.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(await complete('l'), ['login', 'logout', 'list']);
    assert.deepEqual(await complete('groups', 'a'), ['add', 'adduser']);
    // People's word is offered; the API's, destinations, still completes what follows it.
    assert.deepEqual(await complete('c'), ['clusters', 'completion', 'connector']);
    assert.deepEqual(await complete('destinations', 'l'), ['list']);
    assert.deepEqual(await complete('use', ''), ['prod', 'prod.web', 'staging']);
    assert.deepEqual(await complete('use', 'prod'), ['prod', 'prod.web']);
    assert.deepEqual(await complete('use', 'prod', ''), [], 'one destination only');
    assert.deepEqual(await complete('login', ''), ['127.0.0.1:1', 'infra.example.com:4443']);
    assert.deepEqual(await complete('list', '-o', ''), ['table', 'json', 'yaml', 'name']);
    assert.deepEqual(await complete('users', 'list', '--output', 'j'), ['json']);
    // An option's value is not taken for a command: `users` here is the value of --key.
    assert.deepEqual(await complete('login', '--key', 'users', ''), [
      '127.0.0.1:1',
      'infra.example.com:4443',
    ]);
    assert.deepEqual(await complete('grants', 'add', '--'), [
      '--group',
      '--role',
      '--force',
      '--version',
      '--non-interactive',
      '--help',
    ]);
  });

  it('works in bash: TAB on `infra use` lists the destinations', async () => {
    const tab = async (...words: string[]) => {
      const { stdout } = await run(
        'bash',
        [
          '-c',
          `source <(infra completion bash) && complete -p infra && COMP_WORDS=(infra ${words.map((w) => `'${w}'`).join(' ')}) && COMP_CWORD=${words.length} && _infra && printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { env },
      );
      return stdout;
    };
    assert.equal(await tab('use', ''), 'complete -F _infra infra\nprod\nprod.web\nstaging\n');
    assert.equal(
      await tab('grants', 'add', 'alice', 'prod', '--ro'),
      'complete -F _infra infra\n--role\n',
    );
    assert.equal(await tab('keys', 'li'), 'complete -F _infra infra\nlist\n');
  });

  for (const [shell, check] of [
    ['zsh', ['-n']],
    ['fish', ['--no-execute']],
  ] as const) {
    // .ci/run installs zsh and fish.
    it(`is a valid ${shell} script`, async () => {
      const script = (await ws.run('completion', shell)).stdout;
      const file = path.join(ws.home, `completion.${shell}`);
      writeFileSync(file, script);
      await run(shell, [...check, file], { env });
    });
  }
});
