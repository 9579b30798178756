/**
 * The server side of SPDY/3.1 as the Kubernetes stream protocols use it (moby/spdystream in
 * client-go): streams the client opens, with header blocks compressed by one zlib context per
 * direction primed with the SPDY/3 dictionary, replies, data, resets, pings and GOAWAY. Flow
 * control is not enforced (spdystream does not enforce it either); frames are taken whole.
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

// The SPDY/3 header dictionary (a constant of the protocol), from the spdy-transport package.
const DICTIONARY = (
  createRequire(import.meta.url)(
    'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js',
  ) as Record<number, Buffer>
)[3]!;

const VERSION = 3;
const Type = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;
const FIN = 0x01;

export interface SpdyStream {
  id: number;
  /** The client's headers, names lower-case. */
  headers: Record<string, string>;
  /** Called with each data frame's payload; `end` when the client half-closes. */
  onData(fn: (data: Buffer) => void): void;
  onEnd(fn: () => void): void;
  write(data: Buffer | string): void;
  /** Half-closes our side (a FIN data frame). */
  end(): void;
  /** Resets the stream (RST_STREAM, CANCEL). */
  reset(): void;
}

/** Runs a SPDY server session over `socket`; `onStream` gets each stream once it is answered. */
export function serveSpdy(socket: Duplex, onStream: (stream: SpdyStream) => void): void {
  const inflate: Inflate = createInflate({ dictionary: DICTIONARY });
  const deflate: Deflate = createDeflate({ dictionary: DICTIONARY });
  const streams = new Map<
    number,
    { data: Array<(d: Buffer) => void>; end: Array<() => void>; ended: boolean }
  >();
  let buffered = Buffer.alloc(0);
  // Header blocks share one compression context each way, so frames are handled in order.
  let queue = Promise.resolve();

  const send = (frame: Buffer) => {
    if (!socket.destroyed && socket.writable) socket.write(frame);
  };
  const control = (type: number, flags: number, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | VERSION, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE((flags << 24) | body.length, 4);
    send(Buffer.concat([head, body]));
  };
  const data = (id: number, flags: number, payload: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id & 0x7fffffff, 0);
    head.writeUInt32BE((flags << 24) | payload.length, 4);
    send(Buffer.concat([head, payload]));
  };
  const zlibRun = (z: Inflate | Deflate, input: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const collect = (chunk: Buffer) => out.push(chunk);
      z.on('data', collect);
      z.write(input);
      z.flush(constants.Z_SYNC_FLUSH, () => {
        z.off('data', collect);
        resolve(Buffer.concat(out));
      });
      z.once('error', reject);
    });
  const decodeHeaders = async (block: Buffer): Promise<Record<string, string>> => {
    const raw = await zlibRun(inflate, block);
    const headers: Record<string, string> = {};
    let at = 4;
    for (let n = raw.readUInt32BE(0); n > 0; n--) {
      const nameLength = raw.readUInt32BE(at);
      const name = raw.subarray(at + 4, at + 4 + nameLength).toString('latin1');
      at += 4 + nameLength;
      const valueLength = raw.readUInt32BE(at);
      // Several values of one name are joined by NUL bytes.
      headers[name.toLowerCase()] = raw.subarray(at + 4, at + 4 + valueLength).toString('latin1');
      at += 4 + valueLength;
    }
    return headers;
  };
  const encodeHeaders = (headers: Record<string, string>): Promise<Buffer> => {
    const parts: Buffer[] = [u32(Object.keys(headers).length)];
    for (const [name, value] of Object.entries(headers)) {
      parts.push(u32(name.length), Buffer.from(name, 'latin1'));
      parts.push(u32(Buffer.byteLength(value)), Buffer.from(value));
    }
    return zlibRun(deflate, Buffer.concat(parts));
  };

  const handle = async (frame: Buffer) => {
    if ((frame[0]! & 0x80) === 0) {
      const id = frame.readUInt32BE(0) & 0x7fffffff;
      const flags = frame[4]!;
      const s = streams.get(id);
      if (!s) return;
      const payload = frame.subarray(8);
      if (payload.length > 0) for (const fn of s.data) fn(payload);
      if (flags & FIN && !s.ended) {
        s.ended = true;
        for (const fn of s.end) fn();
      }
      return;
    }
    const type = frame.readUInt16BE(2);
    const flags = frame[4]!;
    const body = frame.subarray(8);
    switch (type) {
      case Type.SynStream: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = await decodeHeaders(body.subarray(10));
        const s = { data: [], end: [], ended: false } as {
          data: Array<(d: Buffer) => void>;
          end: Array<() => void>;
          ended: boolean;
        };
        streams.set(id, s);
        const reply = await encodeHeaders({});
        control(Type.SynReply, 0, Buffer.concat([u32(id), reply]));
        onStream({
          id,
          headers,
          onData: (fn) => s.data.push(fn),
          onEnd: (fn) => s.end.push(fn),
          write: (d) => data(id, 0, Buffer.from(d)),
          end: () => data(id, FIN, Buffer.alloc(0)),
          reset: () => control(Type.RstStream, 0, Buffer.concat([u32(id), u32(5)])),
        });
        if (flags & FIN) {
          s.ended = true;
          for (const fn of s.end) fn();
        }
        return;
      }
      case Type.Headers:
        // Later header blocks change nothing here, but keep the compression context in step.
        await decodeHeaders(body.subarray(4));
        return;
      case Type.RstStream: {
        const s = streams.get(body.readUInt32BE(0) & 0x7fffffff);
        if (s && !s.ended) {
          s.ended = true;
          for (const fn of s.end) fn();
        }
        return;
      }
      case Type.Ping:
        // The client's pings have odd ids: answer them as they are.
        control(Type.Ping, 0, body);
        return;
      case Type.GoAway:
        socket.end();
        return;
      default:
        // SETTINGS and WINDOW_UPDATE: nothing to do.
        return;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 8) {
      const length = buffered.readUInt32BE(4) & 0xffffff;
      if (buffered.length < 8 + length) break;
      const frame = buffered.subarray(0, 8 + length);
      buffered = buffered.subarray(8 + length);
      queue = queue.then(() => handle(frame)).catch(() => void socket.destroy());
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    inflate.close();
    deflate.close();
    for (const s of streams.values()) {
      if (!s.ended) {
        s.ended = true;
        for (const fn of s.end) fn();
      }
    }
  });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
