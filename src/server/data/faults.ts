import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** How long clients are told to wait before trying again while the database is away. */
const RETRY_AFTER_SECONDS = 2;

/**
 * The database cannot serve the request now (it restarted, its connections were cut, its disk
 * is full, another process holds its lock): a 503 with Retry-After, never a bare 500. The
 * driver's message goes to the log, once per episode, not to the caller.
 */
export class DatabaseUnavailableError extends AppError {
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
  constructor(reason: string, options?: { cause?: unknown }) {
    super('unavailable', `the database is unavailable (${reason}); try again shortly`, options);
  }
}

// PostgreSQL SQLSTATEs of a connection that went away or a server that is not accepting work:
// class 08 (connection exception), 57P01-57P05 (shut down by an admin, a crash, starting up,
// idle session timeout), 53300 (too many connections).
const PG_UNAVAILABLE = /^(08...|57P0[1-5]|53300)$/;
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const PG_CLIENT_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed and is not queryable)/;

/**
 * Why a driver error means the database is unavailable (a short reason for messages), or
 * undefined when it is an error of the query itself.
 */
function unavailableReason(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return 'it is locked by another process';
  if (code === 'SQLITE_FULL') return 'its disk is full';
  if (code.startsWith('SQLITE_READONLY')) return 'it is read-only';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PROTOCOL')
    return 'it cannot read or write its file';
  if (PG_UNAVAILABLE.test(code)) return 'PostgreSQL is not accepting connections';
  // Class 28: the password was rotated at the database and not yet re-read (see secrets).
  if (code.startsWith('28')) return "PostgreSQL refused the server's credentials";
  if (NETWORK.has(code) || PG_CLIENT_MESSAGES.test(message))
    return 'the connection to PostgreSQL was lost';
  return undefined;
}

/**
 * Whether the database answers, as the server has seen it: set by every query (a failure that
 * means "unavailable" starts an episode, the next success ends it). The cause is logged once
 * per episode, not once per request.
 */
export class DatabaseHealth {
  #up = true;
  #reason = '';
  #since = 0;
  #lastFailureAt = 0;
  readonly #log: Pick<Logger, 'error' | 'info'> | undefined;
  readonly #listeners = new Set<(up: boolean) => void>();

