/** client-go writes at most 32 KiB per message; 16 MiB is SPDY's own frame limit. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Reads RFC 6455 frames from one direction of a WebSocket connection as they pass through, and
 * hands on each whole data message (fragments joined, masks removed). It only watches: the
 * bytes themselves are forwarded untouched by the caller.
 */
export class WebSocketReader {
  #buffered: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #broken = false;
  readonly #onMessage: (message: Buffer) => void;
  readonly #onUnreadable: (reason: string) => void;

  constructor(onMessage: (message: Buffer) => void, onUnreadable: (reason: string) => void) {
    this.#onMessage = onMessage;
    this.#onUnreadable = onUnreadable;
  }

  push(chunk: Buffer): void {
    if (this.#broken) return;
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
      // What is held for one message is bounded; a larger one is not a terminal's.
      if (length + this.#fragmentBytes > MAX_MESSAGE_BYTES) {
        this.#broken = true;
        this.#buffered = Buffer.alloc(0);
        this.#fragments = [];
        this.#onUnreadable(`a message of more than ${MAX_MESSAGE_BYTES} bytes`);
        return;
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
      this.#fragmentBytes += payload.length;
      if (fin) {
        const message = Buffer.concat(this.#fragments);
        this.#fragments = [];
        this.#fragmentBytes = 0;
        this.#onMessage(message);
      }
    }
  }
}
