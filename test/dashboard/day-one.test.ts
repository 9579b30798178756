/**
 * The dashboard on someone's first day: a user finds what they may reach and how, an admin
 * resets a password and connects a cluster with commands that paste as they are, risky actions
 * say so, and the phone menu holds focus.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { parseAllDocuments } from 'yaml';
import type { ApiClient } from '../../src/api/client.js';
import { ADMIN, createSignedInUser, type SignedIn } from '../identity.js';
import type { TestServer } from '../server.js';
import {
  PHONE,
  focusedText,
  launchBrowser,
  newPage,
  pageErrors,
  rowTexts,
  signIn,
  startDashboardServer,
  until,
} from './browser.js';

let browser: Browser;
let server: TestServer;
let admin: ApiClient;
let dana: SignedIn;
let ops: SignedIn;
let prodId: string;

before(async () => {
  [browser, server] = await Promise.all([launchBrowser(), startDashboardServer()]);
  admin = server.client({
    accessKey: (await server.client().login({ passwordCredentials: ADMIN })).accessKey,
  });
  prodId = (
    await admin.createDestination({
      name: 'prod',
      uniqueID: 'prod-cluster-ca',
      connection: { url: 'https://prod.example.com:9443', ca: '' },
      namespaces: ['web', 'db'],
      roles: ['view', 'edit', 'admin', 'cluster-admin', 'exec'],
      version: '1.30.2',
    })
  ).id;
  dana = await createSignedInUser(server, admin, 'dana@example.com');
  // An admin the dashboard manages (the config file's admin cannot revoke its own grant).
  ops = await createSignedInUser(server, admin, 'ops@example.com', 'admin');
  const oncall = await admin.createGroup({ name: 'oncall' });
  await admin.updateGroupUsers({ id: oncall.id, usersToAdd: [dana.id] });
  await admin.createGrant({ group: oncall.id, privilege: 'edit', resource: 'prod.web' });
  await admin.createGrant({
    user: dana.id,
    privilege: 'view',
    resource: 'prod',
    expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
  });
});
after(async () => {
  await browser.close();
  await server.close();
});

async function signedIn(who: { name: string; password: string }, viewport?: typeof PHONE) {
  const opened = await newPage(browser, server, viewport);
  await signIn(opened.page, who.name, who.password);
  return opened;
}

/** The text of the code block labelled `label`. */
function code(page: Page, label: string): Promise<string> {
  return page.getByLabel(label, { exact: true }).innerText();
}

describe('dashboard: a user sees their own access', () => {
  it('lists their roles, through which grant or group and until when, with the commands', async () => {
    const { context, page } = await signedIn(dana);
    // Clusters: their roles, not the cluster's list of roles.
    await page.goto('/clusters');
    const [row] = await rowTexts(page);
    assert.match(row!, /prod/);
    assert.match(row!, /view/);
    assert.match(row!, /edit in web/);
    assert.doesNotMatch(row!, /cluster-admin/);

    await page.goto('/my-access');
    const rows = await rowTexts(page);
    assert.equal(rows.length, 2, rows.join('\n'));
    const viaGroup = rows.find((r) => r.includes('edit'))!;
    assert.match(viaGroup, /web/);
    assert.match(viaGroup, /group oncall/);
    assert.match(viaGroup, /never/);
    assert.match(viaGroup, /infra use prod\.web/);
    const direct = rows.find((r) => r.includes('granted to you'))!;
    assert.match(direct, /whole cluster/);
    assert.match(direct, /left/, 'the expiry shows');
    const commands = await page.locator('.codeblock pre').innerText();
    assert.equal(
      commands.split('\n')[0],
      `infra login ${server.url} --tls-trusted-fingerprint ${server.running.fingerprint}`,
    );
    assert.match(commands, /\ninfra use prod(\.web)?\nkubectl get pods$/);

    // The cluster's own page says the same for that cluster.
    await page.goto(`/clusters/${prodId}`);
    await page.getByRole('heading', { name: 'Your access' }).waitFor();
    const here = await rowTexts(page);
    assert.equal(here.length, 2);
    assert.match(await page.locator('.codeblock pre').innerText(), /^infra login /);
    assert.equal(await page.getByRole('heading', { name: 'Who has access' }).count(), 0);
    await context.close();
  });

  it("shows admins each cluster's roles and their own access apart", async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.goto('/clusters');
    const [row] = await rowTexts(page);
    assert.match(row!, /view, edit, admin, cluster-admin/);
    await page.goto('/my-access');
    await page.getByRole('heading', { name: 'No access yet' }).waitFor();
    await context.close();
  });
});

