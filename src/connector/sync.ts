import type { Logger } from '../shared/logger.js';
import type { AccessState } from './access.js';
import { jitter, nextDelay } from './follow.js';
import type { Kube } from './kube.js';
import type { ConnectorMetrics } from './metrics.js';
import { desiredBindings, syncBindings } from './rbac.js';
import type { ClusterFacts } from './register.js';

/**
 * Keeps the cluster's bindings in line with the latest access state: one reconciliation at a
 * time, the newest state wins, and a reconciliation that could not write everything is retried
 * with back-off (the cluster refused a write, or was unreachable).
 */
export class RbacSyncer {
  readonly #kube: Kube;
  readonly #destination: string;
  readonly #log: Logger;
  readonly #metrics: ConnectorMetrics;
  readonly #onSynced: (state: AccessState, complete: boolean) => void;
  #state: AccessState | undefined;
  #facts: ClusterFacts | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;
  #retry: NodeJS.Timeout | undefined;
  #delay = 1000;
  #stopped = false;

  constructor(deps: {
    kube: Kube;
    destination: string;
    log: Logger;
    metrics: ConnectorMetrics;
    /** After each reconciliation of `state`: `complete` when every binding was written. */
    onSynced: (state: AccessState, complete: boolean) => void;
  }) {
    this.#kube = deps.kube;
    this.#destination = deps.destination;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#onSynced = deps.onSynced;
  }

  update(change: { state?: AccessState; facts?: ClusterFacts }): void {
    if (change.state) this.#state = change.state;
    if (change.facts) this.#facts = change.facts;
    this.#kick();
  }

  /** Resolves once no reconciliation is running or queued (a retry after failure may follow). */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
  }

  #kick(): void {
    if (this.#stopped || !this.#state || !this.#facts) return;
    if (this.#running) {
      this.#dirty = true;
      return;
    }
    if (this.#retry) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#dirty) {
        this.#dirty = false;
        this.#kick();
      }
    });
  }

  async #run(): Promise<void> {
    const state = this.#state!;
    const facts = this.#facts!;
    let failed: number;
    try {
      const desired = desiredBindings(state, facts, this.#log);
      const result = await syncBindings(this.#kube, this.#destination, desired, this.#log);
      for (const kind of ['created', 'updated', 'deleted', 'failed'] as const) {
        if (result[kind] > 0) this.#metrics.bindingWrites.inc({ result: kind }, result[kind]);
      }
      failed = result.failed;
      if (result.created + result.updated + result.deleted > 0) {
        this.#log.info({ ...result, updateIndex: state.updateIndex }, 'RBAC bindings updated');
      }
    } catch (err) {
      failed = 1;
      this.#log.warn(
        { err: (err as Error).message },
        'could not read the RBAC bindings of the cluster',
      );
    }
    this.#onSynced(state, failed === 0);
    if (failed > 0 && !this.#stopped && !this.#dirty) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#kick();
      }, jitter(this.#delay));
      this.#delay = nextDelay(this.#delay);
    } else if (failed === 0) {
      this.#delay = 1000;
    }
  }
}
