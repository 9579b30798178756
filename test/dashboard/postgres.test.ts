import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ADMIN } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  rowTexts,
  signIn,
  startDashboardServer,
  pageErrors,
} from './browser.js';

// The browser tests run on SQLite; this smoke test shows the dashboard works on PostgreSQL too.
describe('dashboard on PostgreSQL', () => {
  let browser: Browser;
  let server: TestServer;
  before(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startDashboardServer('postgres')]);
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('signs in, adds a user and grants them admin', async () => {
    const { context, page } = await newPage(browser, server);
    await signIn(page);
    await page.goto('/users');
    await page.getByRole('button', { name: 'Add user' }).first().click();
    await page.getByRole('dialog').getByLabel('Email').fill('pg@example.com');
    await page.getByRole('dialog').getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('dialog', { name: 'User added' }).waitFor();
    await page.getByRole('button', { name: 'Done' }).click();
    assert.deepEqual(
      (await rowTexts(page)).map((r) => r.split(/\s/)[1]),
      ['pg@example.com', ADMIN.name],
    );

    await page.goto('/settings');
    await page.getByLabel('Make a user admin').fill('pg@example.com');
    await page.getByRole('button', { name: 'Make admin' }).click();
    await page.locator('main tbody tr', { hasText: 'pg@example.com' }).waitFor();
    const admin = server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });
    const grants = await admin.listGrants({ resource: 'infra', privilege: 'admin' });
    assert.ok(grants.items.some((g) => g.userName === 'pg@example.com'));
    await context.close();
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
