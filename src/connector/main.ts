import type { JSONWebKeySet } from 'jose';
import { hostname } from 'node:os';
import path from 'node:path';
import { createApiClient, type ApiClient } from '../api/client.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { formatDuration } from '../shared/duration.js';
import { AppError } from '../shared/errors.js';
import { closeServer, listenOn, listenServer } from '../shared/listen.js';
import type { Logger } from '../shared/logger.js';
import { createMetricsServer } from '../shared/metrics-server.js';
import { loadOrCreateSelfSigned } from '../shared/tls/self-signed.js';
import { fingerprintSha256 } from '../shared/tls/certificates.js';
import { trustByFingerprint } from '../shared/trust.js';
import { productVersion } from '../shared/version.js';
import { OpenStreams, type AccessState } from './access.js';
import { TokenVerifier } from './authenticate.js';
import type { ConnectorConfig } from './config.js';
import { AccessFollower, jitter, nextDelay } from './follow.js';
import { KubeAuditLog } from './kube-audit.js';
import { Kube, type Upstream } from './kube.js';
import { ConnectorMetrics } from './metrics.js';
import { createProxy } from './proxy.js';
import { infraClusterRoles } from './rbac.js';
import { keepRegistered } from './register.js';
import { RbacSyncer } from './sync.js';
import { TunnelClient } from './tunnel.js';
import { keepSecretsFresh } from '../shared/secrets.js';

/** How often namespaces and roles are re-read and the registration refreshed. */
const REGISTRATION_INTERVAL_MS = 60_000;
/** A delivery of audit events the server has not answered in this long is kept for later. */
const AUDIT_TIMEOUT_MS = 10_000;
/** Upstream credentials are re-read this often (tokens from exec plugins or projected files rotate). */
const UPSTREAM_REFRESH_MS = 60_000;

