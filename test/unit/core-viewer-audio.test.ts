// Unit tests for the drop policy's audio rules (src/server/core/viewer-queue.ts, docs/architecture.md
// "Audio in the drop policy") and for the audio the GOP cache keeps. A FakeTransport stands in for the
// socket: the test decides when the peer reads and checks what was written; time is passed explicitly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeMessage,
  encodeMessage,
  type FrameMessage,
  type PingMessage,
} from '../../src/protocol/index.js';
import { GopCache } from '../../src/server/core/gop-cache.js';
import { Totals } from '../../src/server/core/totals.js';
import { type Outgoing, outgoing } from '../../src/server/core/transport.js';
import { type FrameSink, type QueueLimits, ViewerQueue } from '../../src/server/core/viewer-queue.js';
import { drainAll, FakeTransport, TRANSPORT_HIGH_WATER } from '../helpers/fake-transport.js';

const MAX_BYTES = 256 * 1024;
const MAX_AGE_MS = 500;
const T0 = Math.floor(performance.now());
/** A video frame big enough that a few fill the bytes bound. */
const VIDEO_BYTES = 16 * 1024;

function video(seq: number, key: boolean, bytes = VIDEO_BYTES): Outgoing {
  const payload = new Uint8Array(bytes - 30);
  return outgoing(
    encodeMessage({ type: 'frame', streamId: 1, key, seq, timestamp: seq, captureTime: 0, payload }),
  );
}

/** A 20 ms Opus-sized audio frame of stream 1, as the relay marks it (Outgoing.audio). */
function audio(seq: number): Outgoing {
  const m = encodeMessage({
    type: 'frame',
    streamId: 1,
    key: true,
    track: 'audio',
    audioLevel: 40,
    seq,
    timestamp: seq * 20_000,
    captureTime: 0,
    payload: new Uint8Array(80),
  });
  return outgoing(m, true);
}

function newSink(): FrameSink {
  return { needsKey: true, framesSent: 0, framesDropped: 0, audioDropped: 0 };
}

function setup(limits: Partial<QueueLimits> = {}) {
  const transport = new FakeTransport();
  const skips: FrameSink[] = [];
  const queue = new ViewerQueue(
    transport,
    { maxBytes: MAX_BYTES, maxAgeMs: MAX_AGE_MS, probes: false, ...limits },
    new Totals(),
    { onSkip: (sink) => skips.push(sink), onLinkState: () => {} },
    null,
    T0,
  );
  return { transport, queue, skips, sink: newSink() };
}

/** The frames written, as `v<seq>` (video) and `a<seq>` (audio), in write order. */
function written(transport: FakeTransport): string[] {
  return transport.frames().map((f) => `${f.track === 'audio' ? 'a' : 'v'}${f.seq}`);
}

