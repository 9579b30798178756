import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { ADMIN } from '../identity.js';
import { startTestIdp, type TestIdp } from '../oidc-provider.js';
import { dashboardLogin } from '../provider-login.js';
import type { TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  rowTexts,
  screenshot,
  signIn,
  startDashboardServer,
  pageErrors,
} from './browser.js';

let browser: Browser;
let server: TestServer;
let idp: TestIdp;
let admin: ApiClient;

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startDashboardServer()]);
  idp = await startTestIdp({
    redirectUris: [`${server.url}/login/callback`, 'http://127.0.0.1/callback'],
  });
  idp.accounts.set('alice', { email: 'alice@example.com', groups: ['devs'] });
  admin = server.client({
    accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
  });
});
after(async () => {
  await browser.close();
  await server.close();
  await idp.close();
});

/**
 * The test provider has no sign-in screen of its own: when the browser goes to it, the test
 * plays the person at the provider (as test/oidc-provider.ts does for the API tests) and sends
 * the browser on to wherever the provider redirects, normally the dashboard's callback.
 */
async function actAtProvider(page: Page, account: string): Promise<void> {
  await page.route(`${idp.issuer}/**`, async (route) => {
    const back = await idp.signIn(route.request().url(), account);
    await route.fulfill({ status: 302, headers: { location: back.href } });
  });
}

