import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { constants, createDeflate } from 'node:zlib';
import { ExecRecording, MAX_RECORDED_BYTES, spdyTaps, webSocketTaps } from './exec-recording.js';
import type { RecordingChunk } from './kube-audit.js';
import { SPDY_DICTIONARY, SpdyReader } from './spdy-frames.js';

// The readers of the two stream protocols, fed the way a network does: in pieces of any size.

/** One direction's SPDY frames, header blocks compressed in one context as spdystream does. */
function spdyWriter() {
  const deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  const compress = (raw: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const collect = (c: Buffer) => out.push(c);
      deflate.on('data', collect);
      deflate.write(raw);
      deflate.flush(constants.Z_SYNC_FLUSH, () => {
        deflate.off('data', collect);
        resolve(Buffer.concat(out));
      });
    });
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const frame = (first: number, flags: number, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(first >>> 0, 0);
    head.writeUInt32BE(((flags << 24) | body.length) >>> 0, 4);
    return Buffer.concat([head, body]);
  };
  return {
    async synStream(id: number, headers: Record<string, string>): Promise<Buffer> {
      const parts = [u32(Object.keys(headers).length)];
      for (const [name, value] of Object.entries(headers)) {
        parts.push(u32(name.length), Buffer.from(name), u32(value.length), Buffer.from(value));
      }
      const block = await compress(Buffer.concat(parts));
      const body = Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]);
      // A control frame: version 3, type 1 (SYN_STREAM).
      return frame(0x80030001, 0, body);
    },
    data(id: number, payload: string, fin = false): Buffer {
      return frame(id, fin ? 1 : 0, Buffer.from(payload));
    },
  };
}

/** Feeds `bytes` to `push` one byte at a time. */
function trickle(bytes: Buffer, push: (b: Buffer) => void): void {
  for (let i = 0; i < bytes.length; i++) push(bytes.subarray(i, i + 1));
}

function recorder() {
  const chunks: RecordingChunk[] = [];
  const recording = new ExecRecording(
    {
      id: '00000000-0000-4000-8000-000000000001',
      destination: 'prod',
      user: { username: 'alice@example.com', uid: 'u1' },
      namespace: 'web',
      pod: 'web-1',
      container: 'main',
      command: ['sh'],
      subresource: 'exec',
      recordStdin: false,
    },
    (c) => chunks.push(c),
  );
  const events = () =>
    chunks
      .map((c) => c.data)
      .join('')
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string]);
  return { recording, chunks, events };
}

describe('the SPDY reader', () => {
  it('uses the SPDY/3 dictionary, byte for byte', () => {
    const theirs = (
      createRequire(import.meta.url)(
        'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js',
      ) as Record<number, Buffer>
    )[3]!;
    assert.ok(SPDY_DICTIONARY.equals(theirs));
  });

  it('names streams from header blocks sharing one zlib context, whatever the chunking', async () => {
    const w = spdyWriter();
    const bytes = Buffer.concat([
      await w.synStream(1, { streamtype: 'error' }),
      await w.synStream(3, { streamtype: 'stdout' }),
      w.data(3, 'hello'),
      w.data(3, '', true),
    ]);
    const seen: string[] = [];
    const reader = new SpdyReader({
      stream: (id, headers) => seen.push(`stream ${id} ${headers.streamtype}`),
      data: (id, payload, fin) => seen.push(`data ${id} ${payload.toString()}${fin ? ' FIN' : ''}`),
      unreadable: (reason) => seen.push(`unreadable ${reason}`),
    });
    trickle(bytes, (b) => reader.push(b));
    assert.deepEqual(seen, ['stream 1 error', 'stream 3 stdout', 'data 3 hello', 'data 3  FIN']);
  });

  it('stops at bytes that are not SPDY/3, once', () => {
    const seen: string[] = [];
    const reader = new SpdyReader({
      data: () => seen.push('data'),
      unreadable: (reason) => seen.push(reason),
    });
    // A control frame of version 2, then a data frame that must not be read.
    reader.push(Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0]));
    reader.push(Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x41]));
    assert.deepEqual(seen, ['not SPDY version 3']);
  });

  it('stops at a header block that does not inflate', () => {
    const seen: string[] = [];
    const reader = new SpdyReader({ data: () => {}, unreadable: (r) => seen.push(r) });
    const body = Buffer.concat([Buffer.alloc(10), Buffer.from('not zlib at all')]);
    const head = Buffer.from([0x80, 0x03, 0, 1, 0, 0, 0, body.length]);
    reader.push(Buffer.concat([head, body]));
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /^header block:/);
  });
});

