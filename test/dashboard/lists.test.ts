import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { openDb } from '../../src/server/data/db.js';
import { createUser } from '../../src/server/data/users.js';
import { ADMIN } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  pageErrors,
  rowTexts,
  screenshot,
  signIn,
  startDashboardServer,
  until,
} from './browser.js';

// Lists an admin can work with at scale: searched on the server, counted, filtered with every
// filter in the address; the audit log by name, exported; users shown for who they are.

let browser: Browser;
let server: TestServer;
let admin: ApiClient;
let page: Page;
const ids: Record<string, string> = {};

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startDashboardServer()]);
  admin = server.client({
    accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
  });
  // More users than a page holds, written straight to the database (no password hashing):
  // zed@example.com sorts after the first page.
  const database = await openDb(server.config.db);
  try {
    for (let i = 0; i < 110; i++) {
      const name = `bulk-${String(i).padStart(3, '0')}@example.com`;
      await createUser(database.db, { id: `usr_bulk${i}`, name, managedBy: 'api', now: 1 });
    }
  } finally {
    await database.close();
  }
  ids.zed = (await admin.createUser({ name: 'zed@example.com' })).id;
  ids.alice = (await admin.createUser({ name: 'alice@example.com' })).id;
  ids.oncall = (await admin.createGroup({ name: 'oncall' })).id;
  await admin.createGroup({ name: 'developers' });
  await admin.updateGroupUsers({ id: ids.oncall, usersToAdd: [ids.alice] });
  await admin.createGrant({ group: ids.oncall, privilege: 'view', resource: 'infra' });
  for (const name of ['prod', 'staging'])
    await admin.createDestination({
      name,
      uniqueID: name,
      connection: { url: `https://${name}.example.com:9443`, ca: '' },
      namespaces: ['web'],
      roles: ['view', 'edit'],
      version: '1.30.2',
    });
  await admin.createGrant({ user: ids.zed, privilege: 'edit', resource: 'prod' });
  await admin.createGrant({ user: ids.alice, privilege: 'view', resource: 'staging' });
  ({ page } = await newPage(browser, server));
  await signIn(page);
});
after(async () => {
  await browser.close();
  await server.close();
});

const search = (name: string) => page.getByRole('searchbox', { name });
const total = () => page.locator('.list-total').innerText();

