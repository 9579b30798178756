import { randomBytes } from 'node:crypto';
import { AppError, UnauthenticatedError, assertThat } from '../../shared/errors.js';
import { parseSshPublicKey, signSshCertificate } from '../../shared/ssh.js';
import { getAccessKey } from '../data/access-keys.js';
import type { Db } from '../data/db.js';
import { getDestination, getDestinationsAccess } from '../data/destinations.js';
import * as data from '../data/ssh.js';
import { CONNECTOR_USER_ID, type Destination, type Grant } from '../models.js';
import { actorOf, type RequestContext } from './context.js';
import { checkConnectorDestination } from './destinations.js';
import {
  BACKDATE_MS,
  HOST_CERTIFICATE_LIFETIME_MS,
  USER_CERTIFICATE_MAX_MS,
} from './ssh-authorities.js';

export type SshRole = 'connect' | 'admin';

/**
 * Extensions by role. `connect`: a terminal and commands, nothing forwarded (no port or agent
 * forwarding, no X11, no ~/.ssh/rc). `admin` (sudo on the host): forwarding too.
 */
const EXTENSIONS: Record<SshRole, string[]> = {
  connect: ['permit-pty'],
  admin: [
    'permit-agent-forwarding',
    'permit-port-forwarding',
    'permit-pty',
    'permit-user-rc',
    'permit-X11-forwarding',
  ],
};

/** Names no Infra user may be given: accounts a Debian or Ubuntu host already has. */
const RESERVED_LOGINS = new Set(
  (
    'root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats ' +
    'nobody sshd messagebus systemd-network systemd-resolve systemd-timesync systemd-journal ' +
    'syslog ubuntu debian admin infra postgres _apt polkitd tss uuidd tcpdump landscape lxd'
  ).split(' '),
);

/** A random serial in [1, 2^63): unique in practice, and no reader treats it as negative. */
function newSerial(): bigint {
  return (randomBytes(8).readBigUInt64BE() >> 1n) | 1n;
}

/** The principal a host accepts for a login: scoped to that host, so no other accepts it. */
export function sshPrincipal(login: string, destination: string): string {
  return `${login}@${destination}`;
}

/** `alice.smith@example.com` → `alice_smith`: what useradd accepts, at most 28 characters. */
export function loginBase(userName: string): string {
  const at = userName.lastIndexOf('@');
  let base = (at > 0 ? userName.slice(0, at) : userName).toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  if (!/^[a-z_]/.test(base)) base = `u${base}`;
  return base.slice(0, 28);
}

/**
 * The login names of these users, assigning one to each who has none: the email's local part,
 * then with 2, 3... appended when taken (by another user, now or ever) or reserved. A name once
 * given is kept for good, so a user's account is the same on every host and never handed on.
 */
export async function ensureSshLogins(
  db: Db,
  users: Array<{ id: string; name: string }>,
  now: number,
): Promise<{ logins: Map<string, string>; assigned: string[] }> {
  const logins = await data.listSshLogins(
    db,
    users.map((u) => u.id),
  );
  const assigned: string[] = [];
  for (const u of users) {
    if (logins.has(u.id)) continue;
    const base = loginBase(u.name);
    for (let n = 1; ; n++) {
      const login = n === 1 ? base : `${base}${n}`;
      if (RESERVED_LOGINS.has(login) || (await data.isSshLoginTaken(db, login))) continue;
      await data.createSshLogin(db, { userId: u.id, login, createdAt: now });
      logins.set(u.id, login);
      assigned.push(login);
      break;
    }
  }
  return { logins, assigned };
}

async function sshDestination(db: Db, name: string): Promise<Destination> {
  const d = await getDestination(db, { byName: name });
  assertThat(
    d.kind === 'ssh',
    () =>
      new AppError('bad_request', `destination ${name} is a Kubernetes cluster, not an SSH host`),
  );
  return d;
}

/**
 * The role a user holds on an SSH host and until when: `admin` if a grant of theirs (or of a
 * group of theirs) says so, else `connect`; other roles mean nothing on a host. The end is the
 * latest end among the grants of that role (null: none ends).
 */
function roleOf(
  grants: Grant[],
  userId: string,
  groups: readonly string[],
): { role: SshRole; until: number | null } | undefined {
  const held = grants.filter(
    (g) =>
      g.resource === g.destination &&
      (g.privilege === 'admin' || g.privilege === 'connect') &&
      (g.subjectKind === 'user' ? g.subjectId === userId : groups.includes(g.subjectName)),
  );
  const role: SshRole | undefined = held.some((g) => g.privilege === 'admin')
    ? 'admin'
    : held.length > 0
      ? 'connect'
      : undefined;
  if (!role) return undefined;
  const ends = held.filter((g) => g.privilege === role).map((g) => g.expiresAt);
  return { role, until: ends.includes(null) ? null : Math.max(...(ends as number[])) };
}

export interface IssuedSshCertificate {
  certificate: string;
  serial: string;
  login: string;
  principal: string;
  role: SshRole;
  destination: Destination;
  hostAuthorities: string[];
  expiresAt: number;
}

/**
 * A user certificate for the caller's public key, if they hold `connect` or `admin` on the host
 * (directly or through a group): its one principal is their login there, it is valid from a
 * minute ago for at most an hour and never past the grant's or the session's end, its
 * extensions follow the role, and it is recorded so that ending the session revokes it.
 */
