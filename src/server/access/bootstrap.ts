import type { Clock } from '../../shared/clock.js';
import { AppError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secrets.js';
import { hashSecret, parseAccessKey, secretMatches } from '../crypto/access-keys.js';
import { hashPassword, verifyPassword } from '../crypto/passwords.js';
import {
  createAccessKey,
  deleteAccessKey,
  findAccessKeyForAuthentication,
  listAccessKeys,
} from '../data/access-keys.js';
import { appendAudit, lockAuditHead } from '../data/audit.js';
import { deleteCredential, getCredential, setCredential } from '../data/credentials.js';
import type { Db } from '../data/db.js';
import { adoptGrant, createGrant, deleteGrant, listGrants } from '../data/grants.js';
import {
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  setGroupManagedBy,
} from '../data/groups.js';
import { createUser, deleteUser, findUser, listUsers, updateUser } from '../data/users.js';
import { CONNECTOR_USER_ID, boundDestination, destinationScope, type User } from '../models.js';

/** A user declared in the config file. */
export interface DeclaredUser {
  name: string;
  password?: Secret;
  accessKey?: Secret;
  infraRole?: 'admin' | 'view';
}

/** A connector key declared in the config file, bound to one destination. */
export interface DeclaredConnector {
  destination: string;
  accessKey: Secret;
}

/** A grant declared in the config file. */
export interface DeclaredGrant {
  user?: string;
  group?: string;
  role: string;
  resource: string;
}

const TEN_YEARS = 10 * 365 * 86_400_000;
const ALL = 1_000_000;

/**
 * Makes the database match the config file's `users` and `grants`, in one transaction, at every
 * start: declared users, passwords, keys and grants are created or updated; ones that were
 * declared before (`managedBy: config`) and are gone from the file are removed.
 */
export async function reconcileConfig(
  db: Db,
  clock: Clock,
  log: Logger,
  declared: { users: DeclaredUser[]; grants: DeclaredGrant[]; connectors?: DeclaredConnector[] },
): Promise<void> {
  const now = clock.now();
  const changes: Record<string, string[]> = {};
  const note = (what: string, item: string) => (changes[what] ??= []).push(item);
  const connectors = declared.connectors ?? [];

  await db.transaction().execute(async (tx) => {
    await lockAuditHead(tx);
    // Users the file names: declared ones (under users:) and ones only mentioned by a grant.
    const users = new Map<string, User>();
    const ensureUser = async (name: string, declaredHere: boolean): Promise<User> => {
      const known = users.get(name) ?? (await findUser(tx, { byName: name }));
      if (known) {
        // Declaring a user hands it to the file; merely naming one in a grant does not.
        if (declaredHere && known.managedBy !== 'config') {
          await updateUser(tx, known.id, { managedBy: 'config', now });
          note('usersAdopted', name);
          known.managedBy = 'config';
        }
        users.set(name, known);
        return known;
      }
      const created = await createUser(tx, {
        id: newId('user', now),
        name,
        managedBy: 'config',
        now,
      });
      note('usersCreated', name);
      users.set(name, created);
      return created;
    };

    const wantedKeys = new Set<string>();
    for (const u of declared.users) {
      const user = await ensureUser(u.name, true);
      if (!u.password && (await getCredential(tx, user.id))) {
        // The file is the source of truth for declared users: no password there, none here.
        await deleteCredential(tx, user.id);
        note('passwordsRemoved', u.name);
      }
      if (u.password) {
        const current = await getCredential(tx, user.id);
        const same =
          current &&
          !current.oneTime &&
          (await verifyPassword(current.passwordHash, u.password.reveal()));
        if (!same) {
          await setCredential(tx, {
            userId: user.id,
            passwordHash: await hashPassword(u.password.reveal()),
            oneTime: false,
            now,
          });
          note('passwordsSet', u.name);
        }
      }
      if (u.accessKey) {
        const { changed } = await setDeclaredKey(tx, {
          owner: { id: user.id, label: u.name },
          secret: u.accessKey,
          field: 'users',
          scopes: [],
          now,
          declared: wantedKeys,
        });
        if (changed) note('accessKeysSet', u.name);
      }
    }

    // Connector keys: each bound to its destination, for the system user connectors act as.
    for (const c of connectors) {
      const { changed } = await setDeclaredKey(tx, {
        owner: { id: CONNECTOR_USER_ID, label: `the connector of ${c.destination}` },
        secret: c.accessKey,
        field: 'connectors',
        scopes: [destinationScope(c.destination)],
        now,
        declared: wantedKeys,
      });
      if (changed) note('connectorKeysSet', c.destination);
    }

    const wantedGrants: Array<{
      kind: 'user' | 'group';
      id: string;
      name: string;
      privilege: string;
      resource: string;
    }> = [];
    const grantKey = (kind: string, id: string, privilege: string, resource: string) =>
      JSON.stringify([kind, id, privilege, resource]);
    const wanted: DeclaredGrant[] = [
      ...declared.users
        .filter((u) => u.infraRole)
        .map((u) => ({ user: u.name, role: u.infraRole!, resource: 'infra' })),
      ...declared.grants,
    ];
    for (const g of wanted) {
      let subject: { kind: 'user' | 'group'; id: string };
      if (g.user !== undefined) {
        subject = { kind: 'user', id: (await ensureUser(g.user, false)).id };
      } else {
        const group = await getGroup(tx, { byName: g.group! }).catch(async () => {
          note('groupsCreated', g.group!);
          return createGroup(tx, {
            id: newId('group', now),
            name: g.group!,
            managedBy: 'config',
            now,
          });
        });
        subject = { kind: 'group', id: group.id };
      }
      const created = await createGrant(tx, {
        id: newId('grant', now),
        subject,
        privilege: g.role,
        resource: g.resource,
        expiresAt: null,
        managedBy: 'config',
        createdBy: null,
        now,
      });
      if (created) note('grantsCreated', `${g.user ?? g.group}: ${g.role} on ${g.resource}`);
      wantedGrants.push({
        ...subject,
        name: g.user ?? g.group!,
        privilege: g.role,
        resource: g.resource,
      });
    }
    const wantedGrantKeys = new Set(
      wantedGrants.map((g) => grantKey(g.kind, g.id, g.privilege, g.resource)),
    );
    // A declared grant that an admin had already made by hand now belongs to the file.
    for (const g of wantedGrants) {
      const subject = { kind: g.kind, id: g.id };
      if (await adoptGrant(tx, { subject, privilege: g.privilege, resource: g.resource }))
        note('grantsAdopted', `${g.name}: ${g.privilege} on ${g.resource}`);
    }

    // Remove what the file no longer declares.
    const grants = await listGrants(tx, { includeSystem: false, activeAt: 0, limit: ALL });
    for (const g of grants.items) {
      if (
        g.managedBy === 'config' &&
        !wantedGrantKeys.has(grantKey(g.subjectKind, g.subjectId, g.privilege, g.resource))
      ) {
        await deleteGrant(tx, g.id, now);
        note('grantsRemoved', `${g.subjectName}: ${g.privilege} on ${g.resource}`);
      }
    }
    const declaredNames = new Set([...users.keys()]);
    const allUsers = await listUsers(tx, { limit: ALL });
    for (const u of allUsers.items) {
      if (u.managedBy === 'config' && !declaredNames.has(u.name)) {
        await deleteUser(tx, u.id, now);
        note('usersRemoved', u.name);
      }
    }
    // Groups the file created and no longer names go too, unless people were put in them since:
    // then they stay, handed over to the API so admins can manage them.
    const namedGroups = new Set(
      declared.grants.filter((g) => g.group !== undefined).map((g) => g.group!),
    );
    const configGroups = await listGroups(tx, { managedBy: 'config', limit: ALL });
    for (const g of configGroups.items) {
      if (namedGroups.has(g.name)) continue;
      if (g.totalUsers === 0) {
        await deleteGroup(tx, g.id, now);
        note('groupsRemoved', g.name);
      } else {
        await setGroupManagedBy(tx, g.id, 'api', now);
        note('groupsReleased', g.name);
      }
    }
    const owners = [...users.values()].map((u) => ({ id: u.id, what: 'accessKeysRemoved' }));
    owners.push({ id: CONNECTOR_USER_ID, what: 'connectorKeysRemoved' });
    for (const owner of owners) {
      const keys = await listAccessKeys(tx, {
        byUserId: owner.id,
        includeExpired: true,
        now,
        limit: ALL,
      });
      for (const k of keys.items) {
        if (k.managedBy === 'config' && !wantedKeys.has(k.keyId)) {
          await deleteAccessKey(tx, k.id, now);
          note(owner.what, boundDestination(k.scopes) ?? k.userName);
        }
      }
    }

    if (Object.keys(changes).length > 0) {
      await appendAudit(tx, {
        at: now,
        actorId: null,
        actorName: 'config file',
        action: 'reconcileConfig',
        targetKind: 'config',
        targetId: null,
        targetName: null,
        sourceIp: 'local',
        result: 'success',
        details: changes,
      });
      log.info({ changes }, 'applied the users and grants of the config file');
    }
  });
}

/**
 * Makes a key declared in the file exist for `owner` with exactly that secret and those scopes
 * (a changed secret or binding replaces the key), and adds it to `declared`. Says whether anything
 * changed.
 */
async function setDeclaredKey(
  tx: Db,
  key: {
    owner: { id: string; label: string };
    secret: Secret;
    field: 'users' | 'connectors';
    scopes: string[];
    now: number;
    /** The ids of the keys the file declared so far (each may appear once). */
    declared: Set<string>;
  },
): Promise<{ changed: boolean }> {
  const parsed = parseAccessKey(key.secret.reveal());
  if (!parsed) {
    throw new AppError(
      'bad_request',
      `${key.field}: the access key of ${key.owner.label} must have the form <10 letters or digits>.<24 letters or digits>`,
    );
  }
  const existing = await findAccessKeyForAuthentication(tx, parsed.keyId);
  if (existing && existing.userId !== key.owner.id) {
    throw new AppError(
      'bad_request',
      `${key.field}: the access key of ${key.owner.label} has the id of another user's key; generate a new one`,
    );
  }
  if (key.declared.has(parsed.keyId)) {
    throw new AppError(
      'bad_request',
      `${key.field}: the access key of ${key.owner.label} has the id of another key in the file; generate a new one`,
    );
  }
  key.declared.add(parsed.keyId);
  if (
    existing &&
    secretMatches(parsed.secret, existing.secretHash) &&
    existing.scopes.join(' ') === key.scopes.join(' ')
  )
    return { changed: false };
  if (existing) await deleteAccessKey(tx, existing.id, key.now);
  await createAccessKey(tx, {
    id: newId('accessKey', key.now),
    keyId: parsed.keyId,
    secretHash: hashSecret(parsed.secret),
    name: `config-${parsed.keyId}`,
    userId: key.owner.id,
    issuedVia: 'config',
    scopes: key.scopes,
    managedBy: 'config',
    now: key.now,
    expiresAt: key.now + TEN_YEARS,
    inactivityTimeout: 0,
  });
  return { changed: true };
}
