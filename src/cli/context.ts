import { createApiClient, type ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import { CliError, type CliIO } from './io.js';
import { currentServer, findServer, readState, type CliState, type SavedServer } from './state.js';

export { CliError, type CliIO };

export const NOT_LOGGED_IN = 'Not logged in; run `infra login` first';
export const SESSION_EXPIRED = 'Session expired; run `infra login` to start a new session';
export const USER_REMOVED =
  'Your Infra user was removed by an admin, so you cannot log in again; ask an Infra admin if you still need access';

/** An API client for a saved server, with its trust settings and, optionally, its session. */
export function clientFor(
  server: Pick<SavedServer, 'url' | 'trustedCa' | 'skipTlsVerify' | 'session'>,
  accessKey?: string,
): ApiClient {
  return createApiClient({
    baseUrl: server.url,
    ca: server.trustedCa,
    skipTlsVerify: server.skipTlsVerify,
    accessKey: accessKey ?? server.session?.accessKey,
    component: 'cli',
  });
}

/** The signed-in server: its state, record and a client with the session. */
export interface Session {
  state: CliState;
  server: SavedServer & { session: NonNullable<SavedServer['session']> };
  client: ApiClient;
}

/** Runs a command with the current session, turning API errors into sentences. */
export async function withClient<T>(io: CliIO, fn: (client: ApiClient) => Promise<T>): Promise<T> {
  const { client } = requireSession(io);
  try {
    return await fn(client);
  } catch (err) {
    throw explain(err);
  }
}

/** The current (or named) server with a live session; a sentence telling what to do otherwise. */
export function requireSession(io: Pick<CliIO, 'env'>, url?: string): Session {
  const state = readState(io.env);
  const server = url ? findServer(state, url) : currentServer(state);
  if (!server?.session) throw new CliError(NOT_LOGGED_IN);
  if (Date.parse(server.session.expires) <= Date.now()) throw new CliError(SESSION_EXPIRED);
  return { state, server: server as Session['server'], client: clientFor(server) };
}

/** Turns API errors into sentences for people. */
export function explain(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ApiError) {
    if (err.code === 'user_removed') return new CliError(USER_REMOVED);
    if (err.status === 401) return new CliError(SESSION_EXPIRED);
    const fields = (err.fieldErrors ?? [])
      .map((f) => `${f.field}: ${f.errors.join(', ')}`)
      .join('; ');
    return new CliError(
      fields
        ? `${err.message.replace(/^validation failed: .*$/, 'Invalid input')} (${fields})`
        : capitalize(err.message),
    );
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
    return new CliError(
      `Cannot reach the Infra server (${code}); check the address and that it is running`,
    );
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new CliError(
      "The server's TLS certificate is not trusted; run `infra login` again to review it",
    );
  }
  return new CliError(`Unexpected error: ${(err as Error).message}`);
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
