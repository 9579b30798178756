import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { ADMIN, createSignedInUser, type SignedIn } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  pageErrors,
  rowTexts,
  signIn,
  startDashboardServer,
} from './browser.js';

describe('dashboard: cluster activity and recordings', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: ApiClient;
  let alice: SignedIn;
  let bob: SignedIn;
  const execId = randomUUID();

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startDashboardServer('sqlite')]);
    admin = server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });
    alice = await createSignedInUser(server, admin, 'alice@example.com');
    bob = await createSignedInUser(server, admin, 'bob@example.com');
    const [connectorUser] = (await admin.listUsers({ name: 'connector', showSystem: true })).items;
    const connector = server.client({
      accessKey: (
        await admin.createAccessKey({
          userID: connectorUser!.id,
          destination: 'prod',
          expiry: '1h',
        })
      ).accessKey,
    });
    // What prod's connector would send: alice reads secrets (refused), lists pods, execs.
    const now = new Date().toISOString().replace('Z', '000Z');
    const event = (who: SignedIn, verb: string, uri: string, objectRef: object, code: number) => ({
      kind: 'Event' as const,
      apiVersion: 'audit.k8s.io/v1' as const,
      level: 'Metadata' as const,
      auditID: randomUUID(),
      stage: 'ResponseComplete' as const,
      requestURI: uri,
      verb,
      user: { username: who.name, uid: who.id },
      sourceIPs: ['127.0.0.1'],
      objectRef,
      responseStatus: { metadata: {}, code },
      requestReceivedTimestamp: now,
      stageTimestamp: now,
    });
    await connector.createKubeEvents({
      destination: 'prod',
      events: [
        event(
          alice,
          'list',
          '/api/v1/namespaces/web/secrets',
          { resource: 'secrets', namespace: 'web', apiVersion: 'v1' },
          403,
        ),
        event(
          alice,
          'list',
          '/api/v1/namespaces/web/pods',
          { resource: 'pods', namespace: 'web', apiVersion: 'v1' },
          200,
        ),
        event(
          bob,
          'get',
          '/api/v1/namespaces/db/pods/pg-0',
          { resource: 'pods', namespace: 'db', name: 'pg-0', apiVersion: 'v1' },
          200,
        ),
      ],
    });
    const header = { version: 2, width: 80, height: 24, timestamp: Math.floor(Date.now() / 1000) };
    await connector.createKubeRecordingChunk({
      destination: 'prod',
      id: execId,
      seq: 0,
      data: `${JSON.stringify(header)}\n${JSON.stringify([0.2, 'o', 'hello from web-1\r\n'])}\n${JSON.stringify([0.4, 'm', 'exit status 0'])}\n`,
      recording: {
        user: { username: alice.name, uid: alice.id },
        namespace: 'web',
        pod: 'web-1',
        container: 'app',
        command: ['sh'],
        subresource: 'exec',
        stdinRecorded: false,
        startedAt: new Date().toISOString(),
      },
    });
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('answers what alice did in prod, and plays her exec session', async () => {
    const { page } = await newPage(browser, server);
    await signIn(page);
    await page.getByRole('link', { name: 'Cluster activity' }).click();
    await page.getByLabel('Who').fill(alice.name);
    await page.getByLabel('Cluster').fill('prod');
    await page.waitForURL(/who=alice/);
    await page.getByText('secrets in web').waitFor();
    const rows = (await rowTexts(page)).map((r) => r.replace(/\s+/g, ' ').trim());
    assert.ok(
      rows.some((r) => /alice@example\.com prod list secrets in web 403/.test(r)),
      rows.join('\n'),
    );
    assert.ok(rows.some((r) => /alice@example\.com prod list pods in web 200/.test(r)));
    assert.ok(!rows.some((r) => /bob@example\.com/.test(r)), 'only alice');
    // The filters are in the address: a reload keeps them.
    await page.reload();
    await page.getByText('pods in web').waitFor();
    assert.equal(await page.getByLabel('Who').inputValue(), alice.name);

    await page
      .getByRole('link', { name: /ago|just now/ })
      .first()
      .click();
    await page.getByRole('heading', { name: 'Exec in web-1' }).waitFor();
    const player = page.locator('.recording');
    await player.locator('.ap-player').waitFor();
    await player.click();
    await player.getByText('hello from web-1').waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('shows a user only their own requests and sessions', async () => {
    const { page } = await newPage(browser, server);
    await signIn(page, bob.name, bob.password);
    await page.getByRole('link', { name: 'Cluster activity' }).click();
    await page.getByText('pods pg-0 in db').waitFor();
    const rows = (await rowTexts(page)).join('\n');
    assert.doesNotMatch(rows, /alice/);
    assert.doesNotMatch(rows, /secrets/);
    assert.deepEqual(pageErrors, []);
  });
});