describe('dashboard: identity providers', () => {
  it('adds, edits and removes a provider, showing the redirect URIs to register', async () => {
    const { context, page } = await newPage(browser, server);
    await signIn(page);
    await page.goto('/providers');
    await page.getByRole('heading', { name: 'No identity providers' }).waitFor();
    await page.getByRole('button', { name: 'Add provider' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Add an identity provider' });
    // The redirect URIs are shown before anything is saved.
    await dialog.getByText(`${server.url}/login/callback`).waitFor();
    const uris = await dialog.locator('.redirects li').allInnerTexts();
    assert.equal(uris.length, 2);
    assert.match(uris[0]!, /\/login\/callback\s+Copy\s+for this dashboard/);
    assert.match(uris[1]!, /^http:\/\/127\.0\.0\.1\/callback\s+Copy\s+for the CLI \(any port\)/);
    await dialog.getByRole('radio', { name: 'Generic OIDC' }).check();
    await dialog.getByLabel('Name').fill('company');
    await dialog.getByLabel('Client ID').fill(idp.clientId);
    await dialog.getByLabel('Client secret').fill(idp.clientSecret);

    // An issuer that does not answer: the reason is shown on the URL field.
    await dialog.getByLabel('Issuer URL').fill('http://127.0.0.1:1');
    await dialog.getByRole('button', { name: 'Add provider' }).click();
    const urlError = dialog.locator('.field-error', { hasText: 'discovery' });
    await urlError.waitFor();
    assert.match(await urlError.innerText(), /127\.0\.0\.1:1.*cannot connect/);
    await screenshot(page, 'providers-discovery-error');

    await dialog.getByLabel('Issuer URL').fill(idp.issuer);
    await dialog.getByRole('button', { name: 'Add provider' }).click();
    const added = page.getByRole('dialog', { name: 'Provider added' });
    await added.getByText(`${server.url}/login/callback`).waitFor();
    await added.getByRole('button', { name: 'Done' }).click();
    assert.match((await rowTexts(page)).join('\n'), /company\s+Generic OIDC/);
    await screenshot(page, 'providers');

    // Edit: a new client ID, the secret left empty is kept.
    await page.getByRole('button', { name: 'Edit company' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit company' });
    await edit.getByText('Leave empty to keep the current secret').waitFor();
    await edit.getByLabel('Client ID').fill('renamed-client');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('dialog', { name: 'Provider saved' })
      .getByRole('button', { name: 'Done' })
      .click();
    const [provider] = (await admin.listProviders({ name: 'company' })).items;
    assert.equal(provider?.clientID, 'renamed-client');

    await page.getByRole('button', { name: 'Remove company' }).click();
    const confirm = page.getByRole('dialog', { name: 'Remove company?' });
    await confirm.getByText('their sessions end now').waitFor();
    await confirm.getByRole('button', { name: 'Remove provider' }).click();
    await page.getByRole('heading', { name: 'No identity providers' }).waitFor();
    assert.equal((await admin.listProviders({})).count, 0);
    await context.close();
  });

  it('signs in through a provider from its button and returns to the page asked for', async () => {
    await admin.createProvider({
      name: 'acme',
      kind: 'oidc',
      url: idp.issuer,
      clientID: idp.clientId,
      clientSecret: idp.clientSecret,
    });
    const { context, page } = await newPage(browser, server);
    await actAtProvider(page, 'alice');
    await page.goto('/settings');
    await page.waitForURL(/\/login\?next=%2Fsettings/);
    await screenshot(page, 'login-with-provider');
    await page.getByRole('button', { name: /Sign in with acme/ }).click();
    await page.getByTestId('current-user').filter({ hasText: 'alice@example.com' }).waitFor({
      state: 'attached',
    });
    assert.equal(new URL(page.url()).pathname, '/settings');
    // The provider's code and state are not left in the address bar or in storage.
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    const [alice] = (await admin.listUsers({ name: 'alice@example.com' })).items;
    assert.ok(alice);
    await context.close();
  });

  it('warns about users the provider issued no refresh token for', async () => {
    // An app at the provider that does not hand out refresh tokens for the scope alone.
    const stingy = await startTestIdp({
      redirectUris: [`${server.url}/login/callback`],
      refreshTokens: 'spec',
    });
    try {
      stingy.accounts.set('bob', { email: 'bob@example.com', groups: [] });
      const provider = await admin.createProvider({
        name: 'stingy',
        kind: 'okta',
        url: stingy.issuer,
        clientID: stingy.clientId,
        clientSecret: stingy.clientSecret,
      });
      await (await dashboardLogin(server, stingy, provider.id, 'bob')).login();
      const { context, page } = await newPage(browser, server);
      await signIn(page);
      await page.goto('/providers');
      const row = page.getByRole('row', { name: /stingy/ });
      await row.getByText('1 without refresh token').waitFor();
      await screenshot(page, 'providers-users');
      await page.getByRole('button', { name: 'Edit stingy' }).click();
      const edit = page.getByRole('dialog', { name: 'Edit stingy' });
      await edit.getByText('For 1 of its 1 users, stingy issued no refresh token').waitFor();
      await screenshot(page, 'providers-no-refresh-token');
      await context.close();
      await admin.deleteProvider({ id: provider.id });
    } finally {
      await stingy.close();
    }
  });

  it('shows what the provider said when it refuses, with a way back', async () => {
    const { context, page } = await newPage(browser, server);
    await page.goto(
      '/login/callback?error=access_denied&error_description=The+user+is+not+assigned+to+this+app',
    );
    await page.getByText('The identity provider said: access_denied').waitFor();
    await page.getByText('The user is not assigned to this app').waitFor();
    await screenshot(page, 'login-callback-error');
    await page.getByRole('link', { name: 'Back to sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in to Infra' }).waitFor();

    // A replayed or forged callback is refused plainly.
    await page.goto('/login/callback?code=forged&state=forged');
    await page.getByRole('heading', { name: 'Could not sign you in' }).waitFor();
    await context.close();
  });
});

describe('dashboard: device approval', () => {
  it('approves a device after signing in, and says plainly when a code is unknown', async () => {
    const device = await server.client().createDeviceRequest({});
    const { context, page } = await newPage(browser, server);
    await page.goto(`/device?code=${device.userCode}`);
    await page.waitForURL(/\/login\?next=%2Fdevice/);
    await page.getByLabel('Email').fill(ADMIN.name);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('A device asks to sign in as').waitFor();
    assert.equal(await page.getByTestId('device-code').innerText(), device.userCode);
    await screenshot(page, 'device');
    assert.equal(
      (await server.client().getDeviceStatus({ deviceCode: device.deviceCode })).status,
      'pending',
    );
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: 'Device approved' }).waitFor();
    const status = await server.client().getDeviceStatus({ deviceCode: device.deviceCode });
    assert.equal(status.status, 'approved');
    assert.equal(status.login?.name, ADMIN.name);

    // No code in the address: a field asks for it. An unknown one is explained.
    await page.goto('/device');
    await page.getByLabel('Code').fill('ZZZZ-ZZZZ');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('This code is unknown or has expired').waitFor();

    // "Not me" approves nothing.
    const other = await server.client().createDeviceRequest({});
    await page.goto(`/device?code=${other.userCode}`);
    await page.getByRole('button', { name: 'Not me' }).click();
    await page.getByRole('heading', { name: 'Request declined' }).waitFor();
    assert.equal(
      (await server.client().getDeviceStatus({ deviceCode: other.deviceCode })).status,
      'pending',
    );
    await context.close();
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
