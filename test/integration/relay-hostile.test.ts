import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeMessage,
  frameMessage,
  lengthPrefix,
  type Message,
  PROTOCOL_VERSION,
} from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { heapAfterGc } from '../helpers/heap.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

/** Sends `bytes` on a fresh connection, then waits for the server to close it (or closes it after `ms`). */
function hit(port: number, bytes: Uint8Array[], ms = 300): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      for (const b of bytes) s.write(b);
    });
    s.on('data', () => {});
    s.on('error', () => {});
    const t = setTimeout(() => s.destroy(), ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

const framed = (m: Message) => frameMessage(encodeMessage(m));

// Messages a hostile client might send, valid or not for where they arrive.
const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    version: fc.integer({ min: 0, max: 4 }),
    role: fc.constantFrom('publisher' as const, 'viewer' as const, 'peer' as const),
    agent: fc.string({ maxLength: 10 }),
    token: fc.string({ maxLength: 10 }),
  }),
  fc
    .record({
      type: fc.constant('publish' as const),
      requestId: fc.nat(),
      room: fc.constantFrom('live', 'x', '', 'bad name'),
      name: fc.string({ maxLength: 8 }),
      video: fc.option(
        fc.record({
          codec: fc.constantFrom('vp8', ''),
          codedWidth: fc.nat(0xffff),
          codedHeight: fc.nat(0xffff),
        }),
        { nil: undefined },
      ),
      // Protocol v2: an audio track beside the video, or alone (a publish with neither is refused).
      audio: fc.option(
        fc.record({
          codec: fc.constantFrom('opus', 'mp4a.40.2', ''),
          sampleRate: fc.nat(),
          numberOfChannels: fc.nat(0xff),
        }),
        { nil: undefined },
      ),
    })
    .filter((m) => m.video !== undefined || m.audio !== undefined),
  fc.record({
    type: fc.constant('subscribe' as const),
    requestId: fc.nat(),
    room: fc.constantFrom('live', 'nosuch', ''),
    name: fc.constantFrom('', 'cam', 'nosuch'),
  }),
  fc.record({ type: fc.constant('unpublish' as const), streamId: fc.nat(10) }),
  fc.record({ type: fc.constant('keyframe-request' as const), streamId: fc.nat(10) }),
  fc.record({
    type: fc.constant('stream-removed' as const),
    streamId: fc.nat(10),
    reason: fc.constant('forged'),
  }),
  fc.nat(10).map((streamId) => testFrame(streamId, 0, true, 64)),
  fc
    .nat(10)
    .map((streamId) => ({ ...testFrame(streamId, 0, true, 64), track: 'audio' as const, audioLevel: 30 })),
  // Protocol v3: what the connection decodes, a codec switch of a stream (its own or not), and a
  // server-only message. Families outside a-z 0-9 cannot be encoded; the mutation below reaches those.
  fc.record({
    type: fc.constant('decoders' as const),
    codecs: fc.array(fc.constantFrom('avc1', 'vp8', 'vp09', 'av01', 'opus', 'x'), { maxLength: 16 }),
  }),
  fc.record({
    type: fc.constant('update' as const),
    requestId: fc.nat(),
    streamId: fc.nat(10),
    video: fc.option(
      fc.record({
        codec: fc.constantFrom('avc1.42e01f', 'vp8', ''),
        codedWidth: fc.nat(0xffff),
        codedHeight: fc.nat(0xffff),
      }),
      { nil: undefined },
    ),
    audio: fc.option(fc.constant({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 }), {
      nil: undefined,
    }),
  }),
  fc.record({
    type: fc.constant('room-codecs' as const),
    room: fc.constantFrom('live', 'x'),
    codecs: fc.option(fc.constant<string[]>(['vp8']), { nil: null }),
  }),
  fc.record({
    type: fc.constant('ping' as const),
    id: fc.nat(),
    time: fc.double({ noNaN: true, noDefaultInfinity: true }),
  }),
);

