import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { ApiClient } from '../../src/api/client.js';
import { ApiError } from '../../src/api/errors.js';
import { loadConnectorConfig } from '../../src/connector/config.js';
import { startConnector } from '../../src/connector/main.js';
import { createLogger } from '../../src/shared/logger.js';
import { CONNECTOR_SA } from '../cluster.js';
import { startFakeKube, type KubeObject } from '../fake-kube/server.js';
import { ADMIN, createSignedInUser } from '../identity.js';
import { freePort } from '../pebble.js';
import { LogSink, type TestServer } from '../server.js';
import {
  launchBrowser,
  newPage,
  rowTexts,
  screenshot,
  signIn,
  startDashboardServer,
  until,
  pageErrors,
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
  await admin.createDestination({
    name: 'prod',
    uniqueID: 'prod-cluster-ca',
    connection: { url: 'https://prod.example.com:9443', ca: '' },
    namespaces: ['web', 'db'],
    roles: ['view', 'edit', 'admin', 'cluster-admin'],
    version: '1.30.2',
  });
  ({ page } = await newPage(browser, server));
  await signIn(page);
});
after(async () => {
  await browser.close();
  await server.close();
});

/** The value shown in the one-time secret box of the open dialog or page. */
function secretValue(): Promise<string> {
  return page.locator('.secret-value').innerText();
}