export interface RunningConnector {
  /** Where kubectl reaches the connector directly; empty in tunnel mode without a listener. */
  url: string;
  port?: number;
  metricsPort?: number;
  fingerprint: string;
  /** The server replicas a tunnel is held to (tunnel mode). */
  tunnels(): string[];
  /** The current access state (tests wait for it). */
  state(): AccessState | undefined;
  /** Resolves when the RBAC reconciliation in progress (if any) is done. */
  rbacSettled(): Promise<void>;
  /** Re-reads the access key from its storage (SIGHUP). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function serverCa(
  config: ConnectorConfig,
  log: Logger,
): Promise<{ ca?: string; skipTlsVerify?: boolean }> {
  const trust = config.server.trust;
  if (trust.kind === 'certificate') return { ca: trust.pem };
  if (trust.kind === 'skip') {
    log.warn(
      'server.skipTlsVerify is on: the connector does not check the Infra server certificate, so anyone on the network path can pose as the server and hand out access; use server.trustedCertificate or server.trustedFingerprint',
    );
    return { skipTlsVerify: true };
  }
  if (trust.kind === 'system') return {};
  // A pinned fingerprint: look at the server's chain (retrying while it is down), then trust its CA.
  for (let delay = 1000; ; delay = nextDelay(delay)) {
    try {
      return { ca: await trustByFingerprint(config.server.url, trust.fingerprint) };
    } catch (err) {
      const message = (err as Error).message;
      if (/fingerprint|does not send/.test(message))
        throw new AppError('unavailable', message, { cause: err });
      log.warn(
        { err: message },
        'cannot reach the Infra server to check its certificate; retrying',
      );
      await new Promise((r) => setTimeout(r, jitter(delay)));
    }
  }
}

/**
 * The composition root of `infra connector`: loads Kubernetes access and the connector's own
 * certificate, starts the proxy at once (it answers 503 until the first access state arrives),
 * then registers the cluster, follows the access feed and keeps RBAC bindings in line.
 */
export async function startConnector(
  config: ConnectorConfig,
  options: { log: Logger; clock?: Clock },
): Promise<RunningConnector> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  let kube: Kube;
  try {
    kube = Kube.load(config.kubeconfig);
  } catch (err) {
    throw new AppError('unavailable', `cannot load Kubernetes access: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const endpointHost = config.endpoint
    ? new URL(config.endpoint).hostname.replace(/^\[|\]$/g, '')
    : hostname();
  const tls = await loadOrCreateSelfSigned(
    config.stateDir,
    [endpointHost, ...config.tlsHosts],
    clock.now(),
    log,
    'Infra Connector CA',
  );
  const cleanups: Array<() => Promise<void> | void> = [() => kube.close()];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };

  try {
    let state: AccessState | undefined;
    let unsendable = '';
    const streams = new OpenStreams();
    const trust = await serverCa(config, log);
    // Ends every request to the server at shutdown, and the connections kept alive for them.
    const abort = new AbortController();
    const clientOptions = {
      baseUrl: config.server.url,
      // Asked at every request: a key rotated upstream takes effect at the next re-read.
      accessKey: () => config.server.accessKey.reveal(),
      component: 'connector',
      proxy: config.server.proxy,
      signal: abort.signal,
      ...trust,
    };
    const client: ApiClient = createApiClient(clientOptions);
    const verifier = new TokenVerifier({
      audience: config.name,
      fetchJwks: async () => (await client.getJwks()) as JSONWebKeySet,
      clock,
    });
    // Its callbacks run only after start(), once everything they use exists.
    const follower = new AccessFollower({
      client: (timeoutMs) => createApiClient({ ...clientOptions, timeoutMs }),
      destination: config.name,
      log,
      clock,
      failClosedAfterMs: config.failClosedAfterMs,
      onState: (next) => {
        state = next;
        metrics.feedIndex.set(next.updateIndex);
        const closed = streams.closeRefused(next, config.name);
        if (closed > 0) log.info({ closed }, 'closed streams of users whose access ended');
        if (next.unsendable.join('\n') !== unsendable && next.unsendable.length > 0) {
          log.warn(
            { names: next.unsendable },
            'names with control characters cannot be sent to Kubernetes: such groups are not impersonated, such users are refused',
          );
        }
        unsendable = next.unsendable.join('\n');
        syncer.update({ state: next });
      },
      onContact: (contact) => {
        if (contact === 'failed-closed') {
          const closed = streams.size;
          streams.closeAll();
          if (closed > 0) log.info({ closed }, 'closed every open stream (failing closed)');
        }
        // Registration waits out its back-off no longer than the feed does.
        if (contact === 'in-contact') registration.retryNow();
      },
    });
    const metrics = new ConnectorMetrics(verifier.stats, follower, clock);
    const failClosedMessage = `the Infra connector for ${config.name} has not reached the Infra server for ${formatDuration(config.failClosedAfterMs)} and refuses every request until it does (failClosedAfter); try again later`;

    const audit = new KubeAuditLog({
      client: createApiClient({ ...clientOptions, timeoutMs: AUDIT_TIMEOUT_MS }),
      destination: config.name,
      dir: path.join(config.stateDir, 'audit-buffer'),
      bufferBytes: config.audit.bufferBytes,
      log,
      metrics,
    });
    audit.start();
    // Stopped after the listeners close, so the last requests' events are kept too.
    cleanups.push(() => audit.stop());

    let upstream: { value: Upstream; at: number } | undefined;
    const proxy = createProxy({
      destination: config.name,
      verifier,
      state: () => state,
      refusal: () => (follower.failingClosed ? failClosedMessage : undefined),
      upstream: async () => {
        if (!upstream || clock.now() - upstream.at > UPSTREAM_REFRESH_MS) {
          upstream = { value: await kube.upstream(), at: clock.now() };
        }
        return upstream.value;
      },
      streams,
      metrics,
      log,
      limits: config.limits,
      audit,
      recordStdin: config.audit.recordStdin,
    });
    cleanups.push(() => proxy.close());
    let port: number | undefined;
    const https = config.addr.https;
    if (https) {
      const listener = proxy.listener({
        cert: tls.leaf.certificate + tls.ca.certificate,
        key: tls.leaf.privateKey,
        minVersion: 'TLSv1.2',
      });
      port = await listenOn(https, 'addr.https', (host) =>
        listenServer(listener, host, https.port),
      );
      cleanups.push(() => closeServer(listener));
    }
    cleanups.push(() => streams.closeAll());
    let tunnel: TunnelClient | undefined;
    if (config.tunnel) {
      tunnel = new TunnelClient({
        serverUrl: config.server.url,
        destination: config.name,
        accessKey: () => config.server.accessKey.reveal(),
        ...trust,
        proxy: config.server.proxy,
        log,
        serve: (stream) => proxy.serveTunnelStream(stream),
      });
      const t = tunnel;
      cleanups.push(() => t.stop());
    }
    let metricsPort: number | undefined;
    if (config.addr.metrics) {
      const addr = config.addr.metrics;
      const metricsServer = createMetricsServer(metrics.registry);
      metricsPort = await listenOn(addr, 'addr.metrics', (host) =>
        listenServer(metricsServer, host, addr.port),
      );
      cleanups.push(() => closeServer(metricsServer));
    }

    const syncer = new RbacSyncer({
      kube,
      destination: config.name,
      log,
      metrics,
      // After RBAC has the reduced grants, so a client that reconnects is refused by the cluster.
      onSynced: (synced, complete) => {
        const closed = streams.closeReduced(synced, state ?? synced, complete);
        if (closed > 0) log.info({ closed }, 'closed streams of users whose access shrank');
      },
    });
    cleanups.push(() => syncer.stop());
    let rolesInstalled = false;
    let tunnelStarted = false;
    const registration = keepRegistered({
      client,
      cluster: {
        listNamespaces: () => kube.listNamespaces(),
        listGrantableRoles: async () => {
          // Installed once, before roles are first read, so they are offered from the start.
          if (!rolesInstalled) {
            const created = await kube.ensureClusterRoles(infraClusterRoles);
            if (created.length > 0) log.info({ roles: created }, 'installed ClusterRoles');
            rolesInstalled = true;
          }
          return kube.listGrantableRoles();
        },
      },
      registration: {
        name: config.name,
        uniqueID: kube.uniqueId(),
        mode: config.tunnel ? 'tunnel' : 'direct',
        endpoint: config.endpoint,
        ca: config.tunnel ? '' : tls.ca.certificate,
        version: productVersion,
      },
      log,
      intervalMs: REGISTRATION_INTERVAL_MS,
      onFacts: (facts) => syncer.update({ facts }),
      // An unbound key may follow the feed once registered: no need to wait out a back-off.
      // Its tunnel may open once the destination is registered in tunnel mode.
      onRegistered: () => {
        follower.retryNow();
        if (tunnel && !tunnelStarted) {
          tunnelStarted = true;
          tunnel.start();
        }
      },
    });
    cleanups.push(() => registration.stop());

    follower.start();
    cleanups.push(() => {
      follower.stop();
      abort.abort();
    });

    const { reload, stop: stopRefresh } = keepSecretsFresh({
      secrets: config.secrets,
      intervalMs: config.secretRefreshMs,
      log,
      // A key rotated after the server refused the old one is tried at once.
      after: async () => follower.retryNow(),
    });
    cleanups.push(stopRefresh);

    const url =
      port === undefined
        ? ''
        : `https://${endpointHost.includes(':') ? `[${endpointHost}]` : endpointHost}:${port}`;
    const fingerprint = fingerprintSha256(tls.leaf.certificate);
    log.info(
      {
        destination: config.name,
        mode: config.tunnel ? 'tunnel' : 'direct',
        url: url || undefined,
        server: config.server.url,
        metrics: metricsPort,
        fingerprint,
      },
      config.tunnel
        ? `infra connector ${productVersion} for ${config.name} in tunnel mode: kubectl reaches it through ${config.server.url}${port === undefined ? '' : `; also listening on port ${port}`}`
        : `infra connector ${productVersion} for ${config.name} listening on port ${port}; certificate SHA-256 fingerprint ${fingerprint}`,
    );
    return {
      url,
      port,
      metricsPort,
      fingerprint,
      tunnels: () => tunnel?.replicas ?? [],
      state: () => state,
      rbacSettled: () => syncer.settled(),
      reload,
      close,
    };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
