import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../api/client.js';
import type { EndpointInput } from '../api/endpoint.js';
import type { Endpoints } from '../api/endpoints.js';
import type { KubeEventInput } from '../api/kube-audit.js';
import type { Logger } from '../shared/logger.js';
import { refusedByServer } from './follow.js';
import { parseKubeRequest } from './kube-request.js';

/**
 * One proxied request as the proxy saw it: raw facts, cheap to take on the request path. The
 * audit event is built from them later, off that path.
 */
export interface ProxiedRequest {
  /** Set for streams, whose start and end events share it. */
  auditID?: string;
  stage: 'ResponseStarted' | 'ResponseComplete';
  method: string;
  url: string;
  userId: string;
  userName: string;
  groups: readonly string[];
  /** Whether the request went to Kubernetes as this user (false: the connector refused it). */
  impersonated: boolean;
  sourceIP: string | undefined;
  userAgent: string | undefined;
  code: number;
  receivedAt: number;
  at: number;
}

export type RecordingChunk = Omit<
  EndpointInput<Endpoints['createKubeRecordingChunk']>,
  'destination'
>;

type Delivery =
  { kind: 'events'; events: KubeEventInput[] } | { kind: 'chunk'; chunk: RecordingChunk };

/** Where deliveries wait on disk while the server is away. */
interface Spooled {
  file: string;
  bytes: number;
  kind: Delivery['kind'];
  /** Events in it (1 for a chunk). */
  count: number;
}

/** Most events sent in one request. */
const BATCH = 500;
/** How often what has been recorded is sent. */
const FLUSH_MS = 500;
/** Longest wait between attempts while the server is away. */
const RETRY_MAX_MS = 5000;
/** Events held in memory between flushes, beyond which the oldest are dropped. */
const MEMORY_LIMIT = 50_000;

function micro(ms: number): string {
  // Kubernetes writes microseconds; ours are milliseconds.
  return new Date(ms).toISOString().replace('Z', '000Z');
}

const cut = (s: string | undefined, max: number) =>
  s === undefined || s.length <= max ? s : s.slice(0, max);

/** The audit.k8s.io/v1 Event for a request, or undefined for discovery (not audited). */
export function kubeEvent(r: ProxiedRequest): KubeEventInput | undefined {
  const parsed = parseKubeRequest(r.method, r.url);
  if (parsed.discovery) return undefined;
  const user = { username: r.userName, uid: r.userId, groups: r.groups.slice(0, 1000) };
  const ref = parsed.objectRef;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: r.auditID ?? randomUUID(),
    stage: r.stage,
    requestURI: cut(r.url, 8192)!,
    verb: cut(parsed.verb, 32)!,
    user,
    ...(r.impersonated && { impersonatedUser: { username: r.userName, groups: user.groups } }),
    sourceIPs: r.sourceIP ? [r.sourceIP] : [],
    ...(r.userAgent !== undefined && { userAgent: cut(r.userAgent, 1024) }),
    ...(ref && {
      objectRef: {
        resource: cut(ref.resource, 256),
        namespace: cut(ref.namespace, 256),
        name: cut(ref.name, 512),
        apiGroup: cut(ref.apiGroup, 256),
        apiVersion: cut(ref.apiVersion, 64),
        subresource: cut(ref.subresource, 256),
      },
    }),
    responseStatus: { metadata: {}, code: r.code },
    requestReceivedTimestamp: micro(r.receivedAt),
    stageTimestamp: micro(r.at),
  };
}

export interface KubeAuditMetrics {
  dropped(kind: Delivery['kind'], count: number): void;
}

/**
 * Sends request events and recording chunks to the server in the background, never on the
 * request path: `record` only queues. Every half second the queue goes out in batches; while
 * the server is away (or slow to answer) batches wait on disk, oldest sent first when it is
 * back, within `bufferBytes`: beyond it the oldest are dropped and counted. The server keeps
 * each event once (by auditID and stage), so a batch sent again after a lost answer adds
 * nothing. A batch the server refuses outright (a 4xx other than 429) would be refused forever:
 * it is dropped and counted.
 */
export class KubeAuditLog {
  readonly #client: Pick<ApiClient, 'createKubeEvents' | 'createKubeRecordingChunk'>;
  readonly #destination: string;
  readonly #dir: string;
  readonly #bufferBytes: number;
  readonly #log: Logger;
  readonly #metrics: KubeAuditMetrics;
  #queue: ProxiedRequest[] = [];
  #chunks: RecordingChunk[] = [];
  readonly #spooled: Spooled[] = [];
  #spooledBytes = 0;
  #spoolSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #nextAttempt = 0;
  #stopped = false;

