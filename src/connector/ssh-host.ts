import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { createApiClient, type ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import type { SshHostState } from '../api/ssh.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { keepSecretsFresh } from '../shared/secrets.js';
import { parseSshPublicKey, readSshCertificate, sshFingerprint } from '../shared/ssh.js';
import { productVersion } from '../shared/version.js';
import type { AccessState } from './access.js';
import { Accounts } from './accounts.js';
import type { ConnectorConfig } from './config.js';
import { AccessFollower, jitter, nextDelay } from './follow.js';
import { serverCa } from './main.js';
import { Sshd } from './sshd.js';

type HostState = z.infer<typeof SshHostState>;

/** How often the registration is refreshed (and the host certificate's age checked). */
const REGISTRATION_INTERVAL_MS = 60_000;

export interface RunningSshHostAgent {
  /** The access state last applied (tests wait for it). */
  applied(): { updateIndex: number; state: HostState } | undefined;
  state(): AccessState | undefined;
  close(): Promise<void>;
  reload(): Promise<void>;
}

/**
 * The composition root of `infra connector --kind ssh`: registers the host (its address and
 * host key) as an SSH destination, installs a host certificate and the sshd drop-in, then
 * follows the access feed and, at each change, brings the host in line: principals files,
 * revocation list, CA keys, and the local accounts of granted users (made, put in the admin
 * group, or ended and removed).
 */
export async function startSshHostAgent(
  config: ConnectorConfig,
  options: { log: Logger; clock?: Clock },
): Promise<RunningSshHostAgent> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const s = config.ssh;
  let hostKey: string;
  try {
    hostKey = readFileSync(s.hostKey, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    parseSshPublicKey(hostKey);
  } catch (err) {
    throw new AppError(
      'unavailable',
      `cannot use the host key ${s.hostKey}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const uniqueID = `ssh:${sshFingerprint(parseSshPublicKey(hostKey).blob)}`;
  const trust = await serverCa(config, log);
  const clientOptions = {
    baseUrl: config.server.url,
    accessKey: () => config.server.accessKey.reveal(),
    component: 'connector',
    proxy: config.server.proxy,
    ...trust,
  };
  const client: ApiClient = createApiClient(clientOptions);
  const sshd = new Sshd(s, log);
  const accounts = new Accounts({
    destination: config.name,
    shell: s.shell,
    adminGroup: s.adminGroup,
    log,
  });

  let state: AccessState | undefined;
  let applied: { updateIndex: number; state: HostState } | undefined;
  let stopped = false;
  let registered = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const register = async () => {
    const body = {
      name: config.name,
      uniqueID,
      kind: 'ssh' as const,
      connection: { mode: 'direct' as const, url: '', ca: '' },
      ssh: { address: s.address, hostKey },
      namespaces: [],
      roles: ['admin', 'connect'],
      version: productVersion,
    };
    const [existing] = (await client.listDestinations({ uniqueID })).items;
    if (!existing) await client.createDestination(body);
    // Unchanged, nothing is written: an update is a change on the feed and an audit entry.
    else if (
      existing.name !== body.name ||
      existing.kind !== 'ssh' ||
      existing.ssh.address !== body.ssh.address ||
      existing.ssh.hostKey !== body.ssh.hostKey ||
      existing.version !== body.version
    )
      await client.updateDestination({ id: existing.id, ...body });
  };

  /** A host certificate is wanted when there is none, it is half spent, or another CA signs. */
  const hostCertificateDue = (hostAuthority: string): boolean => {
    const current = sshd.hostCertificate;
    if (current === '') return true;
    try {
      const cert = readSshCertificate(current);
      const signer = hostAuthority.split(/\s+/).slice(0, 2).join(' ');
      return cert.caKey !== signer || cert.validBefore - clock.now() < 3.5 * 24 * 3600_000;
    } catch {
      return true;
    }
  };

  // One reconciliation at a time; a change during one runs another after it, with the newest state.
  let running: Promise<void> | undefined;
  let dirty = false;
  let delay = 1000;
  const reconcile = async () => {
    const index = state?.updateIndex ?? 0;
    const host = await client.syncSshHost({ destination: config.name });
    const wanted = new Map(host.users.map((u) => [u.login, u.principal]));
    // Revocation first: principals go (new logins are refused at once), then sessions end.
    sshd.removePrincipalsExcept(wanted);
    sshd.writeUserCas(host.userAuthorities);
    await sshd.writeRevoked(host.revokedSerials, host.userAuthorities);
    const managed = await accounts.managed();
    const gone = [...managed.keys()].filter((login) => !wanted.has(login));
    for (const login of gone) await accounts.endSessions(login);
    const usable = await accounts.ensure(
      host.users.map((u) => ({ login: u.login, userId: u.id, admin: u.role === 'admin' })),
      managed,
    );
    sshd.writePrincipals(new Map([...wanted].filter(([login]) => usable.has(login))));
    for (const login of gone) await accounts.remove(login);
    const certificate = hostCertificateDue(host.hostAuthority)
      ? (await client.createSshHostCertificate({ destination: config.name })).certificate
      : undefined;
    await sshd.apply(certificate);
    applied = { updateIndex: index, state: host };
  };
  const kick = () => {
    if (stopped || !registered) return;
    if (running) {
      dirty = true;
      return;
    }
    running = reconcile()
      .then(() => {
        delay = 1000;
      })
      .catch((err: unknown) => {
        log.warn(
          { err: (err as Error).message, retryInMs: Math.round(delay) },
          'could not bring the host in line with access; retrying',
        );
        later(kick, jitter(delay));
        delay = nextDelay(delay);
      })
      .finally(() => {
        running = undefined;
        if (dirty) {
          dirty = false;
          kick();
        }
      });
  };

  const abort = new AbortController();
  const follower = new AccessFollower({
    client: (timeoutMs) => createApiClient({ ...clientOptions, timeoutMs, signal: abort.signal }),
    destination: config.name,
    log,
    clock,
    onState: (next) => {
      state = next;
      kick();
    },
  });

  let registerDelay = 1000;
  const keepRegistered = async () => {
    if (stopped) return;
    try {
      await register();
      if (!registered) log.info({ destination: config.name }, 'registered with the Infra server');
      registered = true;
      registerDelay = 1000;
      follower.retryNow();
      kick();
      later(() => void keepRegistered(), REGISTRATION_INTERVAL_MS);
    } catch (err) {
      const conflict = err instanceof ApiError && err.status === 409;
      log.error(
        { err: (err as Error).message, retryInMs: Math.round(registerDelay) },
        conflict
          ? `another destination is registered as ${config.name}; choose another --name`
          : 'could not register the host with the Infra server; retrying',
      );
      later(() => void keepRegistered(), jitter(registerDelay));
      registerDelay = nextDelay(registerDelay);
    }
  };
  void keepRegistered();
  follower.start();

  const secrets = keepSecretsFresh({
    secrets: config.secrets,
    intervalMs: config.secretRefreshMs,
    log,
    after: async () => follower.retryNow(),
  });
  log.info(
    { destination: config.name, address: s.address, server: config.server.url, uniqueID },
    `infra connector ${productVersion} for SSH host ${config.name} (${s.address})`,
  );
  return {
    applied: () => applied,
    state: () => state,
    reload: secrets.reload,
    async close() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      secrets.stop();
      follower.stop();
      abort.abort();
      await running;
    },
  };
}