describe('dashboard: lists at scale', () => {
  it('searches every user on the server, counts them, and keeps the search in the address', async () => {
    await page.goto('/users');
    await until('the total is shown', async () => (await page.locator('.list-total').count()) > 0);
    assert.equal(await total(), '113 users');
    await page.getByText('Showing 100 of 113').waitFor();

    // Beyond the first page, found by part of the email.
    await search('Search users').fill('ZED');
    await page.waitForURL(/\/users\?q=ZED$/);
    await page.getByRole('link', { name: /zed@example\.com/ }).waitFor();
    assert.equal(await total(), '1 matching user');

    // Who each user is: role on Infra (through a group here), groups, where they come from.
    await search('Search users').fill('@example.com');
    await page.waitForURL(/q=%40example\.com/);
    await until('the filtered total is shown', async () =>
      (await total()).includes('matching users'),
    );
    const rows = await rowTexts(page);
    assert.ok(
      rows.some((r) => /alice@example\.com\s+view\s+oncall\s+local\s/.test(r)),
      rows[0],
    );
    assert.ok(rows.some((r) => /admin@example\.com\s+admin\s+none\s+config file\s/.test(r)));
    await screenshot(page, 'users-search');

    // Reload keeps the search; Back returns to the previous one.
    await page.reload();
    assert.equal(await search('Search users').inputValue(), '@example.com');
    await page.goBack();
    await page.waitForURL(/\/users\?q=ZED$/);
    await until(
      'the box follows the address',
      async () => (await search('Search users').inputValue()) === 'ZED',
    );
    await page.getByRole('link', { name: /zed@example\.com/ }).waitFor();
    assert.equal((await rowTexts(page)).length, 1);
  });

  it('searches groups and clusters by name', async () => {
    await page.goto('/groups?q=CALL');
    await page.locator('main tbody tr', { hasText: 'oncall' }).waitFor();
    assert.equal(await search('Search groups').inputValue(), 'CALL');
    assert.deepEqual(
      (await rowTexts(page)).map((r) => r.split('\t')[0]),
      ['oncall'],
    );
    await page.goto('/clusters');
    await search('Search clusters').fill('stag');
    await page.waitForURL(/\/clusters\?q=stag$/);
    await until('only staging is listed', async () => {
      const names = (await rowTexts(page)).map((r) => r.split('\t')[0]);
      return names.length === 1 && names[0] === 'staging';
    });
  });

  it('filters access by who, role and cluster, kept across a reload', async () => {
    await page.goto('/access');
    await page.getByLabel('Role').selectOption('edit');
    await page.waitForURL(/role=edit/);
    await page.getByLabel('Cluster').selectOption('prod');
    await page.waitForURL(/role=edit&cluster=prod/);
    await until('only the edit grant on prod is listed', async () => {
      const rows = await rowTexts(page);
      return rows.length === 1 && /zed@example\.com\s+edit\s+prod/.test(rows[0]!);
    });
    await page.reload();
    assert.equal(await page.getByLabel('Role').inputValue(), 'edit');
    assert.equal(await page.getByLabel('Cluster').inputValue(), 'prod');
    assert.equal(await total(), '1 matching grant');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Who').fill('oncall');
    await page.waitForURL(/\/access\?q=oncall$/);
    await until('only the group grant is listed', async () => {
      const rows = await rowTexts(page);
      return rows.length === 1 && /oncall\s+view\s+Infra/.test(rows[0]!);
    });
    await page.goBack();
    await page.waitForURL(/\/access$/);
    await until('every grant is back', async () => (await rowTexts(page)).length >= 3);
  });

  it('says a grant already exists, and logs it once', async () => {
    await page.goto('/access');
    for (let i = 0; i < 2; i++) {
      await page.getByRole('button', { name: 'Grant access' }).click();
      const dialog = page.getByRole('dialog', { name: 'Grant access' });
      await dialog.getByLabel('User email').fill('alice@example.com');
      await dialog.getByLabel('Cluster').selectOption('prod');
      await dialog.getByRole('radio', { name: /^view/ }).check();
      await dialog.getByRole('button', { name: 'Grant', exact: true }).click();
      if (i === 0) {
        await dialog.waitFor({ state: 'detached' });
      } else {
        await dialog.getByText('alice@example.com already has view on prod.').waitFor();
        await screenshot(page, 'access-already-granted');
        await dialog.getByRole('button', { name: 'Cancel' }).click();
      }
    }
    const [grant] = (await admin.listGrants({ user: ids.alice, resource: 'prod' })).items;
    const logged = await admin.listAudit({ action: 'createGrant', target: grant!.id });
    assert.equal(logged.items.length, 1);
  });

  it('filters the audit log by name, in the address, and exports what it shows', async () => {
    await page.goto('/audit');
    await page.getByLabel('Target', { exact: true }).fill('alice');
    await page.getByLabel('Action').selectOption('createUser');
    await page.waitForURL(/target=alice/);
    await page.waitForURL(/action=createUser/);
    await until('only the creation of alice is listed', async () => {
      const rows = await rowTexts(page);
      return (
        rows.length === 1 && /admin@example\.com\s+Create user\s+alice@example\.com/.test(rows[0]!)
      );
    });
    await page.getByLabel('Who').fill('admin@');
    await page.waitForURL(/who=admin%40/);
    await page.reload();
    assert.equal(await page.getByLabel('Target', { exact: true }).inputValue(), 'alice');
    assert.equal(await page.getByLabel('Who').inputValue(), 'admin@');
    assert.equal((await rowTexts(page)).length, 1);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Export CSV' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^audit-.*\.csv$/);
    const lines = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\r\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^seq,at,actor_id,actor_name,action,/);
    assert.match(lines[1]!, /,admin@example\.com,createUser,user,usr_\w+,alice@example\.com,/);
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