describe('hostile clients against a running server', { timeout: 120_000 }, () => {
  let server: RelayServer;
  let pub: WireClient;
  let viewer: WireClient;
  let streamId: number;
  let seq = 0;
  let timer: NodeJS.Timeout;

  before(async () => {
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      helloTimeoutMs: 1000,
      maxMessageBytes: 256 * 1024,
    });
    pub = await WireClient.hello(server.tcpPort, 'publisher');
    viewer = await WireClient.hello(server.tcpPort, 'viewer');
    streamId = await pub.publish('live', 'cam');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'live', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    timer = setInterval(() => {
      pub.send(testFrame(streamId, seq, seq % 15 === 0, 2000));
      seq++;
    }, 10);
  });
  after(async () => {
    clearInterval(timer);
    pub.close();
    viewer.close();
    await server.close();
  });

  it('survives random, mutated and out-of-order message sequences, a connection each', async () => {
    const baseline = heapAfterGc();
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyMessage, { minLength: 1, maxLength: 12 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))),
        async (messages, mutation) => {
          const bytes = messages.map(framed);
          if (mutation) {
            const [where, value] = mutation;
            const target = bytes[where % bytes.length] as Uint8Array;
            target[where % target.length] = value;
          }
          await hit(server.tcpPort, bytes, 150);
        },
      ),
      { numRuns: 150 },
    );
    // Huge length prefixes, a prefix cut short, and a body that never comes.
    await hit(server.tcpPort, [lengthPrefix(0xffffffff)]);
    await hit(server.tcpPort, [lengthPrefix(200 * 1024), new Uint8Array(1000)], 200);
    await hit(server.tcpPort, [new Uint8Array([0, 0])], 200);
    await viewer.until(() => server.stats().connections === 2, 10_000);
    // Nothing the hostile connections did is still held: state and heap are back where they were.
    assert.equal(server.stats().streams.length, 1);
    assert.deepEqual(
      server.stats().rooms.map((r) => r.name),
      ['live'],
    );
    const growth = heapAfterGc() - baseline;
    assert.ok(growth < 4 * 1024 * 1024, `heap grew by ${(growth / 1024).toFixed(0)} KiB`);
  });

  it('survives a slowloris (a byte every few hundred ms) without it holding more than its bytes', async () => {
    const slow = net.connect(server.tcpPort, '127.0.0.1');
    slow.on('error', () => {});
    // It reads what it is sent (the error, then the end), as any client does.
    slow.on('data', () => {});
    const hello = framed({
      type: 'hello',
      version: PROTOCOL_VERSION,
      role: 'viewer',
      agent: 'slow',
      token: '',
    });
    let i = 0;
    const closed = new Promise<void>((r) => slow.on('close', () => r()));
    const drip = setInterval(() => {
      if (i < hello.length) slow.write(hello.subarray(i, ++i));
    }, 200);
    // The hello timeout (1 s here) cuts it off long before it finishes its 30-odd bytes.
    await closed;
    clearInterval(drip);
    assert.ok(i < hello.length, `closed after ${i} of ${hello.length} bytes`);
  });

  it('survives thousands of connects and closes', async () => {
    const baseline = heapAfterGc();
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve) => {
              const s = net.connect(server.tcpPort, '127.0.0.1', () => s.destroy());
              s.on('error', () => {});
              s.on('close', () => resolve());
            }),
        ),
      );
    }
    await viewer.until(() => server.stats().connections === 2, 10_000);
    const growth = heapAfterGc() - baseline;
    assert.ok(
      growth < 4 * 1024 * 1024,
      `heap grew by ${(growth / 1024).toFixed(0)} KiB after 2000 connections`,
    );
  });

  it('left the live stream untouched: every frame, in order, nothing dropped', async () => {
    const before = seq;
    await viewer.until(() => viewer.frames(streamId).some((f) => f.seq >= before + 10), 10_000);
    const seqs = viewer.frames(streamId).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i),
    );
    assert.equal(server.stats().streams[0]?.viewers[0]?.framesDropped, 0);
  });
});
