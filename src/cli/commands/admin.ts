import { randomInt } from 'node:crypto';
import { listAll, MAX_PAGE, type ApiClient } from '../../api/client.js';
import { ApiError } from '../../api/errors.js';
import type { Destination } from '../../api/destinations.js';
import { CliError, explain, requireSession, withClient, type CliIO } from '../context.js';
import { humanTime, printList, printValue, type OutputFormat } from '../output.js';

type Output = { output: OutputFormat };
/** For commands that create something: `name` is not offered, it would hide the secret. */
type ResultOutput = { output: Exclude<OutputFormat, 'name'> };

async function userByName(client: ApiClient, name: string) {
  const system = name === 'connector' || name === 'scim';
  const [user] = (await client.listUsers({ name, showSystem: system })).items;
  if (!user) throw new CliError(`No user named ${name}; \`infra users list\` shows who exists`);
  return user;
}

async function groupByName(client: ApiClient, name: string) {
  const [group] = (await client.listGroups({ name })).items;
  if (!group) throw new CliError(`No group named ${name}; \`infra groups list\` shows what exists`);
  return group;
}

function temporaryPassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return Array.from({ length: 16 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

export const users = {
  async add(io: CliIO, name: string, opts: ResultOutput) {
    const user = await withClient(io, (c) => c.createUser({ name }));
    if (opts.output !== 'table') return printValue(io.stdout, opts.output, user);
    io.stdout.write(`Added user ${user.name}\nOne-time password: ${user.oneTimePassword}\n`);
    io.stderr.write('Give it to them safely; they choose their own at first login.\n');
  },
  async list(io: CliIO, opts: Output) {
    const items = await withClient(io, (c) => listAll(c.listUsers, {}));
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'Last seen', 'Managed by'],
      row: (u) => [u.name, humanTime(u.lastSeenAt), u.managedBy],
      name: (u) => u.name,
      empty: 'No users; add one with `infra users add EMAIL`',
    });
  },
  async edit(io: CliIO, name: string, opts: { password?: boolean }) {
    if (!opts.password) throw new CliError('Nothing to change; pass --password', 2);
    const session = requireSession(io);
    if (name === session.server.session.name) {
      if (!io.interactive)
        throw new CliError('Changing your own password needs a terminal to ask for it');
      const { password } = await import('@inquirer/prompts');
      const old = await password({ message: 'Current password:', mask: true });
      const next = await password({ message: 'New password:', mask: true });
      if (next !== (await password({ message: 'New password again:', mask: true }))) {
        throw new CliError('The passwords do not match; nothing changed');
      }
      await session.client
        .updateUser({ id: 'self', password: next, oldPassword: old })
        .catch((err: unknown) => {
          throw explain(err);
        });
      io.stderr.write('Password changed\n');
      return;
    }
    const temporary = temporaryPassword();
    await withClient(io, async (c) =>
      c.updateUser({ id: (await userByName(c, name)).id, password: temporary }),
    );
    io.stdout.write(`Reset the password of ${name}\nOne-time password: ${temporary}\n`);
  },
  async remove(io: CliIO, name: string, opts: { force?: boolean }) {
    await withClient(io, async (c) => {
      const [user] = (await c.listUsers({ name })).items;
      if (!user) {
        if (opts.force) return;
        throw new CliError(`No user named ${name}; nothing removed`);
      }
      await c.deleteUser({ id: user.id });
      io.stderr.write(`Removed user ${name}\n`);
    });
  },
};

