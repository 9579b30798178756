import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import { productVersion } from '../shared/version.js';
import { publicOrigin, type ServerConfig } from './config.js';
import { openDb, type Engine } from './data/db.js';
import { migrate } from './data/migrate.js';
import { ensureSetting } from './data/settings.js';
import { reconcileConfig } from './access/bootstrap.js';
import { removeExpired } from './access/maintenance.js';
import { GrantExpiry } from './access/grant-expiry.js';
import { RequestExpiry, expireDueRequests } from './access/request-expiry.js';
import { WebhookSender } from './access/webhook.js';
import { reconcileRequestPolicies } from './access/request-policies.js';
import { prepareSetup } from './access/setup.js';
import { Authenticator } from './access/authenticate.js';
import { ChangeNotifier } from './access/changes.js';
import { DestinationPresence } from './access/presence.js';
import { AccessSnapshots } from './access/snapshots.js';
import { DataEncryption, openKeyring } from './access/encryption.js';
import { SshAuthorities } from './access/ssh-authorities.js';
import { removeOldKubeAudit } from './access/kube-audit.js';
import { KubeAuditStore } from './access/kube-audit-store.js';
import { TokenService } from './access/tokens.js';
import { ProviderService } from './access/provider-sync.js';
import { reconcileProviders } from './access/providers.js';
import { buildApp } from './http/app.js';
import { createRedirectServer } from './http/redirect.js';
import { checkReadiness } from './access/readiness.js';
import { closeServer, listenOn, listenServer } from '../shared/listen.js';
import { createMetricsServer } from '../shared/metrics-server.js';
import { ServerMetrics } from './metrics.js';
import { authorizeTunnel } from './access/destinations.js';
import { ReplicaPresence } from './access/tunnels.js';
import { TunnelRelay } from './http/tunnel.js';
import { ServerTls } from './tls/server-tls.js';
import { keepSecretsFresh } from '../shared/secrets.js';

/**
 * Secrets the server applies once, at start (the TLS key it loaded, the users and connectors of
 * the config file it reconciled): a new value read later takes effect at the next start.
 */
const APPLIED_AT_START =
  /^(tls\.privateKey|users\[\d+\]\.(password|accessKey)|connectors\[\d+\]\.accessKey)$/;

/** How often expired grants, keys and login throttles are removed. */
const SWEEP_INTERVAL = 30_000;

/** A running server: where it listens and how to stop it. */
export interface RunningServer {
  /** Base URL of the HTTPS listener, e.g. `https://127.0.0.1:4443`. */
  url: string;
  /** The origin the server's links use: `url` from the configuration, or one derived. */
  publicUrl: string;
  httpsPort: number;
  httpPort?: number;
  metricsPort?: number;
  fingerprint: string;
  engine: Engine;
  /** Re-reads secrets from their storages and the data keys (SIGHUP). */
  reload(): Promise<void>;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  close(): Promise<void>;
}

interface StartOptions {
  log: Logger;
  clock?: Clock;
  dashboardDir?: string;
}

/**
 * The composition root: opens and migrates the database, prepares TLS, builds the app and
 * opens the listeners. Any failure stops start-up with an AppError whose message is one
 * sentence, and releases whatever was already opened.
 */
