// Unit tests for the GOP cache (src/server/core/gop-cache.ts) and for how a late joiner is started on
// it through Stream.catchUp and the viewer queue: the "late joiners" rule of docs/architecture.md. No
// sockets: a FakeTransport records what a joiner would receive.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage,
  encodeMessage,
  FRAME_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
} from '../../src/protocol/index.js';
import { Connection } from '../../src/server/core/connection.js';
import { GopCache } from '../../src/server/core/gop-cache.js';
import { Room } from '../../src/server/core/room.js';
import { type Publisher, Stream } from '../../src/server/core/stream.js';
import { Subscription } from '../../src/server/core/subscription.js';
import { TickBatcher } from '../../src/server/core/tick-batcher.js';
import { Totals } from '../../src/server/core/totals.js';
import { type Outgoing, outgoing } from '../../src/server/core/transport.js';
import type { FrameSink } from '../../src/server/core/viewer-queue.js';
import { drainAll, FakeTransport, TRANSPORT_HIGH_WATER } from '../helpers/fake-transport.js';

/** Bytes a frame message adds to its payload on the wire (length prefix plus frame header). */
const FRAME_OVERHEAD = LENGTH_PREFIX_BYTES + FRAME_HEADER_BYTES;
const FRAME = 1000;

/** A frame message of `framedBytes` bytes on the wire (prefix included). */
function frame(seq: number, key: boolean, framedBytes = FRAME, streamId = 1): Outgoing {
  const payload = new Uint8Array(framedBytes - FRAME_OVERHEAD);
  const m = outgoing(
    encodeMessage({ type: 'frame', streamId, key, seq, timestamp: seq, captureTime: 0, payload }),
  );
  assert.equal(m.framed.length, framedBytes);
  return m;
}

/** Seq and key flag of each frame a cache snapshot holds, decoded from the bytes it would send. */
function cached(gop: GopCache): { seq: number; key: boolean }[] {
  return gop.snapshot.map((m) => {
    const f = decodeMessage(m.body);
    assert.ok(f.type === 'frame', `cached a ${f.type}`);
    return { seq: f.seq, key: f.key };
  });
}

/** Seqs of the frames a cache snapshot holds, in the order a joiner would get them. */
function cachedSeqs(gop: GopCache): number[] {
  return cached(gop).map((f) => f.seq);
}

/** Adds frames to `gop` from a compact script: 'K' keyframe, 'd' delta, each of FRAME bytes; seqs from 0. */
function feed(gop: GopCache, script: string, firstSeq = 0): void {
  [...script].forEach((c, i) => {
    gop.add(frame(firstSeq + i, c === 'K'), c === 'K');
  });
}

