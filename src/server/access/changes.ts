/**
 * Wakes requests that wait for access to change (the connector feed). Write operations call
 * `notify` after they commit; on PostgreSQL a LISTEN connection calls it for commits made by
 * any replica. Waiters re-read the change index, so a spurious wake-up costs one query.
 */
export class ChangeNotifier {
  readonly #waiters = new Set<() => void>();
  #closed = false;

  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Starts listening now and returns a wait for the next notification (true) or the timeout
   * (false). Subscribe before reading the index, so a change between the read and the wait is
   * not missed.
   */
  subscribe(): { wait(ms: number): Promise<boolean>; cancel(): void } {
    let wake!: () => void;
    let notified = this.#closed;
    const woken = new Promise<void>((resolve) => {
      wake = () => {
        notified = true;
        resolve();
      };
    });
    if (!this.#closed) this.#waiters.add(wake);
    return {
      wait: async (ms) => {
        if (notified) return true;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), ms);
        });
        const result = await Promise.race([woken.then(() => true), timedOut]);
        clearTimeout(timer);
        this.#waiters.delete(wake);
        return result;
      },
      cancel: () => {
        this.#waiters.delete(wake);
      },
    };
  }

  /** Ends every wait (the server is stopping) and makes future waits return at once. */
  close(): void {
    this.#closed = true;
    this.notify();
  }

  get closed(): boolean {
    return this.#closed;
  }
}
