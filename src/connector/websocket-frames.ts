/**
 * Reads RFC 6455 frames from one direction of a WebSocket connection as they pass through, and
 * hands on each whole data message (fragments joined, masks removed). It only watches: the
 * bytes themselves are forwarded untouched by the caller.
 */
export class WebSocketReader {
  #buffered: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  readonly #onMessage: (message: Buffer) => void;

  constructor(onMessage: (message: Buffer) => void) {
    this.#onMessage = onMessage;
  }

  push(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    for (;;) {
      const b = this.#buffered;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const op = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const mask = masked ? b.subarray(offset, offset + 4) : undefined;
      if (mask) offset += 4;
      if (b.length < offset + length) return;
      const payload = Buffer.from(b.subarray(offset, offset + length));
      this.#buffered = b.subarray(offset + length);
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      // Control frames (close, ping, pong) may come between fragments; only data counts.
      if (op >= 0x8) continue;
      this.#fragments.push(payload);
      if (fin) {
        const message = Buffer.concat(this.#fragments);
        this.#fragments = [];
        this.#onMessage(message);
      }
    }
  }
}
