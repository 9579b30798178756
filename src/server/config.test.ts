import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configLeaves } from '../shared/config-loader.js';
import { ServerSettings, loadServerConfig } from './config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'infra-config-'));
function yamlFile(text: string): string {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('loadServerConfig', () => {
  it('has defaults that need no root and no setup', async () => {
    const config = await loadServerConfig({ env: {}, flags: {} });
    assert.deepEqual(config.addr, {
      https: { host: '', port: 4443 },
      http: undefined,
      metrics: { host: '', port: 9090 },
    });
    assert.equal(config.stateDir, path.join(homedir(), '.infra'));
    assert.deepEqual(config.db, {
      kind: 'sqlite',
      file: path.join(homedir(), '.infra', 'infra.db'),
    });
    assert.equal(config.tls.minVersion, 'TLSv1.2');
    assert.equal(config.tls.custom, undefined);
    assert.equal(config.logLevel, 'info');
    assert.ok(Object.isFrozen(config));
  });

  it('applies defaults < file < env < flags', async () => {
    const file = yamlFile(
      'addr:\n  https: ":5000"\n  http: ":5001"\n  metrics: ":5002"\nlogLevel: warn\n',
    );
    const env = {
      INFRA_SERVER_ADDR_HTTP: '127.0.0.1:6001',
      INFRA_SERVER_ADDR_METRICS: '127.0.0.1:6002',
    };
    const config = await loadServerConfig({ file, env, flags: { 'addr.metrics': '[::1]:7002' } });
    assert.deepEqual(config.addr, {
      https: { host: '', port: 5000 },
      http: { host: '127.0.0.1', port: 6001 },
      metrics: { host: '::1', port: 7002 },
    });
    assert.equal(config.logLevel, 'warn');
  });

  it('reads the file named by INFRA_SERVER_CONFIG_FILE', async () => {
    const file = yamlFile('logLevel: debug\n');
    const config = await loadServerConfig({ env: { INFRA_SERVER_CONFIG_FILE: file }, flags: {} });
    assert.equal(config.logLevel, 'debug');
  });

  it('accepts INFRA_SERVER_ADDR_HTTPS=127.0.0.1:8443 and lists from env', async () => {
    const config = await loadServerConfig({
      env: {
        INFRA_SERVER_ADDR_HTTPS: '127.0.0.1:8443',
        INFRA_SERVER_TLS_HOSTS: 'infra.example.com, 10.0.0.5',
      },
      flags: {},
    });
    assert.deepEqual(config.addr.https, { host: '127.0.0.1', port: 8443 });
    assert.deepEqual(config.tls.hosts, ['infra.example.com', '10.0.0.5']);
  });

  it('selects PostgreSQL and resolves its password reference', async () => {
    const config = await loadServerConfig({
      env: { INFRA_SERVER_DB_HOST: 'db.internal', PGPASS: 's3cret' },
      flags: { 'db.password': 'env:PGPASS' },
    });
    assert.equal(config.db.kind, 'postgres');
    if (config.db.kind !== 'postgres') return;
    assert.equal(config.db.host, 'db.internal');
    assert.equal(config.db.password?.reveal(), 's3cret');
    assert.deepEqual(config.db.ssl, { rejectUnauthorized: false, ca: undefined });
    assert.equal(JSON.stringify(config).includes('s3cret'), false);
  });

  it('reads url as an origin, and connection limits with their defaults', async () => {
    const config = await loadServerConfig({
      env: {},
      flags: { url: 'https://INFRA.Example.com:443/', 'limits.idleTimeout': '2m' },
    });
    assert.equal(config.url, 'https://infra.example.com');
    assert.deepEqual(config.limits, {
      connectionsPerIP: 256,
      handshakeTimeout: 10_000,
      headersTimeout: 30_000,
      idleTimeout: 120_000,
    });
  });

  it('does not ask for TLS to a PostgreSQL on loopback', async () => {
    const config = await loadServerConfig({
      env: {},
      flags: { 'db.connectionString': 'postgres://infra@127.0.0.1:5432/infra' },
    });
    assert.equal(config.db.kind === 'postgres' && config.db.ssl, false);
  });

  describe('refuses bad configuration with one sentence naming the key', () => {
    const cases: Array<{
      name: string;
      file?: string;
      env?: Record<string, string>;
      flags?: Record<string, string>;
      message: string | RegExp;
    }> = [
      {
        name: 'YAML syntax error',
        file: 'addr:\n  https: ":4443"\n   http: oops\n',
        message: /^config file .+\.yaml is not valid YAML at line 3, column \d+: /,
      },
      {
        name: 'unknown key in the file',
        file: 'addr:\n  htps: ":4443"\n',
        message:
          /^unknown setting addr\.htps \(from config file .+\); known settings here: https, http, metrics$/,
      },
      {
        name: 'unknown top-level key',
        file: 'dbFile: /tmp/x.db\n',
        message:
          /^unknown setting dbFile \(from config file .+\); known settings here: stateDir, logLevel, logFormat, addr, tls, sessions, passwords, tokens, users, grants, (?:\w+, )*secrets, (?:\w+, )*keyProvider, previousKeyProvider, db$/,
      },
      {
        name: 'wrong type',
        file: 'db:\n  port: "five"\n',
        message:
          /^invalid setting db\.port \(from config file .+\): Invalid input: expected number, received string$/,
      },
      {
        name: 'bad address from env',
        env: { INFRA_SERVER_ADDR_HTTPS: 'localhost' },
        message:
          'invalid setting addr.https (from environment variable INFRA_SERVER_ADDR_HTTPS): "localhost" is not a listen address; use host:port such as 127.0.0.1:4443, or :4443 for all interfaces',
      },
      {
        name: 'unknown environment variable',
        env: { INFRA_SERVER_ADDR_HTTPZ: ':1' },
        message:
          'unknown environment variable INFRA_SERVER_ADDR_HTTPZ; settings are named like INFRA_SERVER_ADDR_HTTPS (see docs/configuration.md)',
      },
      {
        name: 'bad value from a flag',
        flags: { logLevel: 'loud' },
        message: /^invalid setting logLevel \(from flag --log-level\): /,
      },
      {
        name: 'unreadable secret file',
        flags: { 'db.host': 'db', 'db.password': 'file:/nonexistent/pw' },
        message:
          'db.password: cannot resolve secret file:/nonexistent/pw from storage "file": cannot read file /nonexistent/pw: ENOENT',
      },
      {
        name: 'secret that is not a reference',
        flags: { 'db.host': 'db', 'db.password': 'hunter22' },
        message:
          'invalid setting db.password (from flag --db-password): expected a secret reference such as env:NAME or file:/path',
      },
      {
        name: 'certificate without key',
        flags: { 'tls.certificate': '/etc/ssl/x.pem' },
        message:
          'invalid setting tls.privateKey: tls.certificate is set, so tls.privateKey must be set too',
      },
      {
        name: 'acme without a DNS name',
        flags: { 'tls.acme.enabled': 'true', 'addr.http': ':80' },
        message:
          'invalid setting tls.hosts: tls.acme needs the public DNS name of the server in tls.hosts',
      },
      {
        name: 'acme without the HTTP listener',
        flags: { 'tls.acme.enabled': 'true', 'tls.hosts': 'infra.example.com' },
        message:
          /^invalid setting addr\.http: tls\.acme answers the http-01 challenge on the HTTP listener/,
      },
      {
        name: 'HTTPS turned off',
        env: { INFRA_SERVER_ADDR_HTTPS: '' },
        message: /^invalid setting addr\.https .*cannot be turned off/,
      },
      ...[
        'http://infra.example.com',
        'https://infra.example.com/infra',
        'https://infra.example.com/?a',
        'https://user@infra.example.com',
        'infra.example.com',
      ].map((url) => ({
        name: `url that is not an https origin: ${url}`,
        flags: { url },
        message:
          'invalid setting url (from flag --url): must be the https:// address people and programs use for this server, such as https://infra.example.com, with no path',
      })),
      {
        name: 'a timeout of zero',
        env: { INFRA_SERVER_LIMITS_HEADERS_TIMEOUT: '0' },
        message:
          'invalid setting limits.headersTimeout (from environment variable INFRA_SERVER_LIMITS_HEADERS_TIMEOUT): must be more than 0 and at most 10m',
      },
      {
        name: 'a negative connection limit',
        file: 'limits:\n  connectionsPerIP: -1\n',
        message: /^invalid setting limits\.connectionsPerIP \(from config file .+\): Too small/,
      },
      {
        name: 'a declared group Kubernetes reserves',
        file: 'grants:\n  - group: "System:masters"\n    role: view\n    resource: prod\n',
        message:
          /^invalid setting grants\.0\.group \(from config file .+\): must not start with system: \(Kubernetes reserves those groups\)$/,
      },
      {
        name: 'a declared group name with a right-to-left override',
        file: 'grants:\n  - group: "ops\\u202Eadmins"\n    role: view\n    resource: prod\n',
        message:
          /^invalid setting grants\.0\.group \(from config file .+\): must not contain invisible or text-direction characters \(U\+202E\)$/,
      },
      {
        name: 'missing config file',
        flags: {},
        env: { INFRA_SERVER_CONFIG_FILE: '/nonexistent/infra.yaml' },
        message:
          'cannot read config file /nonexistent/infra.yaml: ENOENT; check the path given to --config-file',
      },
    ];
    for (const tc of cases) {
      it(tc.name, async () => {
        const file = tc.file === undefined ? undefined : yamlFile(tc.file);
        await assert.rejects(
          loadServerConfig({ file, env: tc.env ?? {}, flags: tc.flags ?? {} }),
          (err: Error) => {
            assert.ok(
              err instanceof ConfigError,
              `expected a ConfigError, got ${err.name}: ${err.message}`,
            );
            if (typeof tc.message === 'string') assert.equal(err.message, tc.message);
            else assert.match(err.message, tc.message);
            assert.equal(err.message.includes('\n'), false);
            return true;
          },
        );
      });
    }
  });
});

describe('docs/configuration.md', () => {
  it('documents every setting', () => {
    const doc = readFileSync(
      path.resolve(import.meta.dirname, '../../docs/configuration.md'),
      'utf8',
    );
    const missing = configLeaves(ServerSettings)
      .map((l) => l.path.join('.'))
      .filter((p) => !new RegExp(`^\\| \`${p.replaceAll('.', '\\.')}\` +\\|`, 'm').test(doc));
    assert.deepEqual(missing, []);
  });
});
