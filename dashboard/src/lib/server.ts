import { call, type Output } from '../api';
import { useQuery, type Query } from './hooks';

export type ServerSettings = Output<'getSettings'>;

/** The server's public settings: password policy, the TLS certificate to pin. */
export function useServerSettings(): Query<ServerSettings> {
  return useQuery((signal) => call('getSettings', {}, { signal }), []);
}

/** This server as people reach it: the dashboard's own origin. */
export function serverUrl(): string {
  return window.location.origin;
}

/**
 * `infra login` for this server. A certificate the server generated itself is trusted by no
 * authority, so the command pins its fingerprint (the one this page was served with).
 */
export function loginCommand(settings: ServerSettings | undefined): string {
  const pin =
    settings?.tls.source === 'generated'
      ? ` --tls-trusted-fingerprint ${settings.tls.fingerprint}`
      : '';
  return `infra login ${serverUrl()}${pin}`;
}
