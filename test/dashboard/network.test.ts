/**
 * The dashboard when the network misbehaves: answers that come back late or fail. The
 * browser's requests are held or failed with Playwright's request routing; the server is real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page, Route } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { ADMIN } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  pageErrors,
  rowTexts,
  signIn,
  startDashboardServer,
} from './browser.js';

let browser: Browser;
let server: TestServer;
let admin: ApiClient;
let page: Page;

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startDashboardServer()]);
  admin = server.client({
    accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
  });
  ({ page } = await newPage(browser, server));
  await signIn(page);
});
after(async () => {
  await browser.close();
  await server.close();
});

/** What the API answers when it fails, as the dashboard reads it. */
function serverError(route: Route): Promise<void> {
  return route.fulfill({
    status: 500,
    contentType: 'application/json',
    body: JSON.stringify({ code: 'internal', message: 'The test made this request fail' }),
  });
}

/** Lets the page's event loop turn, so a response it has received is on screen if it lands. */
function settle(p: Page): Promise<unknown> {
  return p.evaluate('new Promise((resolve) => setTimeout(resolve, 200))');
}

describe('dashboard: paged lists', () => {
  it('never lets an older refresh land on top of a newer one', async () => {
    await admin.createUser({ name: 'first@example.com' });
    await admin.createUser({ name: 'second@example.com' });
    await page.goto('/settings');
    const admins = page.locator('main tbody tr');
    await admins.filter({ hasText: ADMIN.name }).waitFor();

    // The refresh after the first change is answered (with the list as it was then) but held
    // back until the refresh after the second change has landed.
    let holdNext = true;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    let answered!: () => void;
    const done = new Promise<void>((resolve) => (answered = resolve));
    await page.route(/\/api\/grants\?/, async (route) => {
      if (!holdNext) return route.continue();
      holdNext = false;
      const response = await route.fetch();
      held();
      await released;
      // The page may have given up on it (aborted it): then there is nothing to answer.
      await route.fulfill({ response }).catch(() => {});
      answered();
    });

    await page.getByLabel('Make a user admin').fill('first@example.com');
    await page.getByRole('button', { name: 'Make admin' }).click();
    await holding;
    await page.getByLabel('Make a user admin').fill('second@example.com');
    await page.getByRole('button', { name: 'Make admin' }).click();
    await admins.filter({ hasText: 'second@example.com' }).waitFor();

    release();
    await done;
    await settle(page);
    const rows = (await rowTexts(page)).join('\n');
    assert.match(rows, /first@example\.com/);
    assert.match(rows, /second@example\.com/);
    await page.unroute(/\/api\/grants\?/);
  });

  it('says when the next page failed, and loads it on the next try', async () => {
    for (let i = 0; i < 101; i++) {
      await admin.createGroup({ name: `many-${String(i).padStart(3, '0')}` });
    }
    let failNext = true;
    await page.route(/\/api\/groups\?.*after=/, async (route) => {
      if (!failNext) return route.continue();
      failNext = false;
      return serverError(route);
    });
    await page.goto('/groups');
    await page.getByText('Showing 100').waitFor();
    await page.getByRole('button', { name: 'Load more groups' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Could not load more groups' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /The test made this request fail/);
    assert.equal((await rowTexts(page)).length, 100);

    await page.getByRole('button', { name: 'Load more groups' }).click();
    await page.locator('main tbody tr', { hasText: 'many-100' }).waitFor();
    assert.equal((await rowTexts(page)).length, 101);
    assert.equal(await alert.count(), 0);
    await page.unroute(/\/api\/groups\?.*after=/);
  });

  it('shows why a filtered list failed rather than the rows of the previous filter', async () => {
    let fail = true;
    await page.route(/\/api\/audit\?.*action=createGroup/, (route) =>
      fail ? serverError(route) : route.continue(),
    );
    await page.goto('/audit');
    await page.locator('main tbody tr').first().waitFor();

    await page.getByLabel('Action').selectOption('createGroup');
    const alert = page.getByRole('alert').filter({ hasText: 'Could not load the audit log' });
    await alert.waitFor();
    assert.deepEqual(await rowTexts(page), []);

    fail = false;
    await alert.getByRole('button', { name: 'Try again' }).click();
    await page.locator('main tbody tr', { hasText: 'Create group' }).first().waitFor();
    assert.ok((await rowTexts(page)).every((r) => r.includes('Create group')));
    await page.unroute(/\/api\/audit\?.*action=createGroup/);
  });
});

describe('dashboard: forms', () => {
  it('does nothing more once the person has left the page', async () => {
    await admin.createUser({ name: 'leaver@example.com' });
    const group = await admin.createGroup({ name: 'left-behind' });
    await page.goto(`/groups/${group.id}`);
    await page.getByText('No members yet').waitFor();

    // Adding a member looks the email up, then adds the user: hold the look-up until the
    // person has gone to another page.
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let answered!: () => void;
    const done = new Promise<void>((resolve) => (answered = resolve));
    await page.route(/\/api\/users\?.*name=leaver/, async (route) => {
      const response = await route.fetch();
      held();
      await released;
      await route.fulfill({ response }).catch(() => {});
      answered();
    });
    const adds: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH' && r.url().includes(`/api/groups/${group.id}/users`)) {
        adds.push(r.url());
      }
    });

    await page.getByLabel('Add a member').fill('leaver@example.com');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await holding;
    await page.locator('main').getByRole('link', { name: 'Groups' }).click();
    await page.getByRole('heading', { name: 'Groups' }).waitFor();
    release();
    await done;
    await settle(page);
    assert.deepEqual(adds, []);
    assert.equal((await admin.listUsers({ group: group.id })).items.length, 0);
    await page.unroute(/\/api\/users\?.*name=leaver/);
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