export const groups = {
  async add(io: CliIO, name: string) {
    await withClient(io, (c) => c.createGroup({ name }));
    io.stderr.write(`Added group ${name}\n`);
  },
  async list(io: CliIO, opts: Output) {
    const items = await withClient(io, (c) => listAll(c.listGroups, {}));
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'Users', 'Managed by'],
      row: (g) => [g.name, String(g.totalUsers), g.managedBy],
      name: (g) => g.name,
      empty: 'No groups; add one with `infra groups add NAME`',
    });
  },
  async remove(io: CliIO, name: string, opts: { force?: boolean }) {
    await withClient(io, async (c) => {
      const [group] = (await c.listGroups({ name })).items;
      if (!group) {
        if (opts.force) return;
        throw new CliError(`No group named ${name}; nothing removed`);
      }
      await c.deleteGroup({ id: group.id });
      io.stderr.write(`Removed group ${name}\n`);
    });
  },
  async adduser(io: CliIO, user: string, group: string) {
    const result = await withClient(io, async (c) => {
      const [u, g] = await Promise.all([userByName(c, user), groupByName(c, group)]);
      return c.updateGroupUsers({ id: g.id, usersToAdd: [u.id] });
    });
    io.stderr.write(
      result.usersAdded.length > 0
        ? `Added ${user} to ${group}\n`
        : `${user} is already a member of ${group}; nothing changed\n`,
    );
  },
  async removeuser(io: CliIO, user: string, group: string) {
    const result = await withClient(io, async (c) => {
      const [u, g] = await Promise.all([userByName(c, user), groupByName(c, group)]);
      return c.updateGroupUsers({ id: g.id, usersToRemove: [u.id] });
    });
    io.stderr.write(
      result.usersRemoved.length > 0
        ? `Removed ${user} from ${group}\n`
        : `${user} is not a member of ${group} (added by an admin); nothing changed\n`,
    );
  },
};

interface GrantOpts {
  group?: boolean;
  role?: string;
  force?: boolean;
}

/** `prod.web` on a known destination: checks the cluster, namespace and role exist. */
async function checkGrantTarget(client: ApiClient, resource: string, role: string): Promise<void> {
  if (resource === 'infra') {
    if (!['admin', 'view', 'auditor'].includes(role))
      throw new CliError('On infra the role must be admin, view or auditor');
    return;
  }
  const [destination, namespace] = resource.split('.') as [string, string | undefined];
  const [d] = (await client.listDestinations({ name: destination })).items;
  if (!d)
    throw new CliError(
      `No cluster named ${destination} is connected; pass --force to grant it anyway`,
    );
  if (namespace && !d.namespaces.includes(namespace)) {
    throw new CliError(
      `Cluster ${destination} has no namespace ${namespace}; pass --force to grant it anyway`,
    );
  }
  if (role !== 'connect' && !d.roles.includes(role)) {
    throw new CliError(
      `Cluster ${destination} offers no role ${role} (it offers ${d.roles.join(', ')}); pass --force to grant it anyway`,
    );
  }
}

/**
 * When a grant's subject names no user (or, with -g, no group): a sentence saying whether it
 * names one of the other kind, so a forgotten or extra -g says so rather than "must be an email".
 */
async function wrongKind(
  client: ApiClient,
  subject: string,
  isGroup: boolean,
): Promise<CliError | undefined> {
  if (isGroup) {
    const [user] = (await client.listUsers({ name: subject })).items;
    if (user) return new CliError(`${subject} is a user, not a group: leave out -g (--group)`);
    return undefined;
  }
  // A name that cannot be a group's (the API refuses it) names no group.
  const [group] = (await client.listGroups({ name: subject }).catch(() => ({ items: [] }))).items;
  if (group) return new CliError(`${subject} is a group, not a user: add -g (--group)`);
  return undefined;
}

