import type { Server } from 'node:http';
import { BlockList, isIP, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { ConnectionLimits, ListenAddress } from './config-loader.js';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';

function listenError(err: unknown, setting: string, addr: ListenAddress): AppError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${addr.host || '*'}:${addr.port}`;
  const flag = `--${setting.replace('.', '-')}`;
  if (code === 'EADDRINUSE') {
    return new AppError(
      'unavailable',
      `${setting} ${where} is already in use; stop the other process or choose another address with ${flag}`,
    );
  }
  if (code === 'EACCES') {
    return new AppError(
      'unavailable',
      `${setting} ${where} needs privileges to bind; use a port above 1023`,
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new AppError('unavailable', `${setting} ${where} is not an address of this machine`);
  }
  return new AppError(
    'unavailable',
    `cannot listen on ${setting} ${where}: ${(err as Error).message}`,
    { cause: err },
  );
}

/**
 * Opens a listener on `addr`. An empty host means every interface: IPv6 and IPv4 where the
 * machine has IPv6, IPv4 alone where it does not.
 */
export async function listenOn(
  addr: ListenAddress,
  setting: string,
  listen: (host: string) => Promise<AddressInfo>,
): Promise<number> {
  if (addr.host) {
    return (
      await listen(addr.host).catch((err: unknown) =>
        Promise.reject(listenError(err, setting, addr)),
      )
    ).port;
  }
  try {
    return (await listen('::')).port;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw listenError(err, setting, addr);
  }
  return (
    await listen('0.0.0.0').catch((err: unknown) => Promise.reject(listenError(err, setting, addr)))
  ).port;
}

export function listenServer(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/**
 * Options for `https.createServer` that apply `limits`' timeouts. Node checks the headers
 * deadline (which also covers a connection that never sends a request) on an interval: a
 * fraction of the deadline, so it is kept closely.
 */
export function timeoutOptions(limits: ConnectionLimits, requestTimeout: number) {
  return {
    handshakeTimeout: limits.handshakeTimeout,
    headersTimeout: limits.headersTimeout,
    // Node refuses a headers deadline later than the whole request's.
    requestTimeout: Math.max(requestTimeout, limits.headersTimeout),
    keepAliveTimeout: limits.idleTimeout,
    connectionsCheckingInterval: Math.min(5_000, Math.max(10, limits.headersTimeout >> 2)),
  };
}

/** `::ffff:10.0.0.1` (an IPv4 client of a dual-stack listener) is 10.0.0.1. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Whether an address is in a list of addresses and CIDR ranges (`10.0.0.0/8`). */
export function addressMatcher(list: string[]): (address: string) => boolean {
  const blocks = new BlockList();
  for (const entry of list) {
    const [ip, bits] = entry.split('/') as [string, string?];
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) blocks.addAddress(ip, type);
    else blocks.addSubnet(ip, Number(bits), type);
  }
  return (address) => {
    const plain = plainAddress(address);
    return blocks.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * Closes a new connection at once when its address already holds `max` (0: no limit), so one
 * client cannot use up the process's file descriptors. Addresses `exempt` (reverse proxies that
 * carry many clients) are not counted. The first refusal of an address is logged as a warning,
 * then nothing until that address has no connection left.
 */
export function limitConnectionsPerAddress(
  server: NetServer,
  max: number,
  options: { log: Logger; exempt?: (address: string) => boolean },
): void {
  if (max <= 0) return;
  const open = new Map<string, { count: number; warned: boolean }>();
  server.on('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined) return;
    const address = plainAddress(socket.remoteAddress);
    if (options.exempt?.(address)) return;
    const entry = open.get(address) ?? { count: 0, warned: false };
    if (entry.count >= max) {
      if (!entry.warned) {
        options.log.warn(
          { address, limit: max },
          'refusing connections from an address that holds the most allowed (limits.connectionsPerIP)',
        );
        entry.warned = true;
      }
      socket.destroy();
      return;
    }
    entry.count++;
    open.set(address, entry);
    socket.once('close', () => {
      if (--entry.count === 0) open.delete(address);
    });
  });
}