  constructor(deps: {
    client: Pick<ApiClient, 'createKubeEvents' | 'createKubeRecordingChunk'>;
    destination: string;
    /** The directory deliveries wait in while the server is away. */
    dir: string;
    bufferBytes: number;
    log: Logger;
    metrics: KubeAuditMetrics;
  }) {
    this.#client = deps.client;
    this.#destination = deps.destination;
    this.#dir = deps.dir;
    this.#bufferBytes = deps.bufferBytes;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    // What an earlier run could not deliver goes first.
    for (const name of readdirSync(this.#dir).sort()) {
      const m = /^\d+-\d+-(events|chunk)-(\d+)\.json$/.exec(name);
      if (!m) continue;
      const file = path.join(this.#dir, name);
      const bytes = statSync(file).size;
      this.#spooled.push({ file, bytes, kind: m[1] as Delivery['kind'], count: Number(m[2]) });
      this.#spooledBytes += bytes;
    }
  }

  /** Queues a request's event. Constant time; nothing else happens on the request path. */
  record(request: ProxiedRequest): void {
    if (this.#queue.length >= MEMORY_LIMIT) {
      // A batch at a time: shifting one by one would cost the whole queue per request.
      this.#queue.splice(0, BATCH);
      this.#metrics.dropped('events', BATCH);
    }
    this.#queue.push(request);
  }

  /** Queues part of a recording. */
  recordChunk(chunk: RecordingChunk): void {
    this.#chunks.push(chunk);
  }

  /** Deliveries waiting on disk. */
  get spooled(): number {
    return this.#spooled.length;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.#timer.unref();
  }

  /** Stops the timer, tries one last delivery, and leaves what is left on disk. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#nextAttempt = 0;
    await this.flush();
    this.#stopped = true;
    await this.#spoolMemory();
  }

  /** Sends what is waiting (unless backing off after a failure); one run at a time. */
  flush(): Promise<void> {
    this.#flushing ??= this.#run().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    if (Date.now() < this.#nextAttempt) {
      // Away: what arrived meanwhile waits on disk, so memory stays small.
      await this.#spoolMemory();
      return;
    }
    try {
      while (this.#spooled.length > 0) {
        const entry = this.#spooled[0]!;
        const delivery = JSON.parse(await readFile(entry.file, 'utf8')) as Delivery;
        await this.#deliver(delivery, entry.count);
        this.#spooled.shift();
        this.#spooledBytes -= entry.bytes;
        await unlink(entry.file).catch(() => {});
      }
      for (;;) {
        const delivery = this.#take();
        if (!delivery) break;
        try {
          await this.#deliver(delivery, delivery.kind === 'events' ? delivery.events.length : 1);
        } catch (err) {
          await this.#spool(delivery);
          throw err;
        }
      }
      if (this.#failures > 0)
        this.#log.info('the Infra server takes Kubernetes audit events again');
      this.#failures = 0;
    } catch (err) {
      this.#failures++;
      this.#nextAttempt = Date.now() + Math.min(250 * 2 ** this.#failures, RETRY_MAX_MS);
      if (this.#failures === 1) {
        this.#log.warn(
          { err: (err as Error).message },
          'cannot send Kubernetes audit events to the Infra server; keeping them on disk until it answers',
        );
      }
      await this.#spoolMemory();
    }
  }

  /** The next delivery from memory: a batch of events, or a recording chunk. */
  #take(): Delivery | undefined {
    while (this.#queue.length > 0) {
      const events: KubeEventInput[] = [];
      for (const request of this.#queue.splice(0, BATCH)) {
        const e = kubeEvent(request);
        if (e) events.push(e);
      }
      if (events.length > 0) return { kind: 'events', events };
    }
    const chunk = this.#chunks.shift();
    return chunk && { kind: 'chunk', chunk };
  }

  /** Sends one delivery; one the server refuses for good is dropped (and counted). */
  async #deliver(delivery: Delivery, count: number): Promise<void> {
    try {
      if (delivery.kind === 'events') {
        await this.#client.createKubeEvents({
          destination: this.#destination,
          events: delivery.events,
        });
      } else {
        await this.#client.createKubeRecordingChunk({
          destination: this.#destination,
          ...delivery.chunk,
        });
      }
    } catch (err) {
      if (!refusedByServer(err)) throw err;
      this.#log.error(
        { err: (err as Error).message, kind: delivery.kind, count },
        'the Infra server refused Kubernetes audit data; dropped it',
      );
      this.#metrics.dropped(delivery.kind, count);
    }
  }

  async #spoolMemory(): Promise<void> {
    for (;;) {
      const delivery = this.#take();
      if (!delivery) return;
      await this.#spool(delivery);
    }
  }

  async #spool(delivery: Delivery): Promise<void> {
    const count = delivery.kind === 'events' ? delivery.events.length : 1;
    const text = JSON.stringify(delivery);
    const bytes = Buffer.byteLength(text);
    // Names sort in the order written: time, then a counter.
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.#spoolSeq++).padStart(9, '0')}-${delivery.kind}-${count}.json`;
    const file = path.join(this.#dir, name);
    try {
      await writeFile(file, text, { mode: 0o600 });
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'cannot keep Kubernetes audit data on disk');
      this.#metrics.dropped(delivery.kind, count);
      return;
    }
    this.#spooled.push({ file, bytes, kind: delivery.kind, count });
    this.#spooledBytes += bytes;
    while (this.#spooledBytes > this.#bufferBytes && this.#spooled.length > 1) {
      const oldest = this.#spooled.shift()!;
      this.#spooledBytes -= oldest.bytes;
      await unlink(oldest.file).catch(() => {});
      this.#metrics.dropped(oldest.kind, oldest.count);
    }
  }
}
