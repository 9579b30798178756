import assert from 'node:assert/strict';
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
  screenshot,
  signIn,
  startDashboardServer,
  until,
} from './browser.js';

describe('dashboard: access requests', () => {
  let browser: Browser;
  let server: TestServer;
  let admin: ApiClient;
  let dev: SignedIn;
  let rita: SignedIn;

  before(async () => {
    browser = await launchBrowser();
    server = await startDashboardServer('sqlite');
    const session = await server.client().login({ passwordCredentials: ADMIN });
    admin = server.client({ accessKey: session.accessKey });
    dev = await createSignedInUser(server, admin, 'dev@example.com');
    rita = await createSignedInUser(server, admin, 'rita@example.com');
    await admin.createRequestPolicy({
      name: 'prod-web',
      roles: ['edit'],
      resources: ['prod.*'],
      requesters: { users: [dev.name], groups: [] },
      approvers: { users: [rita.name], groups: [] },
    });
  });
  after(async () => {
    await browser.close();
    await server.close();
  });

  it('lets a requester ask and a reviewer, told by a count in the navigation, approve', async () => {
    const requester = await newPage(browser, server);
    await signIn(requester.page, dev.name, dev.password);
    await requester.page.getByRole('link', { name: 'Access requests' }).click();
    await requester.page.getByLabel('Cluster or namespace').fill('prod.web');
    await requester.page.getByLabel('Role').fill('edit');
    await requester.page.getByLabel('Reason').fill('INC-9');
    await requester.page.getByRole('button', { name: 'Request', exact: true }).click();
    await requester.page.getByText('Request sent for review').waitFor();
    await requester.page.getByRole('row', { name: /prod\.web/ }).waitFor();
    assert.deepEqual(
      (await rowTexts(requester.page)).map((r) => r.replace(/\s+/g, ' ').trim()),
      ['edit on prod.web 1h INC-9 just now pending 0/1 Withdraw'],
    );

    const reviewer = await newPage(browser, server);
    await signIn(reviewer.page, rita.name, rita.password);
    await reviewer.page
      .getByRole('link', { name: 'Access requests 1 waiting for your review' })
      .click();
    await reviewer.page.getByRole('heading', { name: 'Waiting for your review' }).waitFor();
    await screenshot(reviewer.page, 'access-requests-review');
    await reviewer.page.getByLabel('Comment on the request of dev@example.com').fill('go');
    await reviewer.page.getByRole('button', { name: 'Approve' }).click();
    await reviewer.page.getByText('Approved: dev@example.com has edit on prod.web').waitFor();
    await reviewer.page.getByRole('heading', { name: 'Waiting for your review' }).waitFor({
      state: 'detached',
    });
    // The navigation's count follows at once, without a page change.
    await reviewer.page.getByRole('link', { name: 'Access requests', exact: true }).waitFor();

    await requester.page.reload();
    await requester.page.getByText(/^active, /).waitFor();
    const grants = await dev.client.listGrants({ user: 'self' });
    assert.deepEqual(
      grants.items.map((g) => [g.privilege, g.resource, g.expiresAt !== null]),
      [['edit', 'prod.web', true]],
    );
    await requester.context.close();
    await reviewer.context.close();
    assert.deepEqual(pageErrors, []);
  });

  it("explains on a user's page and a cluster's page why someone has access, or what would give it", async () => {
    await admin.createDestination({
      name: 'prod',
      uniqueID: 'prod-explained',
      connection: { url: 'https://prod.example.com:9443', ca: '' },
      namespaces: ['web'],
      roles: ['view', 'edit', 'admin', 'cluster-admin'],
      version: '1.30.2',
    });
    const oncall = await admin.createGroup({ name: 'oncall-explained' });
    await admin.updateGroupUsers({ id: oncall.id, usersToAdd: [dev.id] });
    await admin.createGrant({ group: oncall.id, privilege: 'edit', resource: 'prod.web' });

    const { page } = await newPage(browser, server);
    await signIn(page);
    await page.goto(`/users/${dev.id}`);
    await page.getByLabel('Cluster or namespace').fill('prod.web');
    await page.getByLabel('Verb').fill('create');
    await page.getByLabel('Resource').fill('pods/exec');
    await page.getByRole('button', { name: 'Explain', exact: true }).click();
    const answer = page.locator('.explanation');
    await answer.waitFor();
    const text = (await answer.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /dev@example\.com can reach prod\.web\. create pods\/exec: allowed\./);
    assert.match(
      text,
      /edit prod\.web group oncall-explained \(added by an admin\) no end RoleBinding/,
    );

    // On the cluster's page, about someone with no access: the nearest grant, and how to get it.
    const prod = (await admin.listDestinations({ name: 'prod' })).items[0]!;
    await page.goto(`/clusters/${prod.id}`);
    await page.getByLabel('User (email)').fill(rita.name);
    await page.getByLabel('Namespace').fill('web');
    await page.getByRole('button', { name: 'Explain', exact: true }).click();
    await answer.waitFor();
    const denied = (await answer.innerText()).replace(/\s+/g, ' ');
    assert.match(denied, /rita@example\.com cannot reach prod\.web\./);
    assert.match(denied, /No request policy lets them ask for it: an admin grants it\./);
    assert.match(denied, /infra grants add/);
    // A name that is nobody's is said next to the field, and nothing else changes.
    await page.getByLabel('User (email)').fill('nobody@example.com');
    await page.getByRole('button', { name: 'Explain', exact: true }).click();
    await page
      .getByText(/Could not explain|no user|not found/i)
      .first()
      .waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('lets an admin add and remove request policies, with errors next to the field', async () => {
    const { page } = await newPage(browser, server);
    await signIn(page);
    await page.goto('/requests');
    await page.getByRole('button', { name: 'Add policy' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill('db-oncall');
    await dialog.getByLabel('Roles', { exact: true }).fill('edit, view');
    await dialog.getByLabel('Clusters and namespaces').fill('db.*');
    await dialog.getByLabel('Who may ask: groups').fill('oncall');
    // No approver: refused, said at the field, nothing made.
    await dialog.getByRole('button', { name: 'Add policy' }).click();
    await dialog.getByText('name at least one approver').waitFor();
    assert.equal(
      (await admin.listRequestPolicies()).items.filter((p) => p.name === 'db-oncall').length,
      0,
    );
    await dialog.getByLabel('Approvers: users').fill(rita.name);
    await dialog.getByLabel('Approvals needed').fill('1');
    await dialog.getByRole('button', { name: 'Add policy' }).click();
    await page.getByText('Policy added').waitFor();
    const [made] = (await admin.listRequestPolicies()).items.filter((p) => p.name === 'db-oncall');
    assert.deepEqual(
      [made?.roles, made?.resources, made?.requesters, made?.approvers, made?.reasonRequired],
      [
        ['edit', 'view'],
        ['db.*'],
        { users: [], groups: ['oncall'] },
        { users: [rita.name], groups: [] },
        true,
      ],
    );
    const row = page.getByRole('row', { name: /db-oncall/ });
    assert.match(
      (await row.innerText()).replace(/\s+/g, ' '),
      /edit, view on db\.\* group oncall rita@example\.com \(1 needed\) 1h/,
    );

    await page.getByRole('button', { name: 'Remove the policy db-oncall' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove policy' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal(
      (await admin.listRequestPolicies()).items.filter((p) => p.name === 'db-oncall').length,
      0,
    );
    assert.deepEqual(pageErrors, []);
  });
  it('lets an admin edit a request policy in place, with errors next to the field', async () => {
    const before = await admin.createRequestPolicy({
      name: 'db-edit',
      roles: ['edit'],
      resources: ['db.*'],
      requesters: { users: [], groups: ['oncall'] },
      approvers: { users: [rita.name], groups: [] },
    });
    const { page } = await newPage(browser, server);
    await signIn(page);
    await page.goto('/requests');
    await page.getByRole('button', { name: 'Edit the policy db-edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit the policy db-edit' });
    assert.equal(await dialog.getByLabel('Clusters and namespaces').inputValue(), 'db.*');
    assert.equal(await dialog.getByLabel('Approvers: users').inputValue(), rita.name);
    // No approver left: refused, said at the field, nothing changed.
    await dialog.getByLabel('Approvers: users').fill('');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByText('name at least one approver').waitFor();
    assert.equal(await dialog.getByLabel('Approvers: users').getAttribute('aria-invalid'), 'true');
    await dialog.getByLabel('Approvers: groups').fill('sre');
    await dialog.getByLabel('Longest access').fill('soon');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.getByText('must be a duration such as 72h or 30m').waitFor();
    assert.equal(await dialog.getByLabel('Longest access').getAttribute('aria-invalid'), 'true');
    const unchanged = (await admin.listRequestPolicies()).items.find((p) => p.name === 'db-edit');
    assert.deepEqual(unchanged, before);

    await dialog.getByLabel('Longest access').fill('4h');
    await dialog.getByLabel('Approvals needed').fill('2');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('db-edit saved').waitFor();
    const after = (await admin.listRequestPolicies()).items.find((p) => p.name === 'db-edit');
    assert.deepEqual(
      [after?.id, after?.approvers, after?.approvalsRequired, after?.maxDuration, after?.roles],
      [before.id, { users: [], groups: ['sre'] }, 2, '4h', ['edit']],
    );
    const row = page.getByRole('row', { name: /db-edit/ });
    await until('the list shows the change', async () =>
      /group sre \(2 needed\) 4h/.test((await row.innerText()).replace(/\s+/g, ' ')),
    );
    assert.deepEqual(pageErrors, []);
  });

  it('pages through the requests waiting for review until the last one', async () => {
    await admin.createRequestPolicy({
      name: 'many',
      roles: ['view'],
      resources: ['many.*'],
      requesters: { users: [dev.name], groups: [] },
      approvers: { users: [rita.name], groups: [] },
    });
    // One more than a page.
    for (let i = 0; i <= 50; i++)
      await dev.client.createAccessRequest({ role: 'view', resource: `many.ns${i}` });
    const { page } = await newPage(browser, server);
    await signIn(page, rita.name, rita.password);
    await page.goto('/requests');
    const rows = page
      .getByRole('table', { name: 'Requests waiting for your review' })
      .locator('tbody tr');
    await page.getByText('Showing 50 of 51').waitFor();
    assert.equal(await rows.count(), 50);
    // A reviewed request leaves the list, and the count with it.
    await page
      .getByRole('row', { name: /view on many\.ns50\b/ })
      .getByRole('button', { name: 'Approve' })
      .click();
    await page.getByText('Showing 49 of 50').waitFor();
    await page.getByRole('button', { name: 'Load more requests' }).click();
    await until('the last request is listed', async () => (await rows.count()) === 50);
    await page.getByRole('row', { name: /view on many\.ns0\b/ }).waitFor();
    assert.deepEqual(pageErrors, []);
  });
});
