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
