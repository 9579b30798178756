import { StringDecoder } from 'node:string_decoder';
import type { RecordingChunk } from './kube-audit.js';
import { SpdyReader } from './spdy-frames.js';
import { WebSocketReader } from './websocket-frames.js';

/** The stream channels of Kubernetes' remote command protocols. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
/** The command's end: a metav1.Status. */
const STATUS = 3;
const RESIZE = 4;

/** A chunk is sent once this much asciicast has accumulated, or every few seconds. */
const CHUNK_BYTES = 64 * 1024;
/**
 * What one recording keeps of a session's terminal. A session that streams more (`kubectl cp`, a
 * `cat` of a large file) is a transfer, not a terminal: the rest is left out, with a marker.
 */
export const MAX_RECORDED_BYTES = 64 * 1024 * 1024;
const CHUNK_MS = 5000;

export interface SessionFacts {
  id: string;
  destination: string;
  user: { username: string; uid: string };
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  subresource: 'exec' | 'attach';
  recordStdin: boolean;
}

/**
 * The exit status in the Status a command's end sends on channel 3: 0 for Success, the code of
 * a NonZeroExitCode failure, undefined for anything else (the command could not run).
 */
export function exitCodeOf(status: string): number | undefined {
  try {
    const s = JSON.parse(status) as {
      status?: string;
      details?: { causes?: Array<{ reason?: string; message?: string }> };
    };
    if (s.status === 'Success') return 0;
    const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
    return cause && /^\d+$/.test(cause.message ?? '') ? Number(cause.message) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One exec or attach session as an asciicast v2 recording: a header (terminal size, who ran
 * what, where), then `[seconds, "o", text]` for output (stdout and stderr), `"r"` for resizes,
 * `"i"` for input when the destination records it, and a marker with the exit status. It is
 * handed on in chunks as it grows, so a long session is stored as it goes.
 */
export class ExecRecording {
  readonly #facts: SessionFacts;
  readonly #send: (chunk: RecordingChunk) => void;
  readonly #startedAt = Date.now();
  readonly #decoders = new Map<number, StringDecoder>();
  #size: { width: number; height: number } | undefined;
  #lines: string[] = [];
  #bytes = 0;
  #seq = 0;
  #headerWritten = false;
  #exitCode: number | undefined;
  #ended = false;
  /** The recording stopped: the session goes on, unrecorded from then on. */
  #lost = false;
  /** Bytes of terminal data seen so far. */
  #recorded = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(facts: SessionFacts, send: (chunk: RecordingChunk) => void) {
    this.#facts = facts;
    this.#send = send;
    this.#timer = setInterval(() => this.#flush(false), CHUNK_MS);
    this.#timer.unref();
  }

  /** A message on one of the protocol's channels, from the client or from the pod. */
  message(channel: number, data: Buffer): void {
    if (this.#ended) return;
    // The command's exit status is kept even when its output no longer is.
    if (channel === STATUS) {
      this.#exitCode = exitCodeOf(data.toString('utf8'));
      return;
    }
    if (this.#lost) return;
    const kept =
      channel === STDOUT || channel === STDERR || (channel === STDIN && this.#facts.recordStdin);
    if (kept && (this.#recorded += data.length) > MAX_RECORDED_BYTES) {
      this.stop(`more than ${MAX_RECORDED_BYTES / 1024 / 1024} MiB recorded; the rest is left out`);
      return;
    }
    switch (channel) {
      case STDIN:
        if (kept) this.#event('i', this.#decode(channel, data));
        return;
      case STDOUT:
      case STDERR:
        this.#event('o', this.#decode(channel, data));
        return;
      case RESIZE: {
        const size = parseSize(data.toString('utf8'));
        if (!size) return;
        this.#size = size;
        this.#event('r', `${size.width}x${size.height}`);
      }
    }
  }

  /**
   * The recording says why it stops (the protocol's bytes stopped making sense, or too much was
   * recorded) and keeps nothing more but the exit status; the session itself goes on.
   */
  stop(reason: string): void {
    if (this.#ended || this.#lost) return;
    this.#event('m', `recording stopped: ${reason}`);
    this.#lost = true;
  }

  /** The session is over: the last chunk goes out with its end time and exit status. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#timer);
    if (this.#exitCode !== undefined) this.#event('m', `exit status ${this.#exitCode}`, true);
    this.#flush(true);
  }

  #decode(channel: number, data: Buffer): string {
    let decoder = this.#decoders.get(channel);
    if (!decoder) this.#decoders.set(channel, (decoder = new StringDecoder('utf8')));
    return decoder.write(data);
  }

  #event(code: string, text: string, force = false): void {
    if (text === '' || (this.#ended && !force)) return;
    const seconds = (Date.now() - this.#startedAt) / 1000;
    const line = `${JSON.stringify([seconds, code, text])}\n`;
    this.#lines.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= CHUNK_BYTES) this.#flush(false);
  }

  #header(): string {
    const f = this.#facts;
    const header = {
      version: 2,
      width: this.#size?.width ?? 80,
      height: this.#size?.height ?? 24,
      timestamp: Math.floor(this.#startedAt / 1000),
      command: f.command.join(' '),
      title: `${f.user.username} ${f.subresource} ${f.namespace}/${f.pod}${f.container ? ` (${f.container})` : ''} on ${f.destination}`,
      infra: {
        user: f.user.username,
        destination: f.destination,
        namespace: f.namespace,
        pod: f.pod,
        container: f.container,
        command: f.command,
        subresource: f.subresource,
      },
    };
    return `${JSON.stringify(header)}\n`;
  }

  #flush(final: boolean): void {
    if (this.#lines.length === 0 && this.#headerWritten && !final) return;
    let data = this.#lines.join('');
    if (!this.#headerWritten) {
      data = this.#header() + data;
      this.#headerWritten = true;
    }
    this.#lines = [];
    this.#bytes = 0;
    const f = this.#facts;
    this.#send({
      id: f.id,
      seq: this.#seq++,
      data,
      recording: {
        user: f.user,
        namespace: f.namespace,
        pod: f.pod,
        container: f.container,
        command: f.command,
        subresource: f.subresource,
        stdinRecorded: f.recordStdin,
        startedAt: new Date(this.#startedAt).toISOString(),
        ...(final && {
          endedAt: new Date().toISOString(),
          ...(this.#exitCode !== undefined && { exitCode: this.#exitCode }),
        }),
      },
    });
  }
}

function parseSize(text: string): { width: number; height: number } | undefined {
  try {
    const s = JSON.parse(text) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 10_000;
    return ok(s.Width) && ok(s.Height)
      ? { width: s.Width as number, height: s.Height as number }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Both directions of a recorded connection, as they pass through, and its end. */
export interface SessionTaps {
  fromClient(chunk: Buffer): void;
  fromServer(chunk: Buffer): void;
  end(): void;
}

/**
 * The remote command protocol versions the connector reads: as WebSocket subprotocols their
 * messages are `<channel byte><data>`; over SPDY each channel is a stream.
 */
export const CHANNEL_PROTOCOLS = new Set([
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
]);

/**
 * Taps both directions of a WebSocket exec or attach connection for `recording`: bytes from
 * the client (after the request) and from the kube-apiserver (after its 101 answer).
 */
export function webSocketTaps(recording: ExecRecording): SessionTaps {
  const onMessage = (m: Buffer) => {
    // v5: channel 255 is a control message (close a stream), not data.
    if (m.length > 0 && m[0] !== 255) recording.message(m[0]!, m.subarray(1));
  };
  const unreadable = (reason: string) => recording.stop(reason);
  const client = new WebSocketReader(onMessage, unreadable);
  const server = new WebSocketReader(onMessage, unreadable);
  return {
    fromClient: (c) => client.push(c),
    fromServer: (c) => server.push(c),
    end: () => recording.end(),
  };
}

const STREAM_CHANNELS = new Map([
  ['stdin', STDIN],
  ['stdout', STDOUT],
  ['stderr', STDERR],
  ['error', STATUS],
  ['resize', RESIZE],
]);

/**
 * Taps both directions of a SPDY exec or attach connection for `recording`. kubectl opens one
 * stream per channel, named by its `streamtype` header. The error stream's Status and the
 * resize stream's sizes (one JSON object per line) may span data frames, so they are put
 * together before they are read.
 */
export function spdyTaps(recording: ExecRecording): SessionTaps {
  const channels = new Map<number, number>();
  let status = '';
  let statusRead = false;
  let sizes = '';
  const readStatus = () => {
    if (statusRead || status === '') return;
    statusRead = true;
    recording.message(STATUS, Buffer.from(status));
  };
  const data = (id: number, payload: Buffer, fin: boolean) => {
    const channel = channels.get(id);
    if (channel === STATUS) {
      // A Status is a few hundred bytes; a longer one is not a Status.
      if (status.length < 65_536) status += payload.toString('utf8');
      if (fin) readStatus();
    } else if (channel === RESIZE) {
      sizes += payload.toString('utf8');
      const lines = sizes.split('\n');
      sizes = lines.pop()!.slice(0, 4096);
      for (const line of lines) if (line.trim()) recording.message(RESIZE, Buffer.from(line));
    } else if (channel !== undefined && payload.length > 0) {
      recording.message(channel, payload);
    }
  };
  const unreadable = (reason: string) => recording.stop(reason);
  const client = new SpdyReader({
    stream(id, headers) {
      const channel = STREAM_CHANNELS.get(headers.streamtype ?? '');
      if (channel !== undefined) channels.set(id, channel);
    },
    data,
    unreadable,
  });
  const server = new SpdyReader({ data, unreadable });
  return {
    fromClient: (c) => client.push(c),
    fromServer: (c) => server.push(c),
    end() {
      readStatus();
      recording.end();
    },
  };
}