export const grants = {
  async add(io: CliIO, subject: string, resource: string, opts: GrantOpts) {
    const role = opts.role ?? 'connect';
    const result = await withClient(io, async (c) => {
      if (!opts.force) await checkGrantTarget(c, resource, role);
      return c
        .createGrant({
          ...(opts.group ? { groupName: subject } : { userName: subject }),
          privilege: role,
          resource,
        })
        .catch(async (err: unknown) => {
          if (!(err instanceof ApiError)) throw err;
          const field = opts.group ? 'groupName' : 'userName';
          const invalid =
            err.code === 'bad_request' && err.fieldErrors?.some((f) => f.field === field);
          if (!invalid && err.code !== 'not_found') throw err;
          throw (
            (await wrongKind(c, subject, !!opts.group)) ??
            (invalid && !opts.group
              ? new CliError(
                  `No user named ${subject}: users are named by their email address; for a group, add -g (--group)`,
                )
              : err)
          );
        });
    });
    io.stderr.write(
      result.wasCreated
        ? `Granted ${role} on ${resource} to ${subject}\n`
        : `${subject} already has ${role} on ${resource}; nothing changed\n`,
    );
  },
  async list(
    io: CliIO,
    opts: Output & {
      destination?: string;
      user?: string;
      group?: string;
      role?: string;
      inherited?: boolean;
    },
  ) {
    const items = await withClient(io, async (c) =>
      listAll(c.listGrants, {
        destination: opts.destination,
        privilege: opts.role,
        user: opts.user ? (await userByName(c, opts.user)).id : undefined,
        group: opts.group ? (await groupByName(c, opts.group)).id : undefined,
        showInherited: opts.inherited,
      }),
    );
    printList(io.stdout, opts.output, items, {
      headers: ['Subject', 'Role', 'Resource', 'Expires'],
      row: (g) => [
        g.userName ?? `group ${g.groupName}`,
        g.privilege,
        g.resource,
        g.expiresAt ? humanTime(g.expiresAt) : '',
      ],
      // Grants have no name: their id is what the API takes.
      name: (g) => g.id,
      empty: 'No grants found; grant a role with `infra grants add SUBJECT RESOURCE --role ROLE`',
    });
  },
  async remove(io: CliIO, subject: string, resource: string, opts: GrantOpts) {
    const removed = await withClient(io, async (c) => {
      const filter = await (
        opts.group
          ? groupByName(c, subject).then((g) => ({ group: g.id }))
          : userByName(c, subject).then((u) => ({ user: u.id }))
      ).catch(async (err: unknown) => {
        throw (await wrongKind(c, subject, !!opts.group)) ?? err;
      });
      const matching = await listAll(c.listGrants, { ...filter, resource, privilege: opts.role });
      if (matching.length === 0) {
        if (opts.force) return 0;
        throw new CliError(
          `${subject} has no${opts.role ? ` ${opts.role}` : ''} grant on ${resource}; nothing removed`,
        );
      }
      // One request removes at most a page's worth.
      for (let i = 0; i < matching.length; i += MAX_PAGE) {
        const batch = matching.slice(i, i + MAX_PAGE);
        await c.updateGrants({ grantsToRemove: batch.map((g) => ({ id: g.id })) });
      }
      return matching.length;
    });
    io.stderr.write(
      `Revoked ${removed} grant${removed === 1 ? '' : 's'} of ${subject} on ${resource}\n`,
    );
  },
};

/** `base`, or the first of `base-2`, `base-3`… that no key in `keys` is named. */
function freeName(base: string, keys: Array<{ name: string }>): string {
  const taken = new Set(keys.map((k) => k.name));
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  return name;
}

