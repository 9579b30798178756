import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CamelCasePlugin, Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type pg from 'pg';
import { AppError, ConflictError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secrets.js';
import { DatabaseHealth, DatabaseUnavailableError, guardDialect } from './faults.js';
import type { Database } from './schema.js';

/** Where the database is and how to reach it (validated by server/config.ts). */
export type DatabaseConfig =
  | { kind: 'sqlite'; file: string }
  | {
      kind: 'postgres';
      connectionString?: string;
      host?: string;
      port: number;
      name: string;
      username: string;
      password?: Secret;
      ssl: false | { rejectUnauthorized: boolean; ca?: string };
      maxConnections: number;
    };

export type Db = Kysely<Database>;
export type Engine = 'sqlite' | 'postgres';

/**
 * An open database: the query builders, which engine it is, and how to close it. `db` takes
 * every write (and the reads inside write transactions); `readDb` serves plain reads. On SQLite
 * they are two connections to one WAL file, so reads never wait behind a write transaction; on
 * PostgreSQL they are the same pool.
 */
export interface OpenDb {
  db: Db;
  readDb: Db;
  engine: Engine;
  /** Where it is, for log lines: a file path or host:port/database. Never a password. */
  location: string;
  /** Whether the database answered the last query (readiness, the database_up metric). */
  health: DatabaseHealth;
  close(): Promise<void>;
}

/**
 * How long a write waits, on a timer, for an SQLite lock another process holds before the
 * request gets 503 (SQLite's own busy timeout would block the event loop meanwhile).
 */
const SQLITE_BUSY_WAIT_MS = 2000;

// int8 (bigint) columns hold millisecond timestamps and counts, all well inside 2^53.
const PG_INT8_OID = 20;
const pgTypes = (types: typeof pg.types) =>
  ({
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === PG_INT8_OID) return (value: string) => Number(value);
      return types.getTypeParser(oid, format);
    },
  }) as pg.CustomTypesConfig;

/**
 * Opens the configured database: SQLite (WAL, foreign keys on) or a PostgreSQL pool. Fails with a
 * clear sentence when PostgreSQL cannot be reached or refuses the credentials. Once open, any
 * fault of the database (a restart, lost connections, a lock, a full disk) reaches callers as a
 * DatabaseUnavailableError, and is logged once per episode with `log`.
 */
export async function openDb(config: DatabaseConfig, log?: Logger): Promise<OpenDb> {
  if (config.kind === 'sqlite') return openSqlite(config.file, log);
  return openPostgres(config, log);
}

/**
 * Keeps prepared statements by their SQL. Kysely prepares every query anew, and preparing costs
 * more than running the small indexed queries the API makes; the set of distinct statements is
 * small (parameters are bound, never inlined), and the cap guards against surprises.
 */
