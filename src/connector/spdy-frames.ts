import { constants, inflateSync } from 'node:zlib';

/**
 * The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, section 2.6.10.1):
 * each word prefixed by its length as four bytes, then a run of status codes and common values.
 */
// prettier-ignore
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset',
  'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'allow', 'authorization',
  'cache-control', 'connection', 'content-base', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma',
  'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public',
  'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY_DICTIONARY = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((word) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(word.length);
    return [length, Buffer.from(word, 'latin1')];
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

const CONTROL = 0x80;
const SYN_STREAM = 1;
const HEADERS = 8;
const FIN = 0x01;
/** A frame's length is 24 bits: at most 16 MiB is ever held for one. */
const HEADER_BYTES = 8;
/** Header blocks are re-inflated from the connection's start (they are a few hundred bytes). */
const MAX_HEADER_BLOCK_BYTES = 64 * 1024;

export interface SpdyHandlers {
  /** A stream the sender opened (SYN_STREAM), with its headers, names lower-case. */
  stream?(id: number, headers: Record<string, string>): void;
  /** A data frame's payload; `fin` when the sender half-closes the stream with it. */
  data(id: number, payload: Buffer, fin: boolean): void;
  /** The bytes cannot be read as SPDY/3: nothing more is handed on. */
  unreadable(reason: string): void;
}

/**
 * Reads SPDY/3.1 frames from one direction of a connection as they pass through (the
 * Kubernetes stream protocols over SPDY, as moby/spdystream writes them). It only watches: the
 * caller forwards the bytes untouched. Header blocks share one zlib context per direction,
 * primed with the SPDY dictionary, so every block is inflated in order; only streams the sender
 * opens are named, which is all a reader of exec needs (kubectl opens every stream).
 */
export class SpdyReader {
  readonly #on: SpdyHandlers;
  #buffered: Buffer = Buffer.alloc(0);
  #compressed: Buffer[] = [];
  #compressedBytes = 0;
  #inflated = 0;
  #broken = false;

  constructor(handlers: SpdyHandlers) {
    this.#on = handlers;
  }

  push(chunk: Buffer): void {
    if (this.#broken) return;
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    while (!this.#broken && this.#buffered.length >= HEADER_BYTES) {
      const b = this.#buffered;
      const length = b.readUInt32BE(4) & 0xffffff;
      if (b.length < HEADER_BYTES + length) return;
      const flags = b[4]!;
      const body = b.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.#buffered = b.subarray(HEADER_BYTES + length);
      if ((b[0]! & CONTROL) === 0) {
        this.#on.data(b.readUInt32BE(0) & 0x7fffffff, body, (flags & FIN) !== 0);
        continue;
      }
      if ((b.readUInt16BE(0) & 0x7fff) !== 3) return this.#fail('not SPDY version 3');
      const type = b.readUInt16BE(2);
      if (type === SYN_STREAM && body.length >= 10) {
        const headers = this.#headers(body.subarray(10));
        if (headers) this.#on.stream?.(body.readUInt32BE(0) & 0x7fffffff, headers);
      } else if (type === HEADERS && body.length >= 4) {
        // Later header blocks name nothing we need, but they move the zlib context on.
        this.#headers(body.subarray(4));
      }
      // SYN_REPLY's block is in the other direction's context; the rest carry no headers.
    }
  }

  #fail(reason: string): void {
    this.#broken = true;
    this.#buffered = Buffer.alloc(0);
    this.#compressed = [];
    this.#on.unreadable(reason);
  }

  /**
   * Decodes one header block. Node's zlib streams are asynchronous, so every block so far is
   * inflated again in one synchronous call and the new block's bytes are what is past the
   * previous ones: cheap for the few small blocks a stream protocol sends, and bounded.
   */
  #headers(block: Buffer): Record<string, string> | undefined {
    this.#compressedBytes += block.length;
    if (this.#compressedBytes > MAX_HEADER_BLOCK_BYTES) {
      this.#fail('more header blocks than a stream protocol sends');
      return undefined;
    }
    this.#compressed.push(block);
    let raw: Buffer;
    try {
      const all = inflateSync(Buffer.concat(this.#compressed), {
        dictionary: SPDY_DICTIONARY,
        finishFlush: constants.Z_SYNC_FLUSH,
      });
      raw = all.subarray(this.#inflated);
      this.#inflated = all.length;
    } catch (err) {
      this.#fail(`header block: ${(err as Error).message}`);
      return undefined;
    }
    const headers = parseHeaderBlock(raw);
    if (!headers) this.#fail('malformed header block');
    return headers;
  }
}

/** A decompressed name/value block: a count, then length-prefixed names and values. */
function parseHeaderBlock(raw: Buffer): Record<string, string> | undefined {
  if (raw.length < 4) return undefined;
  const headers: Record<string, string> = {};
  let at = 4;
  const field = (): string | undefined => {
    if (raw.length < at + 4) return undefined;
    const length = raw.readUInt32BE(at);
    if (raw.length < at + 4 + length) return undefined;
    const text = raw.subarray(at + 4, at + 4 + length).toString('latin1');
    at += 4 + length;
    return text;
  };
  for (let n = raw.readUInt32BE(0); n > 0; n--) {
    const name = field();
    const value = field();
    if (name === undefined || value === undefined) return undefined;
    // Several values of one name are joined by NUL bytes.
    headers[name.toLowerCase()] = value;
  }
  return headers;
}
