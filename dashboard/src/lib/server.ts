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
 * The fingerprint clients should pin: the certificate this page was served with, unless it comes
 * from ACME (publicly trusted, and renewed every few weeks, which would break a pin).
 */
export function fingerprintToPin(settings: ServerSettings | undefined): string | undefined {
  return settings && settings.tls.source !== 'acme' ? settings.tls.fingerprint : undefined;
}

/** `infra login` for this server, pinning its certificate when it is not publicly trusted. */
export function loginCommand(settings: ServerSettings | undefined): string {
  const pin = fingerprintToPin(settings);
  return `infra login ${serverUrl()}${pin ? ` --tls-trusted-fingerprint ${pin}` : ''}`;
}
