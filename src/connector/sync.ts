import type { Logger } from '../shared/logger.js';
import type { AccessState } from './access.js';
import { jitter, nextDelay } from './follow.js';
import type { Kube } from './kube.js';
import type { ConnectorMetrics } from './metrics.js';
import { BindingIndex, syncBindings, type DesiredBinding } from './rbac.js';
import type { ClusterFacts } from './register.js';

/**
 * Keeps the cluster's bindings in line with the latest access state: one reconciliation at a
 * time, the newest state wins, and a reconciliation that could not write everything is retried
 * with back-off (the cluster refused a write, or was unreachable). A state from a delta updates
 * only the bindings its grants are in; a snapshot or new cluster facts rebuild the index of
 * every grant (yielding to the proxy between chunks) and compare every binding.
 */
export class RbacSyncer {
  readonly #kube: Kube;
  readonly #destination: string;
  readonly #log: Logger;
  readonly #metrics: ConnectorMetrics;
  readonly #onSynced: (state: AccessState, complete: boolean) => void;
  #state: AccessState | undefined;
  #facts: ClusterFacts | undefined;
  #index: BindingIndex | undefined;
  /** The grant changes of the states since the index was last brought up to date. */
  #pending: Array<NonNullable<AccessState['change']>> = [];
  /** The index is to be rebuilt from the latest state (no index yet, a snapshot, new facts). */
  #rebuild = true;
  /** Every binding is to be compared (after a rebuild, or a reconciliation that failed). */
  #compareAll = true;
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
    if (change.state) {
      this.#state = change.state;
      if (change.state.change && !this.#rebuild) this.#pending.push(change.state.change);
      else this.#rebuild = true;
    }
    if (change.facts) {
      this.#facts = change.facts;
      this.#rebuild = true;
    }
    if (this.#rebuild) this.#pending = [];
    this.#kick();
  }

  /** Brings the index up to date; returns the keys of the bindings changed (all: undefined). */
  async #desired(state: AccessState, facts: ClusterFacts): Promise<Set<string> | undefined> {
    if (this.#rebuild || !this.#index) {
      this.#rebuild = false;
      this.#pending = [];
      this.#compareAll = true;
      this.#index = await BindingIndex.build(state, facts, this.#log);
    }
    const changed = new Set<string>();
    for (const { removed, added } of this.#pending.splice(0)) {
      for (const g of removed) {
        const key = this.#index.apply(g, -1);
        if (key !== undefined) changed.add(key);
      }
      for (const g of added) {
        const key = this.#index.apply(g, 1);
        if (key !== undefined) changed.add(key);
      }
    }
    if (this.#compareAll) return undefined;
    return changed;
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
      const only = await this.#desired(state, facts);
      const index = this.#index!;
      const desired = only ? new Map<string, DesiredBinding>() : index.all();
      for (const key of only ?? []) {
        const binding = index.binding(key);
        if (binding) desired.set(key, binding);
      }
      this.#compareAll = false;
      if (only?.size === 0) {
        this.#onSynced(state, true);
        return;
      }
      const result = await syncBindings(this.#kube, this.#destination, desired, this.#log, only);
      for (const kind of ['created', 'updated', 'deleted', 'failed'] as const) {
        if (result[kind] > 0) this.#metrics.bindingWrites.inc({ result: kind }, result[kind]);
      }
      failed = result.failed;
      if (failed > 0) this.#compareAll = true;
      if (result.created + result.updated + result.deleted > 0) {
        this.#log.info({ ...result, updateIndex: state.updateIndex }, 'RBAC bindings updated');
      }
    } catch (err) {
      failed = 1;
      this.#compareAll = true;
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