describe('audio in the drop policy', () => {
  test('shedding video to a keyframe never drops the audio queued beside it', () => {
    const { transport, queue, sink, skips } = setup();
    queue.offerFrame(sink, video(0, true), true, T0);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER; // the peer stops reading
    let a = 0;
    // Video deltas and audio interleaved until the video passes the bytes bound.
    for (let v = 1; v <= 20; v++) {
      queue.offerFrame(sink, video(v, false), false, T0 + v);
      queue.offerFrame(sink, audio(a++), true, T0 + v);
    }
    assert.ok(skips.length > 0, 'the video was shed and skipped to a keyframe');
    assert.equal(sink.audioDropped, 0);
    drainAll(transport, queue);
    const audioSeqs = transport
      .frames()
      .filter((f) => f.track === 'audio')
      .map((f) => f.seq);
    assert.deepStrictEqual(
      audioSeqs,
      Array.from({ length: a }, (_, i) => i),
      'every audio frame, in order',
    );
  });

  test('audio flows while the video waits for its next keyframe', () => {
    const { transport, queue, sink } = setup();
    queue.offerFrame(sink, video(0, false), false, T0); // a joiner without a keyframe: dropped
    queue.offerFrame(sink, audio(0), true, T0);
    queue.offerFrame(sink, video(1, false), false, T0 + 1);
    queue.offerFrame(sink, audio(1), true, T0 + 20);
    queue.offerFrame(sink, video(2, true), true, T0 + 33);
    assert.deepStrictEqual(written(transport), ['a0', 'a1', 'v2']);
    assert.equal(sink.framesDropped, 2);
    assert.equal(sink.audioDropped, 0);
  });

  test('queued audio older than the age bound is cut to the live edge, and what follows plays on', () => {
    const { transport, queue, sink } = setup();
    transport.bufferedBytes = TRANSPORT_HIGH_WATER; // stalled: everything queues with us
    for (let i = 0; i <= 25; i++) queue.offerFrame(sink, audio(i), true, T0 + i * 20); // 0..500 ms
    assert.equal(sink.audioDropped, 0, 'exactly at the bound nothing is cut');
    queue.offerFrame(sink, audio(26), true, T0 + 520); // the oldest is now 520 ms old
    assert.equal(sink.audioDropped, 26, 'everything older goes at once');
    queue.offerFrame(sink, audio(27), true, T0 + 540);
    drainAll(transport, queue);
    assert.deepStrictEqual(written(transport), ['a26', 'a27']);
  });

  test('control messages queued among audio survive an audio cut', () => {
    const { transport, queue, sink } = setup();
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    queue.offerFrame(sink, audio(0), true, T0);
    assert.ok(
      queue.sendControl(outgoing(encodeMessage({ type: 'stream-removed', streamId: 9, reason: 'x' }))),
    );
    queue.offerFrame(sink, audio(1), true, T0 + 600);
    drainAll(transport, queue);
    const kinds = transport.messages().map((m) => (m.type === 'frame' ? `a${m.seq}` : m.type));
    assert.deepStrictEqual(kinds, ['stream-removed', 'a1']);
  });

  test('past four bounds of measured backlog audio waits, and resumes once the backlog is within the bound', () => {
    const { transport, queue, sink } = setup({ probes: true, maxBytes: 64 * 1024 * 1024 });
    // A viewer that has stopped reading: the kernel takes every byte (bufferedBytes stays 0), no pong comes.
    let a = 0;
    const offerAt = (ms: number) => {
      transport.bufferedBytes = 0;
      queue.offerFrame(sink, audio(a++), true, T0 + ms);
    };
    for (let ms = 0; ms <= 2000; ms += 20) offerAt(ms);
    assert.equal(sink.audioDropped, 0, 'up to four bounds audio still goes (video would have stopped)');
    for (let ms = 2020; ms <= 2400; ms += 20) offerAt(ms);
    assert.equal(sink.audioDropped, 20, 'past it every audio frame waits');
    // The viewer reads everything at 2400 ms and answers every probe: the backlog is gone.
    const pings = transport.messages().filter((m): m is PingMessage => m.type === 'ping');
    assert.ok(pings.length > 0, 'probes were written in line with the audio');
    queue.onPong((pings.at(-1) as PingMessage).id, T0 + 2400);
    const before = transport.frames().length;
    offerAt(2420);
    assert.equal(transport.frames().length, before + 1, 'audio flows again at once');
    assert.equal(sink.audioDropped, 20);
  });

  test('a v1 viewer gets no audio frame, neither live nor from a joiner’s catch-up', () => {
    const { transport, queue, sink } = setup({ probes: true });
    queue.audio = false;
    queue.catchUp(sink, [video(0, true, 1000), audio(0), video(1, false, 1000), audio(1)], T0);
    queue.offerFrame(sink, audio(2), true, T0 + 20);
    queue.offerFrame(sink, video(2, false, 1000), false, T0 + 33);
    // The catch-up may wait for a probe's answer: answer it so everything held goes out.
    for (const m of transport.messages()) if (m.type === 'ping') queue.onPong(m.id, T0 + 40);
    drainAll(transport, queue);
    assert.deepStrictEqual(written(transport), ['v0', 'v1', 'v2']);
    assert.equal(sink.audioDropped, 0, 'not sent is not dropped: the viewer cannot take audio');
  });

  test('a joiner gets the cached keyframe, then the audio and deltas since it, in their order', () => {
    const { transport, queue, sink } = setup();
    queue.catchUp(sink, [video(0, true), audio(0), video(1, false), audio(1), audio(2), video(2, false)], T0);
    drainAll(transport, queue);
    assert.deepStrictEqual(written(transport), ['v0', 'a0', 'v1', 'a1', 'a2', 'v2']);
  });
});

describe('the GOP cache keeps the audio since its keyframe', () => {
  const kinds = (gop: readonly Outgoing[]) =>
    gop.map((o) => {
      const m = decodeFrame(o);
      return `${o.audio ? 'a' : 'v'}${m.seq}`;
    });

  test('audio before the first keyframe is not kept; after it, in order; a new keyframe starts over', () => {
    const gop = new GopCache(1024 * 1024);
    gop.add(audio(0), true);
    gop.add(video(0, true, 1000), true);
    gop.add(audio(1), true);
    gop.add(video(1, false, 1000), false);
    gop.add(audio(2), true);
    assert.deepStrictEqual(kinds(gop.snapshot), ['v0', 'a1', 'v1', 'a2']);
    gop.add(video(2, true, 1000), true);
    assert.deepStrictEqual(kinds(gop.snapshot), ['v2']);
  });

  test('audio counts against the byte bound like video: a GOP that outgrows it is dropped whole', () => {
    const one = audio(0).framed.length;
    const gop = new GopCache(1000 + 3 * one);
    gop.add(video(0, true, 1000), true);
    for (let i = 1; i <= 3; i++) gop.add(audio(i), true);
    assert.equal(gop.snapshot.length, 4);
    gop.add(audio(4), true);
    assert.equal(gop.snapshot.length, 0);
  });

  test('an audio-only stream caches nothing (any audio frame is a starting point)', () => {
    const gop = new GopCache(1024 * 1024);
    for (let i = 0; i < 10; i++) gop.add(audio(i), true);
    assert.equal(gop.snapshot.length, 0);
  });
});

function decodeFrame(o: Outgoing): FrameMessage {
  const m = decodeMessage(o.body);
  assert.equal(m.type, 'frame');
  return m as FrameMessage;
}
