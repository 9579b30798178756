/**
 * Accessibility: axe-core on every page of the dashboard, at desktop and phone width, as an
 * admin and as a user. One server and one browser for all of it.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { ADMIN, createSignedInUser, type SignedIn } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  DESKTOP,
  PHONE,
  launchBrowser,
  pageErrors,
  signIn,
  startDashboardServer,
  until,
} from './browser.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeNode {
  target: string[];
  failureSummary?: string;
}
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: AxeNode[];
}

let browser: Browser;
let server: TestServer;
let admin: ApiClient;
let user: SignedIn;
const ids: Record<string, string> = {};
const consoleErrors: string[] = [];

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startDashboardServer()]);
  admin = server.client({
    accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
  });
  const prod = await admin.createDestination({
    name: 'prod',
    uniqueID: 'prod-cluster-ca',
    connection: { url: 'https://prod.example.com:9443', ca: '' },
    namespaces: ['web', 'db'],
    roles: ['view', 'edit', 'admin', 'cluster-admin'],
    version: '1.30.2',
  });
  user = await createSignedInUser(server, admin, 'dana@example.com');
  const oncall = await admin.createGroup({ name: 'oncall' });
  await admin.updateGroupUsers({ id: oncall.id, usersToAdd: [user.id] });
  await admin.createGrant({ group: oncall.id, privilege: 'edit', resource: 'prod.web' });
  await admin.createGrant({
    user: user.id,
    privilege: 'view',
    resource: 'prod',
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
  });
  // A request waiting for the admin's review, and a policy they can edit, on /requests.
  await admin.createRequestPolicy({
    name: 'prod-oncall',
    roles: ['admin'],
    resources: ['prod.*'],
    requesters: { users: [], groups: ['oncall'] },
    approvers: { users: [ADMIN.name], groups: [] },
  });
  await user.client.createAccessRequest({ role: 'admin', resource: 'prod.web', reason: 'INC-1' });
  Object.assign(ids, { prod: prod.id, oncall: oncall.id, user: user.id });
});
after(async () => {
  await browser.close();
  await server.close();
});

/** A signed-in page that lets the test inject axe (the dashboard's CSP forbids inline scripts). */
async function signedIn(
  viewport: typeof DESKTOP,
  who?: { name: string; password: string },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL: server.url,
    ignoreHTTPSErrors: true,
    bypassCSP: true,
    viewport,
  });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  // A failed load (a missing favicon, a refused call) shows as an error in the console.
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  if (who) await signIn(page, who.name, who.password);
  return { context, page };
}

/** axe's violations on the page as it is now, one line each with the first elements. */
async function runAxe(page: Page, where: string): Promise<string[]> {
  if (!(await page.evaluate('typeof axe !== "undefined"'))) await page.addScriptTag({ path: AXE });
  const found = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)`,
  )) as AxeViolation[];
  return found.map(
    (v) =>
      `${where}: [${v.impact}] ${v.id}: ${v.help}\n${v.nodes
        .slice(0, 3)
        .map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.replace(/\n\s*/g, ' ')}`)
        .join('\n')}`,
  );
}

/**
 * Goes to `path` the way a link does (no reload, so axe stays loaded), waits for the page to
 * settle (its title and data, no skeleton left), and runs axe.
 */
async function violations(page: Page, path: string): Promise<string[]> {
  await page.evaluate(
    `history.pushState(null, '', ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent('popstate'))`,
  );
  const settled = async () =>
    (await page.locator('h1').count()) > 0 && (await page.locator('.skeleton').count()) === 0;
  await until(`${path} has loaded`, settled);
  // Data that arrives a moment later can bring another skeleton: settled twice, a frame apart.
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  await until(`${path} has loaded`, settled);
  return runAxe(page, path);
}

const ADMIN_PAGES = [
  '/clusters',
  '/clusters/connect',
  () => `/clusters/${ids.prod}`,
  '/my-access',
  '/access',
  '/users',
  () => `/users/${ids.user}`,
  '/groups',
  () => `/groups/${ids.oncall}`,
  '/providers',
  '/audit',
  '/activity',
  '/requests',
  '/settings',
  '/no-such-page',
];
const USER_PAGES = [
  '/clusters',
  () => `/clusters/${ids.prod}`,
  '/my-access',
  '/activity',
  '/settings',
  '/access',
  '/requests',
  '/no-such-page',
];

describe('dashboard: accessibility (axe-core)', () => {
  for (const [role, who, pages] of [
    ['signed out', 'nobody', ['/login']],
    ['an admin', 'admin', ADMIN_PAGES],
    ['a user', 'user', USER_PAGES],
  ] as const) {
    it(`finds no violation on any page at 1280 and 390 px, ${role}`, async () => {
      const problems: string[] = [];
      // One sign-in for both widths: the layout follows the viewport without a reload.
      const { context, page } = await signedIn(
        DESKTOP,
        who === 'nobody' ? undefined : who === 'admin' ? ADMIN : user,
      );
      if (who === 'nobody') {
        await page.goto('/login');
        await page.locator('h1').waitFor();
      }
      for (const [width, viewport] of [
        ['1280', DESKTOP],
        ['390', PHONE],
      ] as const) {
        await page.setViewportSize(viewport);
        if (who === 'nobody') {
          problems.push(...(await runAxe(page, `/login at ${width} px`)));
          continue;
        }
        for (const p of pages) {
          const path = typeof p === 'string' ? p : p();
          for (const v of await violations(page, path)) problems.push(`${v} (at ${width} px)`);
        }
        if (who === 'admin') {
          // A dialog open over a page.
          await violations(page, '/users');
          await page.getByRole('button', { name: 'Add user' }).first().click();
          await page.getByRole('dialog').waitFor();
          problems.push(...(await runAxe(page, `/users, Add user dialog, at ${width} px`)));
          await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
          // The connect page once it has made a key: the key, the commands, the wait.
          await violations(page, '/clusters/connect');
          await page.getByLabel('Cluster name').fill(`edge-${width}`);
          await page.getByRole('button', { name: 'Create connector key' }).click();
          await page.getByTestId('connect-status').waitFor();
          problems.push(...(await runAxe(page, `/clusters/connect, key made, at ${width} px`)));
          // A user's page with an answer to "why does this user have access?".
          await violations(page, `/users/${ids.user}`);
          await page.getByLabel('Cluster or namespace').fill('prod.web');
          await page.getByRole('button', { name: 'Explain', exact: true }).click();
          await page.locator('.explanation').waitFor();
          problems.push(...(await runAxe(page, `a user's page, explained, at ${width} px`)));
          // A request policy being edited, over the requests waiting for review.
          await violations(page, '/requests');
          await page.getByRole('button', { name: 'Edit the policy prod-oncall' }).click();
          await page.getByRole('dialog').waitFor();
          problems.push(...(await runAxe(page, `/requests, Edit policy dialog, at ${width} px`)));
          await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
        } else if (viewport === PHONE) {
          // The phone menu, open.
          await page.getByRole('button', { name: 'Open navigation' }).click();
          await page.getByRole('button', { name: 'Close navigation' }).waitFor();
          problems.push(...(await runAxe(page, 'the navigation menu, open')));
        }
      }
      await context.close();
      assert.ok(problems.length === 0, `axe found:\n${problems.join('\n')}`);
    });
  }

  it('threw no uncaught exception in any page, and logged no error', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  });
});