export async function startServer(
  config: ServerConfig,
  options: StartOptions,
): Promise<RunningServer> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
    const database = await openDb(config.db, log);
    cleanups.push(() => database.close());
    const applied = await migrate(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
    const installId = await ensureSetting(
      database.db,
      'installId',
      () => newId('install', clock.now()),
      clock,
    );
    await reconcileConfig(database.db, clock, log, {
      users: config.users,
      grants: config.grants,
      connectors: config.connectors,
    });
    await reconcileRequestPolicies(database.db, clock, log, config.requestPolicies);
    const setupToken = await prepareSetup(database.db, clock);

    const { roots, keyring } = await openKeyring(database.db, config, clock);
    const encryption = new DataEncryption({ db: database.db, keyring, roots, clock, log });
    encryption.start();
    cleanups.push(() => encryption.stop());
    const tokens = new TokenService({
      db: database.db,
      keyring,
      clock,
      log,
      rotateAfterMs: config.tokens.keyRotation,
    });
    await tokens.start();
    cleanups.push(() => tokens.stop());
    const ssh = new SshAuthorities({ keyring, clock, log });
    const changes = new ChangeNotifier({ db: database.readDb, log });
    await changes.start();
    const providers = new ProviderService({
      db: database.db,
      keyring,
      clock,
      log,
      changes,
      resolveSecret: (setting, ref) => config.secrets.read(setting, ref),
      syncIntervalMs: config.providerSyncInterval,
      apiSecretReferences: config.apiSecretReferences,
    });
    await reconcileProviders(database.db, providers, clock, log, config.providers);
    providers.start();
    cleanups.push(() => providers.stop());
    const kubeAudit = new KubeAuditStore({ keyring, export: config.kubeAudit.export, log });
    cleanups.push(() => kubeAudit.close());
    if (config.db.kind === 'postgres') {
      // With the PostgreSQL driver it needs, loaded only for PostgreSQL.
      const { listenForChanges } = await import('./data/listen.js');
      cleanups.push(await listenForChanges(config.db, () => changes.notify(), log));
    }

    const tls = await ServerTls.prepare(config.tls, config.stateDir, { log, clock });
    cleanups.push(() => tls.stop());
    const metrics = new ServerMetrics();
    metrics.watchDatabase(database.health);
    metrics.watchFeeds(changes);
    const authenticator = new Authenticator({
      db: database.db,
      readDb: database.readDb,
      clock,
      changes,
    });
    const replica: ReplicaPresence = new ReplicaPresence({
      db: database.db,
      clock,
      log,
      held: () => tunnels.held(),
    });
    const tunnels: TunnelRelay = new TunnelRelay({
      authorize: (key, destination) =>
        authorizeTunnel(authenticator, database.readDb, key, destination),
      clock,
      log,
      tokens,
      replica: () => ({
        id: replica.id,
        replicas: replica.replicas,
        changed: () => void replica.beat(),
      }),
    });
    metrics.watchTunnels(tunnels.stats);
    await replica.start();
    cleanups.push(() => replica.stop());
    const readiness = () =>
      checkReadiness({ db: database.db, readDb: database.readDb, health: database.health, tokens });
    // Known once the listener is open (its port may be chosen by the system).
    let origin = config.url ?? '';
    const webhook = new WebhookSender(config.accessRequestWebhook, log);
    cleanups.push(() => webhook.stop());
    const expiry = new GrantExpiry({ db: database.db, clock, log, changes });
    expiry.start();
    cleanups.push(() => expiry.stop());
    const requestExpiry = new RequestExpiry({ db: database.db, clock, log, webhook });
    requestExpiry.start();
    cleanups.push(() => requestExpiry.stop());
    const app = await buildApp({
      db: database.db,
      readDb: database.readDb,
      settings: config.access,
      authenticator,
      tokens,
      ssh,
      changes,
      snapshots: new AccessSnapshots({ db: database.readDb, clock }),
      presence: new DestinationPresence({ db: database.db, clock, log }),
      providers,
      expiry,
      requestExpiry,
      webhook,
      kubeAudit,
      clock,
      log,
      metrics,
      tls,
      dashboardDir: options.dashboardDir,
      trustedProxies: config.trustedProxies,
      publicOrigin: () => origin,
      limits: config.limits,
      readiness,
      tunnels,
    });
    cleanups.push(() => app.close());
    // Before app.close: requests relayed through tunnels end with them.
    cleanups.push(() => tunnels.close());
    // Runs before app.close (cleanups run in reverse): feeds waiting for changes answer now.
    cleanups.push(() => changes.close());

    const httpsPort = await listenOn(config.addr.https, 'addr.https', async (host) => {
      await app.listen({
        host,
        port: config.addr.https.port,
        listenTextResolver: (a) => `HTTPS listener open on ${a}`,
      });
      return app.server.address() as AddressInfo;
    });
    origin = publicOrigin(config, httpsPort);
    let httpPort: number | undefined;
    if (config.addr.http) {
      const redirect = createRedirectServer({
        origin,
        limits: config.limits,
        log,
        acme: tls.acme,
        onRedirect: () => metrics.httpRedirects.inc(),
        readiness,
      });
      const addr = config.addr.http;
      httpPort = await listenOn(addr, 'addr.http', (host) =>
        listenServer(redirect, host, addr.port),
      );
      cleanups.push(() => closeServer(redirect));
    }
    let metricsPort: number | undefined;
    if (config.addr.metrics) {
      const metricsServer = createMetricsServer(metrics.registry);
      const addr = config.addr.metrics;
      metricsPort = await listenOn(addr, 'addr.metrics', (host) =>
        listenServer(metricsServer, host, addr.port),
      );
      cleanups.push(() => closeServer(metricsServer));
    }
    tls.start();
    const sweep = setInterval(() => {
      removeExpired(database.db, clock, log).then(
        () => changes.notify(),
        (err: unknown) => log.error({ err }, 'could not remove expired grants and keys'),
      );
      // Requests whose timer was on a replica that stopped, or on none (made before a restart).
      expireDueRequests(database.db, clock.now(), webhook).catch((err: unknown) =>
        log.error({ err }, 'could not expire pending access requests'),
      );
      removeOldKubeAudit(database.db, clock.now(), config.kubeAudit.retentionMs).catch(
        (err: unknown) =>
          log.error({ err }, 'could not remove Kubernetes audit events past their retention'),
      );
    }, SWEEP_INTERVAL);
    sweep.unref();
    cleanups.push(() => clearInterval(sweep));

    const { reload, stop: stopRefresh } = keepSecretsFresh({
      secrets: config.secrets,
      intervalMs: config.secretRefreshMs,
      log,
      after: () => keyring.reload(),
      appliedAtStart: (setting) => APPLIED_AT_START.test(setting),
    });
    cleanups.push(stopRefresh);

    const host = config.addr.https.host || 'localhost';
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${httpsPort}`;
    const cert = tls.current;
    log.info(
      {
        version: productVersion,
        installId,
        url,
        publicUrl: origin,
        http: httpPort,
        metrics: metricsPort,
        database: `${database.engine} ${database.location}`,
        certificate: cert.source,
        fingerprint: cert.fingerprint,
      },
      `infra server ${productVersion} listening on ${url}; TLS certificate SHA-256 fingerprint ${cert.fingerprint}`,
    );

    if (setupToken) {
      // The one secret the server logs on purpose: it is single-use and dies with the first admin.
      log.warn(
        `no admin yet: open ${origin}/setup?token=${setupToken} to create the first admin (or POST the token to /api/setup); the link works once and is replaced at every restart`,
      );
    }

    return {
      url,
      publicUrl: origin,
      httpsPort,
      httpPort,
      metricsPort,
      fingerprint: cert.fingerprint,
      engine: database.engine,
      reload,
      close: cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}