  constructor(log?: Pick<Logger, 'error' | 'info'>) {
    this.#log = log;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Why it is down ('' when up). */
  get reason(): string {
    return this.#reason;
  }

  /** When a query last failed for want of the database (ms since the epoch; 0: never). */
  get lastFailureAt(): number {
    return this.#lastFailureAt;
  }

  onChange(listener: (up: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  failed(reason: string, err: unknown): void {
    this.#lastFailureAt = Date.now();
    if (!this.#up && reason === this.#reason) return;
    const wasUp = this.#up;
    this.#up = false;
    this.#reason = reason;
    this.#since = Date.now();
    const driverError = (err as Error | undefined)?.message;
    this.#log?.error({ driverError }, `the database is unavailable: ${reason}`);
    if (wasUp) for (const l of this.#listeners) l(false);
  }

  answered(): void {
    if (this.#up) return;
    this.#up = true;
    this.#log?.info(
      { downMs: Date.now() - this.#since },
      `the database answers again (it was unavailable: ${this.#reason})`,
    );
    this.#reason = '';
    for (const l of this.#listeners) l(true);
  }
}

interface GuardOptions {
  health: DatabaseHealth;
  /**
   * Whether this connection's successes end an episode. SQLite's read-only connection keeps
   * reading while writes fail (a full disk), so it reports failures only.
   */
  reportsRecovery?: boolean;
  /**
   * SQLite: how long a write waits (without blocking the event loop) for a lock another process
   * holds, before the request gets 503. Undefined for PostgreSQL, which waits on the server.
   */
  busyWaitMs?: number;
}

/** Wraps a dialect so that every database fault becomes a DatabaseUnavailableError. */
export function guardDialect(dialect: Dialect, options: GuardOptions): Dialect {
  return {
    createDriver: () => new GuardedDriver(dialect.createDriver(), options),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db: Parameters<Dialect['createIntrospector']>[0]) =>
      dialect.createIntrospector(db),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isBusy = (err: unknown) =>
  /^SQLITE_(BUSY|LOCKED)/.test((err as { code?: string }).code ?? '');
const BUSY_RETRY_MS = 25;

class GuardedDriver implements Driver {
  readonly #inner: Driver;
  readonly #health: DatabaseHealth;
  readonly #busyWaitMs: number | undefined;
  readonly #reportsRecovery: boolean;
  /** Until when writes stop waiting for a lock (another process held it past the wait). */
  #lockedUntil = 0;

  constructor(inner: Driver, options: GuardOptions) {
    this.#inner = inner;
    this.#health = options.health;
    this.#busyWaitMs = options.busyWaitMs;
    this.#reportsRecovery = options.reportsRecovery ?? true;
  }

  /**
   * Runs a driver call; faults become DatabaseUnavailableError. A success ends an episode only
   * when it proves the database works again (a commit, or a statement outside a transaction):
   * inside a transaction, a read that works says nothing about the write that failed.
   */
  async #guard<T>(run: () => Promise<T>, proves = true): Promise<T> {
    try {
      const result = await run();
      if (proves && this.#reportsRecovery) this.#health.answered();
      return result;
    } catch (err) {
      throw this.translate(err);
    }
  }

  translate(err: unknown): unknown {
    if (err instanceof DatabaseUnavailableError) return err;
    const reason = unavailableReason(err);
    if (reason === undefined) return err;
    this.#health.failed(reason, err);
    return new DatabaseUnavailableError(reason, { cause: err });
  }

  /**
   * SQLite's own busy timeout would block the only thread; instead a locked database is tried
   * again on a timer. A refused statement changed nothing, so trying it again is safe.
   */
  async #retryBusy<T>(run: () => Promise<T>): Promise<T> {
    if (this.#busyWaitMs === undefined) return run();
    const deadline = Date.now() + (Date.now() < this.#lockedUntil ? 0 : this.#busyWaitMs);
    for (;;) {
      try {
        const result = await run();
        this.#lockedUntil = 0;
        return result;
      } catch (err) {
        if (!isBusy(err)) throw err;
        if (Date.now() >= deadline) {
          // Requests queued behind this one do not each wait the whole time again.
          this.#lockedUntil = Date.now() + this.#busyWaitMs;
          throw err;
        }
        await sleep(BUSY_RETRY_MS);
      }
    }
  }

  init(): Promise<void> {
    return this.#guard(() => this.#inner.init(), false);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.#guard(() => this.#inner.acquireConnection(), false);
    return new GuardedConnection(connection, this);
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const guarded = connection as GuardedConnection;
    if (this.#busyWaitMs !== undefined) {
      // Take the write lock at the start: a deferred transaction that read first could not
      // retry a refused write, and would have to give up.
      const begin = { sql: 'begin immediate', parameters: [] } as unknown as CompiledQuery;
      await this.#guard(() => this.#retryBusy(() => guarded.inner.executeQuery(begin)), false);
    } else {
      await this.#guard(() => this.#inner.beginTransaction(guarded.inner, settings), false);
    }
    guarded.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const guarded = connection as GuardedConnection;
    await this.#guard(() => this.#inner.commitTransaction(guarded.inner));
    guarded.inTransaction = false;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const guarded = connection as GuardedConnection;
    guarded.inTransaction = false;
    try {
      await this.#inner.rollbackTransaction(guarded.inner);
    } catch (err) {
      // The transaction is gone already: SQLite rolls back by itself after some errors (a full
      // disk), and a lost PostgreSQL connection takes its transaction with it. The error that
      // caused the rollback is the one worth reporting, so this one is dropped.
      if (
        unavailableReason(err) === undefined &&
        !/no transaction is active/.test((err as Error).message)
      ) {
        throw err;
      }
    }
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection((connection as GuardedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }

  execute<R>(connection: GuardedConnection, query: CompiledQuery): Promise<QueryResult<R>> {
    return this.#guard(
      () => this.#retryBusy(() => connection.inner.executeQuery<R>(query)),
      !connection.inTransaction,
    );
  }
}

class GuardedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  inTransaction = false;
  readonly #driver: GuardedDriver;
  constructor(inner: DatabaseConnection, driver: GuardedDriver) {
    this.inner = inner;
    this.#driver = driver;
  }

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.#driver.execute<R>(this, query);
  }

  async *streamQuery<R>(
    query: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (err) {
      throw this.#driver.translate(err);
    }
  }
}