describe('GopCache', () => {
  test('late joiners get the keyframe first, then the deltas since, and the cache knows its size', () => {
    const gop = new GopCache(64 * 1024);
    feed(gop, 'Kddd');
    assert.deepEqual(cached(gop), [
      { seq: 0, key: true },
      { seq: 1, key: false },
      { seq: 2, key: false },
      { seq: 3, key: false },
    ]);
    assert.equal(gop.byteLength, 4 * FRAME);
  });

  test('a new keyframe starts a new GOP: the old one is forgotten', () => {
    const gop = new GopCache(64 * 1024);
    feed(gop, 'KddKd');
    assert.deepEqual(cachedSeqs(gop), [3, 4]);
    assert.equal(gop.byteLength, 2 * FRAME);
  });

  test('a GOP outgrowing maxBytes is dropped whole, and caching resumes only at the next keyframe', () => {
    const gop = new GopCache(5 * FRAME);
    feed(gop, 'Kdddd');
    assert.equal(gop.snapshot.length, 5, 'a GOP of exactly maxBytes fits');
    feed(gop, 'd', 5);
    assert.deepEqual(gop.snapshot, [], 'a partial GOP is useless: nothing is kept');
    assert.equal(gop.byteLength, 0);
    // Deltas after the overflow must not be cached: without their keyframe they cannot be decoded.
    feed(gop, 'dd', 6);
    assert.deepEqual(gop.snapshot, []);
    feed(gop, 'Kd', 8);
    assert.deepEqual(cachedSeqs(gop), [8, 9]);
  });

  test('a keyframe alone larger than the bound is not cached, nor the deltas after it', () => {
    const gop = new GopCache(5 * FRAME);
    gop.add(frame(0, true, 5 * FRAME + 1), true);
    assert.deepEqual(gop.snapshot, []);
    assert.equal(gop.byteLength, 0);
    feed(gop, 'dd', 1);
    assert.deepEqual(gop.snapshot, []);
    feed(gop, 'Kd', 3);
    assert.deepEqual(cachedSeqs(gop), [3, 4]);
  });

  test('deltas before any keyframe are ignored', () => {
    const gop = new GopCache(64 * 1024);
    feed(gop, 'ddd');
    assert.deepEqual(gop.snapshot, []);
    assert.equal(gop.byteLength, 0);
    feed(gop, 'Kd', 3);
    assert.deepEqual(cachedSeqs(gop), [3, 4]);
  });

  test('clear() empties the cache, and the deltas after it wait for a keyframe', () => {
    const gop = new GopCache(64 * 1024);
    feed(gop, 'Kdd');
    gop.clear();
    assert.deepEqual(gop.snapshot, []);
    assert.equal(gop.byteLength, 0);
    feed(gop, 'd', 3);
    assert.deepEqual(gop.snapshot, []);
  });

  test('property: the snapshot is always empty or the whole current GOP, within the bound', () => {
    const step = fc.record({
      key: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      size: fc.integer({ min: FRAME_OVERHEAD + 1, max: 4000 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12_000 }),
        fc.array(step, { maxLength: 80 }),
        (maxBytes, steps) => {
          const gop = new GopCache(maxBytes);
          // Reference model: the frames since the last keyframe, or none once they outgrew the bound.
          let model: { seq: number; size: number }[] = [];
          let overflowed = true; // no keyframe yet
          steps.forEach(({ key, size }, seq) => {
            gop.add(frame(seq, key, size), key);
            if (key) {
              model = [{ seq, size }];
              overflowed = false;
            } else if (!overflowed) {
              model.push({ seq, size });
            }
            const bytes = model.reduce((n, f) => n + f.size, 0);
            if (bytes > maxBytes) overflowed = true;
            const expected = overflowed ? [] : model.map((f) => f.seq);
            assert.deepEqual(cachedSeqs(gop), expected);
            assert.equal(gop.byteLength, overflowed ? 0 : bytes);
            assert.ok(gop.byteLength <= maxBytes, `${gop.byteLength} > ${maxBytes}`);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('late joiner through the Stream: catchUp offers the cached GOP keyframe-first', () => {
  const MAX_BYTES = 256 * 1024;

  /** A stream with a stub publisher (this file does not test keyframe requests: the relay makes those). */
  function makeStream(gopCacheBytes = 8 * 1024 * 1024) {
    const publisher: Publisher = { published: new Map(), send() {} };
    const totals = new Totals();
    const config = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };
    const stream = new Stream(
      1,
      new Room('lobby'),
      'cam',
      { video: config },
      publisher,
      gopCacheBytes,
      1e12,
      totals,
    );
    let seq = 0;
    /** Relays the publisher's next frame (seqs count up from 0); returns its seq. */
    const relay = (key: boolean, framedBytes = FRAME): number => {
      const s = seq++;
      stream.relay(frame(s, key, framedBytes), key, performance.now());
      return s;
    };
    return { stream, relay, totals };
  }

  /** A viewer connection over a fake transport, subscribed to `stream` as the relay does on subscribe. */
  function join(stream: Stream, totals: Totals) {
    const transport = new FakeTransport();
    const skips: FrameSink[] = [];
    const conn = new Connection(7, transport, { maxBytes: MAX_BYTES, maxAgeMs: 500, probes: false }, totals, {
      onSkip: (sink) => skips.push(sink),
      onLinkState: () => {},
      onFail: () => assert.fail('the joiner was cut off'),
      batcher: new TickBatcher(),
    });
    const sub = new Subscription(conn, stream); // joins the stream and the connection itself
    const added = stream.addedFor(conn);
    assert.ok(added);
    assert.equal(conn.queue.sendControl(added), true);
    stream.catchUp(sub, performance.now());
    /** Seqs of the frames written to this viewer. */
    const seqs = () => transport.frames().map((f) => f.seq);
    return { transport, conn, sub, skips, seqs };
  }

  test('a new viewer gets stream-added, then the cached keyframe and deltas at once, then live frames', () => {
    const { stream, relay, totals } = makeStream();
    relay(false); // before the publisher's first keyframe: not cached
    relay(true);
    relay(false);
    relay(false);
    const v = join(stream, totals);
    assert.deepEqual(
      v.transport.messages().map((m) => m.type),
      ['stream-added', 'frame', 'frame', 'frame'],
    );
    assert.deepEqual(
      v.transport.frames().map((f) => [f.seq, f.key]),
      [
        [1, true],
        [2, false],
        [3, false],
      ],
    );
    assert.equal(v.sub.needsKey, false, 'the cached keyframe satisfied it');
    const live = relay(false);
    assert.deepEqual(v.seqs(), [1, 2, 3, live]);
    assert.equal(v.sub.framesSent, 4);
    assert.deepEqual(v.skips, []);
  });

  test('with no GOP cached the joiner gets no frames, and waits for the next keyframe without breaking', () => {
    const { stream, relay, totals } = makeStream(3 * FRAME);
    relay(true);
    relay(false);
    relay(false);
    relay(false); // the GOP outgrew the cache: nothing to offer
    const v = join(stream, totals);
    assert.deepEqual(v.seqs(), []);
    relay(false);
    assert.deepEqual(v.seqs(), [], 'a delta without its keyframe is useless');
    const k = relay(true);
    relay(false);
    assert.deepEqual(v.seqs(), [k, k + 1]);
  });

  test('a cached GOP larger than the viewer queue gives a decodable prefix, then the joiner waits for a keyframe', () => {
    // catchUp offers the whole GOP in one go, so the transport cannot drain in between: the queue's bound
    // applies to the burst. What gets through must still start on the keyframe and be contiguous.
    const BIG = 16 * 1024;
    const { stream, relay, totals } = makeStream();
    relay(true, BIG);
    for (let i = 0; i < 39; i++) relay(false, BIG);
    assert.equal(stream.gop.snapshot.length, 40);
    const v = join(stream, totals);
    let got = v.seqs();
    assert.ok(got.length > 0 && got.length < 40, `got ${got.length} of the 40 cached frames`);
    assert.deepEqual(
      got,
      Array.from({ length: got.length }, (_, i) => i),
    );
    // Drain what was queued: it either went out contiguously or was shed; the viewer now waits.
    drainAll(v.transport, v.conn.queue);
    got = v.seqs();
    assert.deepEqual(
      got,
      Array.from({ length: got.length }, (_, i) => i),
    );
    assert.ok(got.length * BIG <= TRANSPORT_HIGH_WATER + MAX_BYTES, `${got.length} frames went out`);
    assert.equal(v.sub.needsKey, true);
    assert.deepEqual(new Set(v.skips), new Set([v.sub]), 'the relay is told, so it can request a keyframe');
    const k = relay(true, BIG);
    assert.deepEqual(v.seqs().slice(-1), [k]);
  });
});
