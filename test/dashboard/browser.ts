/**
 * Helpers for the dashboard's end-to-end tests: a real server serving the built dashboard and
 * Debian's Chromium driven by playwright-core (no browser download).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Engine } from '../../src/server/data/db.js';
import { ADMIN, ADMIN_CONFIG } from '../identity.js';
import { startTestServer, type TestServer } from '../server.js';

const root = path.resolve(import.meta.dirname, '../..');
export const DASHBOARD_DIR = path.join(root, 'dashboard/dist');
const SCREENSHOTS = path.join(root, '.tmp/dashboard-screenshots');

/** scripts/test.ts builds the dashboard once per run; a test file run alone builds it here. */
export function ensureDashboardBuilt(): string {
  if (!existsSync(path.join(DASHBOARD_DIR, 'index.html'))) {
    execFileSync('npm', ['run', 'build', '--workspace', '@infra-ts/dashboard', '--silent'], {
      cwd: root,
      stdio: 'inherit',
    });
  }
  return DASHBOARD_DIR;
}

export const CHROMIUM = process.env.INFRA_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Debian's Chromium, headless, with the flags that keep it quiet and offline. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Uncaught exceptions in any page of this test file; each file asserts there were none. */
export const pageErrors: string[] = [];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** A fresh browser profile (no cookies) that trusts the test server's generated certificate. */
export async function newPage(
  browser: Browser,
  server: TestServer,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL: server.url,
    ignoreHTTPSErrors: true,
    viewport,
  });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  return { context, page };
}

/** A server whose config declares ADMIN, serving the dashboard. */
export function startDashboardServer(
  engine: Engine = 'sqlite',
  options: { configFile?: string } = {},
): Promise<TestServer> {
  return startTestServer({
    engine,
    dashboardDir: ensureDashboardBuilt(),
    configFile: 'configFile' in options ? options.configFile : ADMIN_CONFIG,
  });
}

/** Signs in through the login form and waits for the signed-in frame. */
export async function signIn(page: Page, name = ADMIN.name, password = ADMIN.password) {
  if (!page.url().includes('/login')) await page.goto('/login');
  await page.getByLabel('Email').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByTestId('current-user').filter({ hasText: name }).waitFor({ state: 'attached' });
}

/** Saves a full-page screenshot under .tmp/dashboard-screenshots (kept as a CI artifact). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The text of the table rows on the page, one string per row, once no table is loading. */
export async function rowTexts(page: Page): Promise<string[]> {
  const skeletons = page.locator('main tr.skeleton-row');
  await until('the tables have loaded', async () => (await skeletons.count()) === 0);
  return page.locator('main table tbody tr').allInnerTexts();
}

/** The text of the element that has focus. */
export function focusedText(page: Page): Promise<string | null | undefined> {
  return page.evaluate('document.activeElement?.textContent');
}

/**
 * Waits until `check` holds (polling; the page's CSP forbids Playwright's in-page
 * waitForFunction). Fails with `what` after 10 seconds: a wait, not a timing assertion.
 */
export async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
