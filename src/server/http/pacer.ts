/**
 * Lets a few callers through per turn of the event loop; the others wait their turn, in order.
 * Ten thousand connectors whose feeds one change answered all ask again at once: started
 * together, their authentication and queries (synchronous on SQLite) would hold the event loop
 * for seconds, and `/healthz` and every other request would wait behind them.
 */
export class Pacer {
  readonly #perTurn: number;
  readonly #queue: Array<() => void> = [];
  #passed = 0;
  #scheduled = false;

  constructor(perTurn: number) {
    this.#perTurn = perTurn;
  }

  /** Resolves when the caller may go on: at once, or in a later turn. */
  turn(): Promise<void> {
    this.#schedule();
    if (this.#queue.length === 0 && this.#passed < this.#perTurn) {
      this.#passed++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After the sockets polled in this turn (other requests) have been served.
    setImmediate(() => {
      this.#scheduled = false;
      this.#passed = 0;
      while (this.#passed < this.#perTurn && this.#queue.length > 0) {
        this.#passed++;
        this.#queue.shift()!();
      }
      if (this.#queue.length > 0) this.#schedule();
    });
  }
}