describe('dashboard: users', () => {
  it('adds a user showing the one-time password once, and removes them', async () => {
    await page.goto('/users');
    await page.getByRole('button', { name: 'Add user' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Add a user' });
    // A bad email is explained next to the field.
    await dialog.getByLabel('Email').fill('not-an-email');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await dialog.getByText('must be an email address').waitFor();

    await dialog.getByLabel('Email').fill('bob@example.com');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('dialog', { name: 'User added' }).waitFor();
    const oneTimePassword = await secretValue();
    assert.ok(oneTimePassword.length >= 8);
    await page.getByRole('button', { name: 'Copy', exact: true }).waitFor();
    await screenshot(page, 'users-one-time-password');
    // The password works (once).
    await server
      .client()
      .login({ passwordCredentials: { name: 'bob@example.com', password: oneTimePassword } });

    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('link', { name: /bob@example\.com/ }).waitFor();
    // Shown once: gone from the page once the dialog closes, and never again on reload.
    assert.equal(await page.getByText(oneTimePassword).count(), 0);
    await page.reload();
    await page.getByRole('link', { name: /bob@example\.com/ }).waitFor();
    assert.ok(!(await page.content()).includes(oneTimePassword));
    await screenshot(page, 'users');

    // Search filters the list.
    await page.getByRole('searchbox', { name: 'Search users' }).fill('bob');
    await page.getByRole('button', { name: 'Remove bob@example.com' }).click();
    const confirm = page.getByRole('dialog', { name: 'Remove bob@example.com?' });
    await confirm.getByText('This cannot be undone').waitFor();
    await confirm.getByRole('button', { name: 'Remove user' }).click();
    await confirm.waitFor({ state: 'detached' });
    await page.getByRole('heading', { name: 'No matching users' }).waitFor();
    assert.equal((await admin.listUsers({ name: 'bob@example.com' })).items.length, 0);
  });

  it("shows a user's groups and grants on their page", async () => {
    const carol = await admin.createUser({ name: 'carol@example.com' });
    const team = await admin.createGroup({ name: 'team' });
    await admin.updateGroupUsers({ id: team.id, usersToAdd: [carol.id] });
    await admin.createGrant({ group: team.id, privilege: 'view', resource: 'prod.web' });
    await admin.createGrant({ user: carol.id, privilege: 'edit', resource: 'prod' });
    await page.goto(`/users/${carol.id}`);
    await page.getByRole('heading', { name: 'carol@example.com' }).waitFor();
    await page.getByRole('link', { name: 'team', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'prod / namespace web' }).waitFor();
    const rows = (await rowTexts(page)).join('\n');
    assert.match(rows, /carol@example\.com\s+edit\s+prod \(whole cluster\)\s+never/);
    assert.match(rows, /group\s+team\s+view\s+prod \/ namespace web\s+never/);
    await screenshot(page, 'user-detail');
  });
});

describe('dashboard: groups', () => {
  it('creates a group, adds and removes members', async () => {
    await admin.createUser({ name: 'dave@example.com' });
    await page.goto('/groups');
    await page.getByRole('button', { name: 'Create group' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Create a group' });
    await dialog.getByLabel('Name').fill('oncall');
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('heading', { name: 'oncall' }).waitFor();
    await page.getByText('No members yet').waitFor();

    // An unknown email is explained, not silently ignored.
    await page.getByLabel('Add a member').fill('nobody@example.com');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByText('No user has the email nobody@example.com').waitFor();

    await page.getByLabel('Add a member').fill('dave@example.com');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('link', { name: /dave@example\.com/ }).waitFor();
    await page.getByText('1 member', { exact: true }).waitFor();
    await screenshot(page, 'group-detail');
    const group = (await admin.listGroups({ name: 'oncall' })).items[0]!;
    assert.deepEqual(
      (await admin.listUsers({ group: group.id })).items.map((u) => u.name),
      ['dave@example.com'],
    );

    await page.getByRole('button', { name: 'Remove dave@example.com from the group' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove member' }).click();
    await page.getByText('No members yet').waitFor();
    assert.equal((await admin.listUsers({ group: group.id })).items.length, 0);

    await page.goto('/groups');
    await page.locator('main tbody tr', { hasText: 'oncall' }).waitFor();
    assert.match((await rowTexts(page)).join('\n'), /oncall\s+0 members/);
  });
});

describe('dashboard: long lists', () => {
  it('shows the first page and loads the next with the cursor', async () => {
    for (let i = 0; i < 105; i++) {
      await admin.createGroup({ name: `bulk-${String(i).padStart(3, '0')}` });
    }
    await page.goto('/groups');
    await page.getByText('Showing 100').waitFor();
    assert.equal((await rowTexts(page)).length, 100);
    await page.getByRole('button', { name: 'Load more groups' }).click();
    await until('the second page is shown', async () => (await rowTexts(page)).length > 100);
    const names = (await rowTexts(page)).map((r) => r.split('\t')[0]);
    // Every group once: the second page continues where the first stopped.
    assert.equal(new Set(names).size, names.length);
    assert.equal(names.filter((n) => n?.startsWith('bulk-')).length, 105);
    assert.equal(await page.getByRole('button', { name: 'Load more groups' }).count(), 0);
  });
});

describe('dashboard: access', () => {
  it("grants a role picked from the cluster's roles and namespaces, then revokes it", async () => {
    await admin.createUser({ name: 'erin@example.com' });
    await page.goto('/access');
    await page.getByRole('heading', { name: 'Access', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Grant access' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant access' });
    await dialog.getByLabel('User email').fill('erin@example.com');
    await dialog.getByLabel('Cluster').selectOption('prod');
    await dialog.getByLabel('Namespace', { exact: true }).selectOption('web');
    // The roles are the cluster's, each with what it allows.
    const roles = await dialog.locator('.role-option').allInnerTexts();
    assert.deepEqual(
      roles.map((r) => r.split('\n')[0]),
      ['view', 'edit', 'admin', 'cluster-admin', 'connect'],
    );
    await dialog.getByText('Read most objects (not secrets)').waitFor();
    await dialog.getByRole('radio', { name: /^edit/ }).check();
    await dialog.getByLabel('Expires').selectOption({ label: 'After 7 days' });
    await screenshot(page, 'access-grant-dialog');
    await dialog.getByRole('button', { name: 'Grant', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });

    const row = page.locator('main tbody tr', { hasText: 'erin@example.com' });
    await row.waitFor();
    assert.match(await row.innerText(), /edit\s+prod \/ namespace web\s+6d 23h left/);
    const [grant] = (await admin.listGrants({ resource: 'prod.web', privilege: 'edit' })).items;
    assert.equal(grant?.userName, 'erin@example.com');
    assert.ok(grant.expiresAt);
    await screenshot(page, 'access');

    // Filtering by cluster; revoking asks first and can be cancelled.
    await page.getByLabel('Cluster').selectOption('prod');
    await row.getByRole('button', { name: /^Revoke edit on prod\.web/ }).click();
    await page
      .getByRole('dialog', { name: 'Revoke access?' })
      .getByRole('button', { name: 'Cancel' })
      .click();
    assert.equal(
      (await admin.listGrants({ resource: 'prod.web', privilege: 'edit' })).items.length,
      1,
    );
    await row.getByRole('button', { name: /^Revoke edit on prod\.web/ }).click();
    await page
      .getByRole('dialog', { name: 'Revoke access?' })
      .getByRole('button', { name: 'Revoke' })
      .click();
    await row.waitFor({ state: 'detached' });
    assert.equal(
      (await admin.listGrants({ resource: 'prod.web', privilege: 'edit' })).items.length,
      0,
    );
  });

  it('explains a grant to someone who does not exist', async () => {
    await page.goto('/access');
    await page.getByRole('button', { name: 'Grant access' }).click();
    const dialog = page.getByRole('dialog', { name: 'Grant access' });
    await dialog.getByLabel('User email').fill('ghost@example.com');
    await dialog.getByLabel('Cluster').selectOption('prod');
    await dialog.getByRole('radio', { name: /^view/ }).check();
    await dialog.getByRole('button', { name: 'Grant', exact: true }).click();
    await dialog.getByRole('alert').waitFor();
    assert.match(
      await dialog.getByRole('alert').innerText(),
      /ghost@example\.com|not found|no user/i,
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });
});

describe('dashboard: clusters', () => {
  it('lists clusters with status, namespaces and roles', async () => {
    await page.goto('/clusters');
    const row = page.locator('main tbody tr', { hasText: 'prod' });
    // The Roles column is the admin's once the session has said who this is.
    await page.getByRole('columnheader', { name: 'Roles', exact: true }).waitFor();
    assert.match(
      await row.innerText(),
      /prod\s+Kubernetes\s+connected\s+2 namespaces\s+view, edit, admin, cluster-admin/,
    );
    await row.getByRole('link', { name: 'prod' }).click();
    await page.getByRole('heading', { name: 'Roles' }).waitFor();
    await page.getByText('Everything, everywhere in the cluster').waitFor();
    await screenshot(page, 'cluster-detail');
  });

  it('connects a cluster: a connector key, the commands, then green when it registers', async () => {
    await page.goto('/clusters/connect');
    await page.getByLabel('Cluster name').fill('bad name!');
    await page.getByRole('button', { name: 'Create connector key' }).click();
    await page.getByText('Use 1-63 letters, digits').waitFor();
    await page.getByLabel('Cluster name').fill('staging');
    await page.getByRole('button', { name: 'Create connector key' }).click();
    const key = await secretValue();
    const commands = await page.locator('pre').allInnerTexts();
    assert.match(commands[0]!, /INFRA_CONNECTOR_NAME=staging/);
    assert.match(commands[0]!, /kubectl apply -k \./);
    assert.ok(commands[0]!.includes(key));
    assert.match(commands[1]!, /infra connector --name staging/);
    assert.ok(commands[1]!.includes(`--server-url ${server.url}`));
    await page.getByText('Waiting for staging to connect').waitFor();
    await screenshot(page, 'connect-waiting');

    // The real connector starts with that key and the flags shown, against a fake apiserver.
    const kube = await startFakeKube({
      tokens: { 'sa-token': { user: CONNECTOR_SA, groups: ['system:serviceaccounts'] } },
    });
    kube.seed('clusterroles.rbac.authorization.k8s.io', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'connector-all' },
      rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
    } as KubeObject);
    kube.seed('clusterrolebindings.rbac.authorization.k8s.io', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'connector-all' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'connector-all',
      },
      subjects: [{ kind: 'User', name: CONNECTOR_SA }],
    } as KubeObject);
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-connector-'));
    writeFileSync(path.join(dir, 'kubeconfig'), kube.kubeconfig('sa-token'));
    const port = await freePort();
    const connector = await startConnector(
      await loadConnectorConfig({
        env: { CONNECTOR_ACCESS_KEY: key },
        flags: {
          name: 'staging',
          'server.url': server.url,
          'server.accessKey': 'env:CONNECTOR_ACCESS_KEY',
          'server.trustedFingerprint': server.running.fingerprint,
          kubeconfig: path.join(dir, 'kubeconfig'),
          endpoint: `https://127.0.0.1:${port}`,
          'addr.https': `127.0.0.1:${port}`,
          'addr.metrics': '',
          stateDir: dir,
        },
      }),
      { log: createLogger({ level: 'error', json: true, destination: new LogSink() }) },
    );
    try {
      await page.getByRole('heading', { name: 'Connected' }).waitFor({ timeout: 15_000 });
      await screenshot(page, 'connect-connected');
    } finally {
      await connector.close();
      await kube.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboard: settings', () => {
  it('creates an access key shown once, shows when it was used, and revokes it', async () => {
    await page.goto('/settings');
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create an access key' });
    await dialog.getByLabel('Name').fill('bad name');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('must be 1-256 letters').waitFor();
    await dialog.getByLabel('Name').fill('ci-deploy');
    await dialog.getByLabel('Expires after').selectOption({ label: '7 days' });
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const key = await secretValue();
    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.locator('main tbody tr', { hasText: 'ci-deploy' });
    assert.match(await row.innerText(), /never\s+in 6d 23h/);

    await server.client({ accessKey: key }).getUser({ id: 'self' });
    await page.reload();
    assert.match(await row.innerText(), /just now/);
    await screenshot(page, 'settings');

    await row.getByRole('button', { name: 'Revoke ci-deploy' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await row.waitFor({ state: 'detached' });
    await assert.rejects(
      server.client({ accessKey: key }).getUser({ id: 'self' }),
      (err: unknown) => err instanceof ApiError && err.status === 401,
    );
  });

  it('changes my password, refusing a wrong current one', async () => {
    const frank = await createSignedInUser(server, admin, 'frank@example.com');
    const { context, page: p } = await newPage(browser, server);
    await signIn(p, frank.name, frank.password);
    await p.goto('/settings');
    await p.getByLabel('Current password').fill('wrong');
    await p.getByLabel('New password', { exact: true }).fill('frank-new-password');
    await p.getByLabel('Confirm new password').fill('frank-new-password');
    await p.getByRole('button', { name: 'Change password' }).click();
    await p.getByText('is not your current password').waitFor();
    await p.getByLabel('Current password').fill(frank.password);
    await p.getByRole('button', { name: 'Change password' }).click();
    await p.getByText('Password changed').waitFor();
    await server.client().login({
      passwordCredentials: { name: frank.name, password: 'frank-new-password' },
    });
    // Not an admin: no admins section.
    assert.equal(await p.getByRole('heading', { name: 'Admins' }).count(), 0);
    await context.close();
  });

  it('warns an admin who removes their own admin role', async () => {
    const grace = await createSignedInUser(server, admin, 'grace@example.com', 'admin');
    const { context, page: p } = await newPage(browser, server);
    await signIn(p, grace.name, grace.password);
    await p.goto('/settings');
    const mine = p.locator('main tbody tr', { hasText: 'grace@example.com' });
    assert.match(await mine.innerText(), /\(you\)/);
    // The admin from the config file cannot be revoked here.
    assert.match(
      await p.locator('main tbody tr', { hasText: ADMIN.name }).innerText(),
      /from config/,
    );
    await mine.getByRole('button', { name: /^Revoke admin/ }).click();
    const dialog = p.getByRole('dialog', { name: 'Remove your own admin role?' });
    await dialog.getByText('This is you.').waitFor();
    await screenshot(p, 'settings-remove-self');
    await dialog.getByRole('button', { name: 'Revoke admin' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The navigation drops the admin pages at once.
    await p.getByRole('link', { name: 'Users' }).waitFor({ state: 'detached' });
    assert.equal((await admin.listGrants({ user: grace.id, resource: 'infra' })).items.length, 0);
    await context.close();
  });
});

describe('dashboard: audit log', () => {
  it('lists changes newest first and filters them by action', async () => {
    await page.goto('/audit');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const rows = await rowTexts(page);
    assert.ok(rows.length > 5);
    // Newest first: the last change made (revoking grace's admin grant) leads.
    assert.match(rows[0]!, /grace@example\.com\s+Delete grant/);
    await screenshot(page, 'audit');

    await page.getByLabel('Action').selectOption('createUser');
    await page.locator('main tbody tr', { hasText: 'Create user' }).first().waitFor();
    await until('only user creations are listed', async () =>
      (await rowTexts(page)).every((r) => r.includes('Create user')),
    );
    const created = await rowTexts(page);
    assert.ok(created.some((r) => r.includes('bob@example.com')));
    assert.ok(created.length >= 6);

    await page.getByLabel('Target', { exact: true }).fill('usr_nothing_matches');
    await page.getByRole('heading', { name: 'No matching entries' }).waitFor();
  });
});

it('threw no uncaught exception in any page', () => {
  assert.deepEqual(pageErrors, []);
});
