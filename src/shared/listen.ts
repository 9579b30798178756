import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './config-loader.js';
import { AppError } from './errors.js';

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
