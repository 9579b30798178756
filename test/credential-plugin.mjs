#!/usr/bin/env node
// A kubectl exec credential plugin for tests: asks the Infra server for a destination token with
// the access key in INFRA_TEST_KEY_FILE and prints an ExecCredential. The real one is
// `infra tokens`; this stand-in lets connector tests run before (and apart from) the CLI.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const server = new URL(process.env.INFRA_TEST_SERVER);
const body = JSON.stringify({ destination: process.env.INFRA_TEST_DESTINATION });
const req = request(
  {
    host: server.hostname,
    port: server.port,
    path: '/api/tokens',
    method: 'POST',
    ca: readFileSync(process.env.INFRA_TEST_CA, 'utf8'),
    headers: {
      authorization: `Bearer ${readFileSync(process.env.INFRA_TEST_KEY_FILE, 'utf8').trim()}`,
      'content-type': 'application/json',
    },
  },
  (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => {
      if (res.statusCode !== 201) {
        process.stderr.write(`infra: ${res.statusCode} ${text}\n`);
        process.exit(1);
      }
      const { token, expires } = JSON.parse(text);
      process.stdout.write(
        JSON.stringify({
          apiVersion: 'client.authentication.k8s.io/v1',
          kind: 'ExecCredential',
          status: { token, expirationTimestamp: expires },
        }),
      );
    });
  },
);
req.on('error', (err) => {
  process.stderr.write(`infra: ${err.message}\n`);
  process.exit(1);
});
req.end(body);
