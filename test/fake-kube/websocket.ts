/**
 * The server side of RFC 6455, enough for the Kubernetes stream protocols: handshake, masked
 * client frames (fragmented or not), ping/pong and the close handshake; messages are binary.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;
type Op = (typeof Op)[keyof typeof Op];

interface WebSocketConnection {
  protocol: string;
  send(data: Buffer): void;
  /** Sends a close frame; the socket ends when the client answers (or goes away). */
  close(code?: number): void;
}

function frame(op: Op, payload: Buffer): Buffer {
  const n = payload.length;
  const header =
    n < 126
      ? Buffer.from([0x80 | op, n])
      : n < 65536
        ? Buffer.from([0x80 | op, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | op, 127]), bigEndian64(n)]);
  return Buffer.concat([header, payload]);
}

function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The first subprotocol the client offers that we speak, or undefined. */
export function pickProtocol(
  req: IncomingMessage,
  supported: readonly string[],
): string | undefined {
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return offered.find((p) => supported.includes(p));
}

/** Completes the upgrade on `socket` and delivers each whole message to `onMessage`. */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocol: string,
  onMessage: (data: Buffer) => void,
  onClose: () => void,
): WebSocketConnection {
  const accept = createHash('sha1')
    .update(`${req.headers['sec-websocket-key'] ?? ''}${GUID}`)
    .digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  let buffered = head;
  let fragments: Buffer[] = [];
  let closing = false;
  const write = (op: Op, payload: Buffer) => {
    if (!socket.destroyed && socket.writable) socket.write(frame(op, payload));
  };
  const close = (code = 1000) => {
    if (closing) return;
    closing = true;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    write(Op.Close, payload);
  };

  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (buffered.length < 2) return;
      const fin = (buffered[0]! & 0x80) !== 0;
      const op = buffered[0]! & 0x0f;
      const masked = (buffered[1]! & 0x80) !== 0;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const mask = masked ? buffered.subarray(offset, offset + 4) : undefined;
      if (mask) offset += 4;
      if (buffered.length < offset + length) return;
      const payload = Buffer.from(buffered.subarray(offset, offset + length));
      buffered = buffered.subarray(offset + length);
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;

      if (op === Op.Close) {
        close(payload.length >= 2 ? payload.readUInt16BE(0) : 1000);
        socket.end();
        return;
      }
      if (op === Op.Ping) write(Op.Pong, payload);
      if (op === Op.Text || op === Op.Binary || op === Op.Continuation) {
        fragments.push(payload);
        if (fin) {
          const message = Buffer.concat(fragments);
          fragments = [];
          onMessage(message);
        }
      }
    }
  });
  socket.on('close', onClose);
  socket.on('error', () => socket.destroy());
  return { protocol, send: (data) => write(Op.Binary, data), close };
}