describe('recording an exec session', () => {
  it('over SPDY: output, a resize and the Status, each split across frames', async () => {
    const client = spdyWriter();
    const server = spdyWriter();
    const { recording, events, chunks } = recorder();
    const taps = spdyTaps(recording);
    const opened = Buffer.concat([
      await client.synStream(1, { streamtype: 'error' }),
      await client.synStream(3, { streamtype: 'stdin' }),
      await client.synStream(5, { streamtype: 'stdout' }),
      await client.synStream(7, { streamtype: 'resize' }),
    ]);
    trickle(opened, taps.fromClient);
    taps.fromClient(client.data(3, 'typed secret\n'));
    taps.fromClient(client.data(7, '{"Width":100,'));
    taps.fromClient(client.data(7, '"Height":30}\n{"Width":120,"Height":40}\n'));
    trickle(server.data(5, 'héllo\n'), taps.fromServer);
    taps.fromServer(server.data(1, '{"metadata":{},"status":"Fail'));
    taps.fromServer(
      server.data(
        1,
        'ure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
        true,
      ),
    );
    taps.end();
    assert.deepEqual(
      events().map((e) => e.slice(1)),
      [
        ['r', '100x30'],
        ['r', '120x40'],
        ['o', 'héllo\n'],
        ['m', 'exit status 3'],
      ],
    );
    assert.equal(chunks.at(-1)?.recording.exitCode, 3);
  });

  it('over a WebSocket: a message too large to hold stops the recording, not the session', () => {
    const { recording, events } = recorder();
    const taps = webSocketTaps(recording);
    // An unmasked binary frame from the server: channel 1, "before".
    taps.fromServer(Buffer.from([0x82, 7, 1, ...Buffer.from('before')]));
    // A frame that claims 32 MiB.
    const huge = Buffer.alloc(10);
    huge[0] = 0x82;
    huge[1] = 127;
    huge.writeBigUInt64BE(32n * 1024n * 1024n, 2);
    taps.fromServer(huge);
    taps.fromServer(Buffer.from([0x82, 6, 1, ...Buffer.from('after')]));
    taps.end();
    assert.deepEqual(
      events().map((e) => e.slice(1)),
      [
        ['o', 'before'],
        ['m', 'recording stopped: a message of more than 16777216 bytes'],
      ],
    );
  });

  it('keeps at most MAX_RECORDED_BYTES of a session, then its exit status', () => {
    const { recording, events, chunks } = recorder();
    const mib = Buffer.alloc(1024 * 1024, 'a');
    // Typed input that is not recorded does not count.
    for (let i = 0; i <= MAX_RECORDED_BYTES / mib.length; i++) recording.message(0, mib);
    for (let i = 0; i <= MAX_RECORDED_BYTES / mib.length; i++) recording.message(1, mib);
    recording.message(3, Buffer.from('{"metadata":{},"status":"Success"}'));
    recording.end();
    const all = events();
    const output = all.filter((e) => e[1] === 'o').reduce((n, e) => n + e[2].length, 0);
    assert.equal(output, MAX_RECORDED_BYTES);
    assert.deepEqual(
      all.slice(-2).map((e) => e.slice(1)),
      [
        ['m', 'recording stopped: more than 64 MiB recorded; the rest is left out'],
        ['m', 'exit status 0'],
      ],
    );
    assert.equal(chunks.at(-1)?.recording.exitCode, 0);
  });
});
