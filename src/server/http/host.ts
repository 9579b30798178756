import type { IncomingMessage } from 'node:http';
import { AppError } from '../../shared/errors.js';

const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/;

/** The name in a Host header (`[::1]:4443` is `::1`), lower case; undefined when malformed. */
export function hostName(header: string): string | undefined {
  const m = HOST.exec(header);
  return m ? (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '') : undefined;
}

/**
 * A request must name this server: the host of its public origin, or a name its certificate is
 * for (localhost, `tls.hosts`, the names of a configured or ACME certificate). Links never come
 * from the Host header (they use the configured origin); a request for another name is refused
 * rather than served, so a DNS-rebinding page or a proxy sending the wrong Host gets nothing.
 */
export function checkHost(
  header: string,
  publicOrigin: string,
  servesName: (name: string) => boolean,
): void {
  if (header === '') throw new AppError('bad_request', 'the Host header is required');
  const name = hostName(header);
  if (name !== undefined && (name === hostName(new URL(publicOrigin).host) || servesName(name)))
    return;
  throw new AppError(
    'misdirected',
    `this server does not answer for that host name; its address is ${publicOrigin}`,
  );
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/s;

/**
 * Rewrites a request target in absolute form (`GET https://host/path`) to origin form, with
 * its host as the Host, the way RFC 9112 (3.2.2) has a server read it. Done before the framework
 * sees the request, so the host check judges the host the request names and the checks on the
 * path (answers under `/api/` are never cached) see the path.
 */
export function useOriginForm(req: IncomingMessage): void {
  const m = ABSOLUTE_FORM.exec(req.url ?? '');
  if (!m) return;
  req.headers.host = m[1]!;
  req.url = m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`;
}

/**
 * Refuses a request with more than one Host header (RFC 9112, 3.2): a proxy in front could
 * route it by one while the server reads the other.
 */
export function checkOneHost(rawHeaders: readonly string[]): void {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) throw new AppError('bad_request', 'the request has more than one Host header');
}
