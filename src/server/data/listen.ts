import type pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { CHANGES_CHANNEL } from './changes.js';
import { pgConnection, type DatabaseConfig } from './db.js';

type PostgresConfig = Extract<DatabaseConfig, { kind: 'postgres' }>;

/**
 * Listens for changes committed by any server sharing the PostgreSQL database, on a connection
 * of its own, and calls `onChange` for each (and after every reconnect, since notifications sent
 * while disconnected are lost). Returns a function that stops listening.
 */
export async function listenForChanges(
  config: PostgresConfig,
  onChange: () => void,
  log: Logger,
): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 250;

  const { default: pg } = await import('pg');
  const connect = async (): Promise<void> => {
    const c = new pg.Client({
      ...pgConnection(config),
      ssl: config.ssl === false ? false : config.ssl,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    c.on('notification', () => onChange());
    c.on('error', (err) => {
      log.warn(
        { err: err.message },
        'lost the PostgreSQL connection that listens for changes; reconnecting',
      );
      reconnect();
    });
    await c.connect();
    await c.query(`listen ${CHANGES_CHANNEL}`);
    client = c;
    delay = 250;
    onChange();
  };
  const reconnect = () => {
    if (stopped || retry) return;
    const old = client;
    client = undefined;
    old?.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      connect().catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'could not reconnect to listen for changes');
        // Short and jittered: feeds resume within about a second of PostgreSQL answering, and
        // replicas do not reconnect in step.
        delay = Math.min(delay * 2, 1000) * (0.8 + Math.random() * 0.4);
        reconnect();
      });
    }, delay);
    retry.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}