function withStatementCache(database: SqliteDatabase.Database, max = 500): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return new Proxy(database, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') return Reflect.get(target, prop, receiver) as unknown;
      return (source: string) => {
        let statement = cache.get(source);
        if (!statement) {
          statement = target.prepare(source);
          if (cache.size >= max) cache.delete(cache.keys().next().value!);
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}

export function openSqlite(file: string, log?: Logger): OpenDb {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let writer: SqliteDatabase.Database;
  let reader: SqliteDatabase.Database;
  try {
    writer = new SqliteDatabase(file);
    chmodSync(file, 0o600);
    writer.pragma('journal_mode = WAL');
    writer.pragma('synchronous = NORMAL');
    writer.pragma('foreign_keys = ON');
    // No busy timeout: it would block the only thread. A locked database is retried on a timer
    // (guardDialect), so reads and /healthz keep answering meanwhile.
    writer.pragma('busy_timeout = 0');
    // Read-only, so nothing can write past the single writer.
    reader = new SqliteDatabase(file, { readonly: true });
    reader.pragma('busy_timeout = 0');
  } catch (err) {
    throw new AppError(
      'unavailable',
      `cannot open the SQLite database ${file}: ${openProblem(err, file)}`,
      {
        cause: err,
      },
    );
  }
  const health = new DatabaseHealth(log);
  const guard = { health, busyWaitMs: SQLITE_BUSY_WAIT_MS };
  const db = new Kysely<Database>({
    dialect: guardDialect(new SqliteDialect({ database: withStatementCache(writer) }), guard),
    plugins: [new CamelCasePlugin()],
  });
  const readDb = new Kysely<Database>({
    dialect: guardDialect(new SqliteDialect({ database: withStatementCache(reader) }), {
      ...guard,
      reportsRecovery: false,
    }),
    plugins: [new CamelCasePlugin()],
  });
  return {
    db,
    readDb,
    engine: 'sqlite',
    location: file,
    health,
    close: async () => {
      await readDb.destroy();
      await db.destroy();
    },
  };
}

/** Why SQLite could not open its file, with what to do about it. */
function openProblem(err: unknown, file: string): string {
  const code = (err as { code?: string }).code ?? '';
  const dir = path.dirname(file);
  const uid = process.getuid?.();
  const who = uid === undefined ? 'the user infra runs as' : `the user infra runs as (uid ${uid})`;
  if (code === 'EROFS' || code.startsWith('SQLITE_READONLY'))
    return `${dir} is on a read-only file system or the file is read-only; make ${dir} and ${path.basename(file)} writable by ${who}, or set db.file (or --state-dir) to a writable place`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_CANTOPEN')
    return `permission denied; make ${dir} and ${path.basename(file)} writable by ${who}, or set db.file (or --state-dir) to a writable place`;
  if (code === 'ENOSPC' || code === 'SQLITE_FULL')
    return `the disk holding ${dir} is full; free some space and start again`;
  return (err as Error).message;
}

/**
 * Where and as whom to connect to PostgreSQL. The password is revealed for each new connection,
 * so one rotated upstream is used once re-read. pg lets a connection string's (empty) password
 * override the password option, so with db.password set the URL is taken apart here.
 */
export function pgConnection(
  config: Extract<DatabaseConfig, { kind: 'postgres' }>,
): Pick<pg.ClientConfig, 'connectionString' | 'host' | 'port' | 'database' | 'user' | 'password'> {
  const secret = config.password;
  const password = secret ? () => secret.reveal() : undefined;
  if (!config.connectionString) {
    return {
      host: config.host,
      port: config.port,
      database: config.name,
      user: config.username,
      password,
    };
  }
  if (!password) return { connectionString: config.connectionString };
  const url = new URL(config.connectionString);
  const param = (name: string) => url.searchParams.get(name) || undefined;
  const port = url.port || param('port');
  return {
    host: decodeURIComponent(url.hostname.replace(/^\[|\]$/g, '')) || param('host'),
    port: port ? Number(port) : undefined,
    database: decodeURIComponent(url.pathname.slice(1)) || param('dbname'),
    user: decodeURIComponent(url.username) || param('user'),
    password,
  };
}

async function openPostgres(
  config: Extract<DatabaseConfig, { kind: 'postgres' }>,
  log?: Logger,
): Promise<OpenDb> {
  // The driver loads only for PostgreSQL: SQLite setups never pay for it at start.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    ...pgConnection(config),
    ssl: config.ssl === false ? false : config.ssl,
    max: config.maxConnections,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 60_000,
    types: pgTypes(pg.types),
  });
  // An idle client that loses its connection emits here; the pool replaces it.
  pool.on('error', () => {});
  // A client in use that loses its connection (a restart, pg_terminate_backend) emits 'error' on
  // itself, which would end the process unhandled. Its query fails too, and that failure is
  // what the request sees; the pool drops the broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  const location = postgresLocation(config);
  const health = new DatabaseHealth(log);
  const db = new Kysely<Database>({
    dialect: guardDialect(new PostgresDialect({ pool }), { health }),
    plugins: [new CamelCasePlugin()],
  });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    throw new AppError(
      'unavailable',
      `cannot connect to PostgreSQL at ${location}: ${describePgError(err)}; check db.host, db.port, db.username and db.password, and that the server is running`,
      { cause: err },
    );
  }
  return { db, readDb: db, engine: 'postgres', location, health, close: () => db.destroy() };
}

function postgresLocation(config: Extract<DatabaseConfig, { kind: 'postgres' }>): string {
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      return `${url.hostname}:${url.port || 5432}${url.pathname}`;
    } catch {
      return 'the configured connection string';
    }
  }
  return `${config.host}:${config.port}/${config.name}`;
}

function describePgError(err: unknown): string {
  // The driver's own error: the guard wraps it, and its words are what an operator needs here.
  const e = (err instanceof DatabaseUnavailableError ? err.cause : err) as {
    code?: string;
    message?: string;
  };
  if (e.code === 'ECONNREFUSED') return 'connection refused';
  if (e.code === 'ENOTFOUND') return 'host not found';
  if (e.code === '28P01' || e.code === '28000') return 'authentication failed';
  if (e.code === '3D000') return 'the database does not exist';
  return e.message ?? 'unknown error';
}

function camel(column: string): string {
  return column.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Turns driver errors the caller can act on into typed errors: a unique violation becomes a
 * ConflictError naming the table and column. Everything else is rethrown unchanged.
 */
export function translateDbError(err: unknown): never {
  const e = err as { code?: string; message?: string; table?: string; detail?: string };
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    // "UNIQUE constraint failed: users.name" (the last column of a composite key is the telling one)
    const m = /failed: (.+)$/.exec(e.message ?? '');
    const last = m?.[1]?.split(', ').at(-1)?.split('.') ?? [];
    throw new ConflictError(singular(last[0] ?? 'record'), camel(last[1] ?? 'id'));
  }
  if (e.code === '23505') {
    // detail: "Key (name)=(alice) already exists." or "Key (a, b)=(…) already exists."
    const cols = /Key \(([^)]+)\)/.exec(e.detail ?? '')?.[1]?.split(', ') ?? [];
    throw new ConflictError(singular(e.table ?? 'record'), camel(cols.at(-1) ?? 'id'));
  }
  throw err;
}

function singular(table: string): string {
  return table.replace(/_/g, ' ').replace(/s$/, '');
}
