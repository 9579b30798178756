import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { generateSshCa } from '../../src/shared/ssh.js';
import { ADMIN, createSignedInUser, type SignedIn } from '../identity.js';
import type { TestServer } from '../server.js';
import { launchBrowser, newPage, pageErrors, signIn, startDashboardServer } from './browser.js';

describe('dashboard: SSH hosts', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: ApiClient;
  let dev: SignedIn;
  let hostId: string;

  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startDashboardServer('sqlite')]);
    admin = server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });
    dev = await createSignedInUser(server, admin, 'dev@example.com');
    hostId = (
      await admin.createDestination({
        name: 'db-1',
        uniqueID: 'db-1-host',
        kind: 'ssh',
        ssh: { address: 'db-1.example.com:22', hostKey: generateSshCa('host').publicKey },
        connection: { url: '', ca: '' },
      })
    ).id;
    await admin.createGrant({ user: dev.id, privilege: 'connect', resource: 'db-1' });
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('lists a host as one, and gives a user the infra ssh command to reach it', async () => {
    const { page } = await newPage(browser, server);
    await signIn(page, dev.name, dev.password);
    await page.goto('/clusters');
    const row = page.getByRole('row', { name: /db-1/ });
    await row.waitFor();
    assert.match(await row.innerText(), /SSH host/);

    await page.goto('/my-access');
    await page.getByText('infra ssh db-1', { exact: true }).first().waitFor();

    await page.goto(`/clusters/${hostId}`);
    await page.getByText('db-1.example.com:22').waitFor();
    const commands = await page.locator('pre[aria-label="Get there from a terminal"]').innerText();
    assert.match(commands, /infra login .*\ninfra ssh db-1/);
    assert.doesNotMatch(commands, /kubectl/);
    assert.deepEqual(pageErrors, []);
  });
});
