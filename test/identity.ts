import type { ApiClient } from '../src/api/client.js';
import type { Engine } from '../src/server/data/db.js';
import type { TestClock } from './clock.js';
import { startTestServer, type TestServer } from './server.js';

export const ADMIN = { name: 'admin@example.com', password: 'admin-password-1' };

/** The config file that declares ADMIN (give it to replicas too: they reconcile it at start). */
export const ADMIN_CONFIG = `users:\n  - name: ${ADMIN.name}\n    password: plaintext:${ADMIN.password}\n    infraRole: admin\n`;

/** A server whose config file declares an admin with a password. */
export async function startAdminServer(
  engine: Engine,
  options: {
    clock?: TestClock;
    settings?: Record<string, string | boolean | string[]>;
    configFile?: string;
  } = {},
): Promise<{ server: TestServer; admin: ApiClient; adminKey: string; adminId: string }> {
  const server = await startTestServer({
    engine,
    clock: options.clock,
    settings: options.settings,
    configFile: options.configFile ?? ADMIN_CONFIG,
  });
  const session = await server.client().login({ passwordCredentials: ADMIN });
  return {
    server,
    admin: server.client({ accessKey: session.accessKey }),
    adminKey: session.accessKey,
    adminId: session.userID,
  };
}

export interface SignedIn {
  id: string;
  name: string;
  password: string;
  key: string;
  client: ApiClient;
}

/**
 * Creates a user through the API and signs them in the way a person would: log in with the
 * one-time password, then choose a password. Optionally grants them a role on infra first.
 */
export async function createSignedInUser(
  server: TestServer,
  admin: ApiClient,
  name: string,
  role?: 'admin' | 'view',
): Promise<SignedIn> {
  const created = await admin.createUser({ name });
  if (role) await admin.createGrant({ user: created.id, privilege: role, resource: 'infra' });
  const first = await server
    .client()
    .login({ passwordCredentials: { name, password: created.oneTimePassword } });
  const password = `${name}-chosen-password`;
  await server
    .client({ accessKey: first.accessKey })
    .updateUser({ id: 'self', password, oldPassword: created.oneTimePassword });
  return {
    id: created.id,
    name,
    password,
    key: first.accessKey,
    client: server.client({ accessKey: first.accessKey }),
  };
}

export interface UserWithKey {
  id: string;
  name: string;
  key: string;
  client: ApiClient;
}

/** A user made by an admin, with an access key of their own (no password, so no scrypt cost). */
export async function userWithKey(
  server: TestServer,
  admin: ApiClient,
  name: string,
): Promise<UserWithKey> {
  const { id } = await admin.createUser({ name });
  const { accessKey } = await admin.createAccessKey({ userID: id, expiry: '1h' });
  return { id, name, key: accessKey, client: server.client({ accessKey }) };
}