describe('dashboard: onboarding and password resets', () => {
  it('says what to send a new user, and resets a password with a new one-time one', async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.goto('/users');
    await page.getByRole('button', { name: 'Add user' }).first().click();
    const add = page.getByRole('dialog', { name: 'Add a user' });
    await add.getByLabel('Email').fill('erin@example.com');
    await add.getByRole('button', { name: 'Add user' }).click();
    const added = page.getByRole('dialog', { name: 'User added' });
    await added.waitFor();
    const first = await added.locator('.secret-value').innerText();
    const message = await added.locator('.codeblock pre').innerText();
    assert.ok(message.includes(server.url), message);
    assert.ok(message.includes(first), message);
    assert.ok(
      message.includes(
        `infra login ${server.url} --tls-trusted-fingerprint ${server.running.fingerprint} --user erin@example.com`,
      ),
      message,
    );
    assert.doesNotMatch(await added.innerText(), /remove the user/i);
    await added.getByRole('button', { name: 'Done' }).click();

    const erin = (await admin.listUsers({ name: 'erin@example.com' })).items[0]!;
    await page.goto(`/users/${erin.id}`);
    await page.getByRole('button', { name: 'Reset password' }).click();
    await page
      .getByRole('dialog', { name: 'Reset the password of erin@example.com?' })
      .getByRole('button', { name: 'Reset password' })
      .click();
    const reset = page.getByRole('dialog', { name: 'Password reset' });
    await reset.waitFor();
    const second = await reset.locator('.secret-value').innerText();
    assert.notEqual(second, first);
    assert.ok((await reset.locator('.codeblock pre').innerText()).includes(second));
    // The new one-time password works and must be changed; the old one no longer does.
    const login = (password: string) =>
      server.client().login({ passwordCredentials: { name: 'erin@example.com', password } });
    await assert.rejects(login(first));
    const session = await login(second);
    assert.equal(session.passwordUpdateRequired, true);
    await reset.getByRole('button', { name: 'Done' }).click();
    // No reset button on your own page (you change your own password in Settings).
    await page.goto(`/users/${(await admin.listUsers({ name: ADMIN.name })).items[0]!.id}`);
    await page.getByText('This is you.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Reset password' }).count(), 0);
    await context.close();
  });
});