export async function createSshCertificate(
  ctx: RequestContext,
  input: { destination: string; publicKey: string },
): Promise<IssuedSshCertificate> {
  const actor = actorOf(ctx);
  assertThat(
    actor.kind === 'user' && actor.userId !== CONNECTOR_USER_ID,
    () => new AppError('forbidden', 'system users cannot get SSH certificates'),
  );
  let publicKey;
  try {
    publicKey = parseSshPublicKey(input.publicKey);
  } catch (err) {
    throw new AppError('bad_request', `publicKey: ${(err as Error).message}`);
  }
  if ((await ctx.providers.syncUserIfDue(actor.userId)) === 'offboarded')
    throw new UnauthenticatedError('your identity provider no longer lets you sign in');
  const now = ctx.clock.now();
  const destination = await sshDestination(ctx.db, input.destination);
  const access = (await getDestinationsAccess(ctx.db, [destination.name], now)).get(
    destination.name,
  )!;
  const user = access.users.find((u) => u.id === actor.userId);
  const held = user && roleOf(access.grants, user.id, user.groups);
  assertThat(
    held,
    () =>
      new AppError(
        'no_grant',
        `you have no grant on host ${destination.name}; ask an admin for connect or admin there`,
      ),
  );
  const session = await getAccessKey(ctx.db, { byId: actor.accessKeyId });
  const expiresAt = Math.min(
    now + USER_CERTIFICATE_MAX_MS,
    held.until ?? Infinity,
    session.expiresAt,
  );
  const { logins } = await ensureSshLogins(ctx.db, [{ id: actor.userId, name: actor.name }], now);
  const login = logins.get(actor.userId)!;
  const principal = sshPrincipal(login, destination.name);
  const serial = newSerial();
  const certificate = signSshCertificate(await ctx.ssh.signer(ctx.db, 'user'), {
    kind: 'user',
    publicKey,
    serial,
    keyId: `${actor.name} on ${destination.name}`,
    principals: [principal],
    validAfter: now - BACKDATE_MS,
    validBefore: expiresAt,
    extensions: EXTENSIONS[held.role],
  });
  await data.createSshCertificate(ctx.db, {
    serial: serial.toString(),
    userId: actor.userId,
    sessionId: actor.accessKeyId,
    destination: destination.name,
    issuedAt: now,
    expiresAt,
  });
  ctx.audit({
    kind: 'sshCertificate',
    id: serial.toString(),
    name: destination.name,
    details: { principal, role: held.role, expires: new Date(expiresAt).toISOString() },
  });
  return {
    certificate,
    serial: serial.toString(),
    login,
    principal,
    role: held.role,
    destination,
    hostAuthorities: await ctx.ssh.trusted(ctx.db, 'host', { ensure: true }),
    expiresAt,
  };
}

export interface SshHostState {
  users: Array<{ id: string; name: string; login: string; principal: string; role: SshRole }>;
  userAuthorities: string[];
  revokedSerials: string[];
  hostAuthority: string;
}

/**
 * What the host agent applies: who may log in (with their login names, assigned now for users
 * new to SSH), the user CAs to trust and the serials to refuse.
 */
export async function syncSshHost(
  ctx: RequestContext,
  input: { destination: string },
): Promise<SshHostState> {
  checkConnectorDestination(actorOf(ctx), input.destination);
  ctx.presence.seen(input.destination);
  const now = ctx.clock.now();
  const destination = await sshDestination(ctx.db, input.destination);
  const access = (await getDestinationsAccess(ctx.db, [destination.name], now)).get(
    destination.name,
  )!;
  const granted = access.users.flatMap((u) => {
    const held = roleOf(access.grants, u.id, u.groups);
    return held ? [{ ...u, role: held.role }] : [];
  });
  const { logins, assigned } = await ensureSshLogins(ctx.db, granted, now);
  if (assigned.length > 0)
    ctx.audit({ kind: 'sshLogins', name: destination.name, details: { assigned } });
  else ctx.unchanged();
  await data.deleteExpiredSshCertificates(ctx.db, now);
  return {
    users: granted.map((u) => ({
      id: u.id,
      name: u.name,
      login: logins.get(u.id)!,
      principal: sshPrincipal(logins.get(u.id)!, destination.name),
      role: u.role,
    })),
    userAuthorities: await ctx.ssh.trusted(ctx.db, 'user', { ensure: true }),
    revokedSerials: await data.listRevokedSshSerials(ctx.db, destination.name, now),
    hostAuthority: await ctx.ssh.activePublicKey(ctx.db, 'host'),
  };
}

/**
 * A host certificate for the key the host registered, naming the host by its destination name
 * (what `infra ssh` expects) and by the name or address in its registered address.
 */
export async function createSshHostCertificate(
  ctx: RequestContext,
  input: { destination: string },
): Promise<{ certificate: string; expiresAt: number }> {
  checkConnectorDestination(actorOf(ctx), input.destination);
  const destination = await sshDestination(ctx.db, input.destination);
  const now = ctx.clock.now();
  const expiresAt = now + HOST_CERTIFICATE_LIFETIME_MS;
  const host = destination.sshAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const serial = newSerial();
  const certificate = signSshCertificate(await ctx.ssh.signer(ctx.db, 'host'), {
    kind: 'host',
    publicKey: parseSshPublicKey(destination.sshHostKey),
    serial,
    keyId: `host ${destination.name}`,
    principals: [...new Set([destination.name, host])],
    validAfter: now - BACKDATE_MS,
    validBefore: expiresAt,
  });
  ctx.audit({ kind: 'sshHostCertificate', id: serial.toString(), name: destination.name });
  return { certificate, expiresAt };
}

/** Starts signing with a new CA of `purpose`; the old one stays trusted a while. */
export async function rotateSshAuthority(
  ctx: RequestContext,
  purpose: 'user' | 'host',
): Promise<{ id: string; trusted: string[] }> {
  const id = await ctx.ssh.rotate(ctx.db, purpose);
  ctx.audit({ kind: 'sshAuthority', id, details: { purpose } });
  return { id, trusted: await ctx.ssh.trusted(ctx.db, purpose) };
}
