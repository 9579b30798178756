import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ApiError } from '../../src/api/errors.js';
import { ADMIN } from '../identity.js';
import { rawRequest } from '../http.js';
import type { TestServer } from '../server.js';
import {
  focusedText,
  launchBrowser,
  newPage,
  PHONE,
  screenshot,
  signIn,
  startDashboardServer,
  pageErrors,
} from './browser.js';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser.close());

describe('dashboard: first-admin setup', () => {
  let server: TestServer;
  before(async () => {
    server = await startDashboardServer('sqlite', { configFile: undefined });
  });
  after(() => server.close());

  it('creates the first admin from the logged link, showing the password policy as you type', async () => {
    const token = /setup\?token=([A-Za-z0-9_-]+)/.exec(server.logs.text)?.[1];
    assert.ok(token, 'the server logs a setup link');
    const { context, page } = await newPage(browser, server);

    // Without the token the page says where to find the link.
    await page.goto('/setup');
    await page.getByText('This page needs the setup link from the server log.').waitFor();

    // A wrong token is refused with a sentence on what to do.
    await page.goto('/setup?token=not-the-token');
    await page.getByLabel('Email').fill('first@example.com');
    await page.getByLabel('Password', { exact: true }).fill('a long enough password');
    await page.getByLabel('Confirm password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();
    await page.getByText('This setup link is not valid any more').waitFor();

    await page.goto(`/setup?token=${token}`);
    await page.getByLabel('Email').fill('first@example.com');
    const policy = page.getByRole('list', { name: 'Password requirements' });
    await page.getByLabel('Password', { exact: true }).fill('short');
    assert.match(await policy.innerText(), /At least 8 characters\s*\(not met yet\)/);
    // Submitting it anyway says why, next to the field.
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();
    await page.getByText('Not accepted yet: at least 8 characters; both passwords match').waitFor();
    await page.getByLabel('Password', { exact: true }).fill('first-admin-password');
    await page.getByLabel('Confirm password').fill('first-admin-password');
    assert.match(await policy.innerText(), /At least 8 characters\s*\(met\)/);
    assert.match(await policy.innerText(), /Both passwords match\s*\(met\)/);
    await screenshot(page, 'setup');
    await page.getByRole('button', { name: 'Create admin and sign in' }).click();

    await page.getByTestId('current-user').filter({ hasText: 'first@example.com' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/clusters');
    await page.getByRole('heading', { name: 'No clusters yet' }).waitFor();
    await screenshot(page, 'clusters-empty');

    // The setup is spent: the page now sends people to sign in.
    await page.goto(`/setup?token=${token}`);
    await page.getByRole('heading', { name: 'Infra is set up' }).waitFor();
    // Nothing secret is kept where scripts can read it.
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.equal(await page.evaluate('document.cookie'), '');
    await context.close();
  });
});

describe('dashboard: signing in', () => {
  let server: TestServer;
  before(async () => {
    server = await startDashboardServer();
  });
  after(() => server.close());

  it('says plainly when the password is wrong, then signs in and out', async () => {
    const { context, page } = await newPage(browser, server);
    await page.goto('/login');
    await page.getByLabel('Email').fill(ADMIN.name);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('That email and password do not match').waitFor();
    await screenshot(page, 'login-wrong-password');
    assert.equal(new URL(page.url()).pathname, '/login');

    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Infra' }).waitFor();
    // The session really ended: a signed-in page sends the browser back to sign in.
    await page.goto('/users');
    await page.waitForURL(/\/login\?next=%2Fusers/);
    await context.close();
  });

  it('returns to the page asked for after signing in', async () => {
    const { context, page } = await newPage(browser, server);
    await page.goto('/groups');
    await page.waitForURL(/\/login\?next=%2Fgroups/);
    await signIn(page);
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/groups');
    await context.close();
  });

  it('makes a new user choose a password after signing in with the one-time one', async () => {
    const admin = server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });
    const created = await admin.createUser({ name: 'newbie@example.com' });
    const { context, page } = await newPage(browser, server);
    await page.goto('/login');
    await page.getByLabel('Email').fill('newbie@example.com');
    await page.getByLabel('Password', { exact: true }).fill(created.oneTimePassword);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();

    // The policy is enforced before the form is sent.
    await page.getByLabel('New password', { exact: true }).fill('newbie-password');
    await page.getByLabel('Confirm new password').fill('something else');
    await page.getByRole('button', { name: 'Set password and continue' }).click();
    await page.getByText('The new password does not meet the requirements').waitFor();

    await page.getByLabel('Confirm new password').fill('newbie-password');
    await screenshot(page, 'login-choose-password');
    await page.getByRole('button', { name: 'Set password and continue' }).click();
    await page.getByTestId('current-user').filter({ hasText: 'newbie@example.com' }).waitFor();
    // Not an admin: the admin pages are not offered.
    await page.getByRole('link', { name: 'Clusters' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
    await page.goto('/users');
    await page.getByRole('heading', { name: 'Admins only' }).waitFor();

    // The one-time password is spent; the chosen one works.
    await assert.rejects(
      server.client().login({
        passwordCredentials: { name: 'newbie@example.com', password: created.oneTimePassword },
      }),
      (err: unknown) => err instanceof ApiError && err.status === 401,
    );
    await server.client().login({
      passwordCredentials: { name: 'newbie@example.com', password: 'newbie-password' },
    });
    await context.close();
  });

  it('is usable with the keyboard alone', async () => {
    const { context, page } = await newPage(browser, server);
    await page.goto('/login');
    // The email field has focus on arrival; Tab moves to the password; Enter submits.
    await page.locator('input[type=email]:focus').waitFor();
    await page.keyboard.type(ADMIN.name);
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN.password);
    await page.keyboard.press('Enter');
    await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();
    await screenshot(page, 'clusters-admin');

    // The first Tab reaches "Skip to content".
    await page.keyboard.press('Tab');
    assert.equal(await focusedText(page), 'Skip to content');

    // Open the Users page from the navigation with the keyboard.
    await page.getByRole('link', { name: 'Users' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();

    // A dialog: opened with Enter, the field has focus, Escape closes it and focus returns.
    await page.getByRole('button', { name: 'Add user' }).first().focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Add a user' }).waitFor();
    assert.equal(await page.evaluate("document.activeElement?.getAttribute('type')"), 'email');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal(await focusedText(page), 'Add user');
    await context.close();
  });

  it('fits a phone-width screen, with the navigation behind a menu button', async () => {
    const { context, page } = await newPage(browser, server, PHONE);
    await signIn(page);
    await page.goto('/users');
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    const nav = page.getByRole('link', { name: 'Groups' });
    assert.equal(await nav.isVisible(), false, 'the sidebar is off-screen');
    // Nothing is wider than the screen.
    assert.ok(
      await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'),
      'no horizontal scrolling',
    );
    await screenshot(page, 'users-phone');
    for (const path of ['/clusters', '/access', '/groups', '/providers', '/audit', '/settings']) {
      await page.goto(path);
      await page.locator('main h1').waitFor();
      await page.locator('.skeleton-row').first().waitFor({ state: 'detached' });
      assert.ok(
        await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'),
        `no horizontal scrolling on ${path}`,
      );
      await screenshot(page, `phone${path.replace('/', '-')}`);
    }
    await page.goto('/users');
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await nav.click();
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Open navigation' }).waitFor();
    await context.close();
  });

  it('refuses a write with the session cookie from another origin', async () => {
    const { context, page } = await newPage(browser, server);
    await signIn(page);
    const cookie = (await context.cookies()).find((c) => c.name.includes('session'));
    assert.ok(cookie, 'the session is a cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');

    // The browser's own cookie, replayed with another Origin, is refused; same origin works.
    const post = (origin: string, name: string) =>
      rawRequest(`${server.url}/api/users`, {
        method: 'POST',
        ca: server.ca,
        headers: {
          cookie: `${cookie.name}=${cookie.value}`,
          origin,
          host: new URL(server.url).host,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name }),
      });
    const refused = await post('https://evil.example', 'csrf1@example.com');
    assert.equal(refused.status, 403);
    assert.equal(
      refused.json<{ message: string }>().message,
      'cross-site requests cannot use the session cookie',
    );
    assert.equal((await post(server.url, 'same-origin@example.com')).status, 201);

    // A page on another origin tries the simple request a browser would send without asking.
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>elsewhere</title>');
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const port = (evil.address() as AddressInfo).port;
      await page.goto(`http://127.0.0.1:${port}/`);
      // Evaluated in the page (a string: this file is type-checked without the DOM library).
      await page.evaluate(`fetch(${JSON.stringify(`${server.url}/api/users`)}, {
        method: 'POST',
        mode: 'no-cors',
        credentials: 'include',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ name: 'csrf@example.com' }),
      }).catch(() => undefined)`);
    } finally {
      evil.close();
    }
    const admin = server.client({
      accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
    });
    assert.equal((await admin.listUsers({ name: 'csrf@example.com' })).items.length, 0);
    assert.equal((await admin.listUsers({ name: 'csrf1@example.com' })).items.length, 0);
    await context.close();
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