export const keys = {
  async add(
    io: CliIO,
    opts: {
      user?: string;
      connector?: boolean;
      destination?: string;
      name?: string;
      expiry?: string;
      inactivityTimeout?: string;
    } & ResultOutput,
  ) {
    if (opts.destination !== undefined && !opts.connector)
      throw new CliError('--cluster is for connector keys: add --connector', 2);
    const owner = opts.connector ? 'connector' : opts.user;
    const removal = (name: string) => `infra keys remove ${name}${owner ? ` --user ${owner}` : ''}`;
    const { key, older } = await withClient(io, async (c) => {
      const userID = owner ? (await userByName(c, owner)).id : 'self';
      // Rotating a connector key is adding another for the same cluster: the default name
      // takes the next free suffix (prod-connector-2) and the old key keeps working meanwhile.
      const existing = opts.destination
        ? await listAll(c.listAccessKeys, { userID, showExpired: true })
        : [];
      const name =
        opts.name ?? (opts.destination && freeName(`${opts.destination}-connector`, existing));
      // Connectors run for months; people's keys default to the API's 30 days.
      const expiry = opts.expiry ?? (opts.connector ? '8760h' : undefined);
      const created = await c
        .createAccessKey({
          userID,
          name,
          expiry,
          inactivityTimeout: opts.inactivityTimeout,
          destination: opts.destination,
        })
        .catch((err: unknown) => {
          if (err instanceof ApiError && err.code === 'conflict')
            throw new CliError(
              `${owner ?? 'You'} already ${owner ? 'has' : 'have'} a key named ${name}; pick another --name, or remove that key first (\`${removal(name!)}\`)`,
            );
          throw err;
        });
      const now = Date.now();
      return {
        key: created,
        older: existing.filter(
          (k) => k.destination === opts.destination && Date.parse(k.expires) > now,
        ),
      };
    });
    if (opts.output !== 'table') printValue(io.stdout, opts.output, key);
    else {
      io.stderr.write(
        `Created key ${key.name} for ${key.userName}${key.destination ? ` (cluster ${key.destination} only)` : ''}, expiring ${key.expires}\n`,
      );
      io.stdout.write(`${key.accessKey}\n`);
    }
    if (older.length > 0) {
      const names = older.map((k) => k.name);
      io.stderr.write(
        `${names.join(', ')} still ${names.length === 1 ? 'works' : 'work'}; once the connector runs with the new key, remove ${names.length === 1 ? 'it' : 'them'}: ${names.map((n) => `\`${removal(n)}\``).join(', ')}\n`,
      );
    }
  },
  async list(io: CliIO, opts: Output & { user?: string; all?: boolean; showExpired?: boolean }) {
    const items = await withClient(io, async (c) =>
      listAll(c.listAccessKeys, {
        userID: opts.all ? undefined : opts.user ? (await userByName(c, opts.user)).id : 'self',
        showExpired: opts.showExpired,
      }),
    );
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'User', 'Created', 'Expires', 'Last used'],
      row: (k) => [
        k.name,
        k.userName,
        humanTime(k.created),
        humanTime(k.expires),
        humanTime(k.lastUsed),
      ],
      name: (k) => k.name,
      empty: 'No access keys; create one with `infra keys add`',
    });
  },
  async remove(io: CliIO, name: string, opts: { user?: string }) {
    await withClient(io, async (c) => {
      const userID = opts.user ? (await userByName(c, opts.user)).id : 'self';
      await c.deleteAccessKeys({ name, userID }).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404)
          throw new CliError(`No key named ${name}; nothing removed`);
        throw err;
      });
    });
    io.stderr.write(`Removed key ${name}\n`);
  },
};

/** Connected or not; in tunnel mode, whether kubectl can get through, and through how many replicas. */
function destinationStatus(d: Destination): string {
  if (d.kind === 'ssh' || d.connection.mode === 'direct')
    return d.connected ? 'connected' : 'disconnected';
  const n = d.tunnel.replicas.length;
  if (n === 0) return d.connected ? 'connected, no tunnel' : 'disconnected, no tunnel';
  return `tunnel to ${n} replica${n === 1 ? '' : 's'}`;
}

export const destinations = {
  async list(io: CliIO, opts: Output) {
    const items = await withClient(io, (c) => listAll(c.listDestinations, {}));
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'Kind', 'Mode', 'URL', 'Status', 'Last seen'],
      row: (d) => [
        d.name,
        d.kind,
        d.kind === 'ssh' ? '' : d.connection.mode,
        d.kind === 'ssh' ? `ssh://${d.ssh.address}` : d.connection.url,
        destinationStatus(d),
        humanTime(d.lastSeen),
      ],
      name: (d) => d.name,
      empty:
        'No clusters connected; connect one by running a connector with a key from `infra keys add --connector --cluster NAME`',
    });
  },
  async remove(io: CliIO, name: string, opts: { force?: boolean }) {
    await withClient(io, async (c) => {
      const [d] = (await c.listDestinations({ name })).items;
      if (!d) {
        if (opts.force) return;
        throw new CliError(`No cluster named ${name}; nothing removed`);
      }
      await c.deleteDestination({ id: d.id });
    });
    io.stderr.write(`Removed cluster ${name} (its grants stay)\n`);
  },
};