describe('dashboard: connecting a cluster', () => {
  it('gives commands that paste as they are, and lists a key left unused', async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.goto('/clusters/connect');
    await page.getByLabel('Cluster name').fill('edge');
    await page.getByRole('button', { name: 'Create connector key' }).click();
    await page.getByTestId('connect-status').waitFor();
    const key = await page.locator('.secret-value').innerText();
    await page.getByText(server.running.fingerprint).first().waitFor();
    const binary = await code(page, 'Run outside the cluster');
    assert.match(binary, new RegExp(`--server-trusted-fingerprint ${server.running.fingerprint}`));
    assert.match(binary, /--tunnel/);
    assert.doesNotMatch(binary, /<|>/, 'no placeholder left');
    const script = await code(page, 'Install in the cluster (kustomize)');
    assert.doesNotMatch(script, /checkout/);

    // Run the script as pasted, with kubectl rendering instead of applying (no cluster here).
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-connect-'));
    try {
      const bin = path.join(dir, 'bin');
      execFileSync('mkdir', ['-p', bin]);
      writeFileSync(
        path.join(bin, 'kubectl'),
        `#!/bin/sh\n[ "$1 $2 $3" = "apply -k ." ] && exec /usr/bin/kubectl kustomize . > "${dir}/rendered.yaml"\nexit 1\n`,
      );
      chmodSync(path.join(bin, 'kubectl'), 0o755);
      execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: dir,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      const objects = parseAllDocuments(
        execFileSync('cat', [path.join(dir, 'rendered.yaml')], { encoding: 'utf8' }),
      ).map(
        (d) =>
          d.toJS() as {
            kind: string;
            metadata: { name: string; namespace?: string };
            data?: Record<string, string>;
          },
      );
      const kinds = objects.map((o) => o.kind);
      assert.ok(kinds.includes('Deployment') && kinds.includes('ClusterRoleBinding'), kinds.join());
      assert.ok(!kinds.includes('Service'), 'tunnel mode: nothing dials in');
      const config = objects.find((o) => o.kind === 'ConfigMap')!;
      assert.deepEqual(config.data, {
        INFRA_CONNECTOR_NAME: 'edge',
        INFRA_CONNECTOR_SERVER_URL: server.url,
        INFRA_CONNECTOR_SERVER_TRUSTED_FINGERPRINT: server.running.fingerprint,
        INFRA_CONNECTOR_TUNNEL: 'true',
      });
      const secret = objects.find((o) => o.kind === 'Secret')!;
      assert.equal(Buffer.from(secret.data!['access-key']!, 'base64').toString(), key);
      assert.equal(secret.metadata.namespace, 'infra-connector');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // Leaving before a connector registers: the key is listed on Clusters, and can go.
    const connector = (await admin.listUsers({ name: 'connector', showSystem: true })).items[0]!;
    const edgeKeys = async () =>
      (await admin.listAccessKeys({ userID: connector.id })).items.filter(
        (k) => k.destination === 'edge',
      );
    await page.getByRole('link', { name: 'Clusters', exact: true }).first().click();
    const unused = page.getByRole('region', { name: 'Connector keys never used' });
    await unused.getByText('for edge').waitFor();
    await unused.getByRole('button', { name: /^Delete edge-connector-/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete key' }).click();
    await unused.waitFor({ state: 'detached' });
    assert.deepEqual(await edgeKeys(), []);

    // Or, changing one's mind on the page itself: Delete this key, and the form is back.
    await page.goto('/clusters/connect');
    await page.getByLabel('Cluster name').fill('edge');
    await page.getByRole('button', { name: 'Create connector key' }).click();
    await page.getByRole('button', { name: 'Delete this key' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete key' }).click();
    await page.getByRole('button', { name: 'Create connector key' }).waitFor();
    assert.deepEqual(await edgeKeys(), []);
    await context.close();
  });
});

describe('dashboard: risky actions say so', () => {
  it('warns an admin revoking their own admin, a group grant, or removing themselves', async () => {
    const { context, page } = await signedIn(ops);
    // Their own admin grant, from Access.
    await page.goto('/access');
    await rowTexts(page);
    await page.getByRole('button', { name: 'Revoke admin on infra from ops@example.com' }).click();
    const own = page.getByRole('dialog', { name: 'Remove your own admin role?' });
    await own.getByText('This is you.').waitFor();
    await own.getByText(/You will lose admin/).waitFor();
    await own.getByRole('button', { name: 'Cancel' }).click();

    // A group's grant, from a member's page: every member loses it.
    await page.goto(`/users/${dana.id}`);
    await rowTexts(page);
    await page.getByRole('button', { name: 'Revoke edit on prod.web from oncall' }).click();
    const group = page.getByRole('dialog', {
      name: 'Revoke access from every member of oncall?',
    });
    await group
      .getByText(/every member/)
      .first()
      .waitFor();
    await group.getByRole('button', { name: 'Cancel' }).click();
    // A grant of the user alone says nothing of the kind.
    await page.getByRole('button', { name: 'Revoke view on prod from dana@example.com' }).click();
    const single = page.getByRole('dialog', { name: 'Revoke access?' });
    assert.equal(await single.getByText(/every member/).count(), 0);
    await single.getByRole('button', { name: 'Cancel' }).click();

    // Removing themselves on Users.
    await page.goto('/users');
    await rowTexts(page);
    await page.getByRole('button', { name: 'Remove ops@example.com' }).click();
    const self = page.getByRole('dialog', { name: 'Remove yourself?' });
    await self.getByText('This is you.').waitFor();
    await self.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Remove dana@example.com' }).click();
    assert.equal(
      await page
        .getByRole('dialog', { name: 'Remove dana@example.com?' })
        .getByText('This is you.')
        .count(),
      0,
    );
    await context.close();
  });

  it('marks the session in use among a user’s sessions', async () => {
    // Another sign-in of the same user, which is not this browser's.
    await server
      .client()
      .login({ passwordCredentials: { name: dana.name, password: dana.password } });
    const { context, page } = await signedIn(dana);
    await page.goto('/settings');
    const rows = (await rowTexts(page)).filter((r) => r.includes('sign-in'));
    assert.ok(rows.length >= 2, rows.join('\n'));
    assert.equal(rows.filter((r) => r.includes('this session')).length, 1, rows.join('\n'));
    const current = page.locator('tr', { hasText: 'this session' });
    await current.getByRole('button', { name: /^Revoke/ }).click();
    await page.getByRole('dialog').getByText('This is the session you are using.').waitFor();
    await context.close();
  });
});

describe('dashboard: phone menu and favicon', () => {
  it('holds focus in the open phone menu (Escape closes it, returning focus); has a favicon', async () => {
    const { context, page } = await signedIn(dana, PHONE);
    await page.goto('/clusters');
    const open = page.getByRole('button', { name: 'Open navigation' });
    await open.click();
    await page.getByRole('button', { name: 'Close navigation' }).waitFor();
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      const inMenu = await page.evaluate(
        `!!document.activeElement && (document.activeElement.closest('#sidebar') !== null || document.activeElement.classList.contains('menu-btn'))`,
      );
      assert.ok(inMenu, `Tab ${i + 1} left the menu for ${await focusedText(page)}`);
      seen.add(String(await focusedText(page)));
    }
    assert.ok(seen.has('My access') && seen.has('Settings'), [...seen].join());
    await page.keyboard.press('Escape');
    await open.waitFor();
    await until('focus is back on the menu button', async () =>
      page.evaluate(`document.activeElement?.getAttribute('aria-label') === 'Open navigation'`),
    );

    // The favicon the page links to is there (axe.test.ts fails on a 404 in the console too).
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    const res = await page.request.get(href!);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type']!, /^image\/svg\+xml/);
    await context.close();
  });

  it('threw no uncaught exception in any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
