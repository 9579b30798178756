import { request } from 'node:https';
import type { Cluster } from './cluster.js';

/** Tunnel mode with no inbound listener at all: kubectl can only come through the server. */
export const TUNNEL_ONLY = { tunnel: 'true', endpoint: '', 'addr.https': '' };

export async function until(what: string, check: () => boolean | Promise<boolean>) {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** A raw HTTPS request to the server (no client library), trusting its certificate. */
export function rawRequest(
  cluster: Cluster,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(cluster.server.url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path,
      headers,
      rejectUnauthorized: false,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: 101, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
