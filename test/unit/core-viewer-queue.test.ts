// Unit tests for the relay's drop policy (src/server/core/viewer-queue.ts), one group per rule of
// docs/architecture.md "Why the queue policy is what it is". A FakeTransport stands in for the socket:
// the test decides when the peer reads (bufferedBytes, drain) and checks what was written, so nothing
// here depends on socket timing. `now` is passed to offerFrame explicitly, so age needs no real time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  encodeMessage,
  FRAME_HEADER_BYTES,
  type FrameMessage,
  LENGTH_PREFIX_BYTES,
} from '../../src/protocol/index.js';
import { TickBatcher } from '../../src/server/core/tick-batcher.js';
import { Totals } from '../../src/server/core/totals.js';
import { type Outgoing, outgoing } from '../../src/server/core/transport.js';
import { type FrameSink, type QueueLimits, ViewerQueue } from '../../src/server/core/viewer-queue.js';
import { drainAll, FakeTransport, TRANSPORT_HIGH_WATER } from '../helpers/fake-transport.js';

/** Mirrors CONTROL_SLACK_BYTES in viewer-queue.ts (not exported): control messages may exceed the bound by this. */
const CONTROL_SLACK_BYTES = 256 * 1024;
const MAX_BYTES = 256 * 1024;
const MAX_AGE_MS = 500;
/** Bytes a frame message adds to its payload on the wire (length prefix plus frame header). */
const FRAME_OVERHEAD = LENGTH_PREFIX_BYTES + FRAME_HEADER_BYTES;
/** A frame size that divides the room between the high-water mark and the bound evenly (12 frames). */
const FRAME = 16 * 1024;
const ROOM_FRAMES = (MAX_BYTES - TRANSPORT_HIGH_WATER) / FRAME;
/**
 * Base of the explicit clock: on performance.now()'s timeline, as control messages are stamped, and
 * whole, so T0 + 500 - T0 is exactly 500 and the age boundary test is not at the mercy of float rounding.
 */
const T0 = Math.floor(performance.now());

/** A frame message of `framedBytes` bytes on the wire (prefix included), ready to offer. */
function frame(streamId: number, seq: number, key: boolean, framedBytes = FRAME): Outgoing {
  const payload = new Uint8Array(framedBytes - FRAME_OVERHEAD);
  const m = outgoing(
    encodeMessage({ type: 'frame', streamId, key, seq, timestamp: seq, captureTime: 0, payload }),
  );
  assert.equal(m.framed.length, framedBytes);
  return m;
}

/** A control message (a ping) carrying `id`, so its order can be checked after decoding. */
function ping(id: number): Outgoing {
  return outgoing(encodeMessage({ type: 'ping', id, time: 0 }));
}

/** A control message as the relay sends in reply to pings: what piles up when a peer stops reading. */
function pong(id: number): Outgoing {
  return outgoing(encodeMessage({ type: 'pong', id, echoTime: 0, responderTime: 0 }));
}

/** More pongs than could ever fit within maxBytes + slack: a loop sending this many was never refused. */
const PONG_LIMIT = Math.ceil((MAX_BYTES + CONTROL_SLACK_BYTES) / pong(0).framed.length) + 1;

/** A fresh per-stream delivery state: like a new Subscription, it waits for a keyframe. */
function newSink(): FrameSink {
  return { needsKey: true, framesSent: 0, framesDropped: 0, audioDropped: 0 };
}

/** One publisher's stream: hands out frames with consecutive seqs, offered to one sink of the queue. */
class Source {
  seq = 0;
  readonly sink = newSink();
  constructor(
    readonly streamId: number,
    private readonly q: ViewerQueue,
  ) {}

  /** Offers the next frame at time `now` (ms after T0); returns its seq. */
  offer(key: boolean, now = 0, framedBytes = FRAME): number {
    const seq = this.seq++;
    this.q.offerFrame(this.sink, frame(this.streamId, seq, key, framedBytes), key, T0 + now);
    return seq;
  }

  /** Offers `n` delta frames at time `now`. */
  deltas(n: number, now = 0): void {
    for (let i = 0; i < n; i++) this.offer(false, now);
  }
}

/** A queue over a fake transport, with its totals and the sinks onSkip was called for, in order. */
function setup(limits: Partial<QueueLimits> = {}, batcher: TickBatcher | null = null) {
  const transport = new FakeTransport();
  const totals = new Totals();
  const skips: FrameSink[] = [];
  const queue = new ViewerQueue(
    transport,
    { maxBytes: MAX_BYTES, maxAgeMs: MAX_AGE_MS, probes: false, ...limits },
    totals,
    { onSkip: (sink) => skips.push(sink), onLinkState: () => {} },
    batcher,
    T0,
  );
  return { transport, totals, skips, queue };
}

/** Seqs of the written frames of `streamId`, in write order. */
function seqs(transport: FakeTransport, streamId: number): number[] {
  return transport
    .frames()
    .filter((f) => f.streamId === streamId)
    .map((f) => f.seq);
}

/** Ends the current event-loop turn: TickBatcher flushes in setImmediate. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('bounded by bytes and by age', () => {
  test('queued bytes (ours plus the transport’s) never exceed maxBytes; the frame that would is shed with the rest', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER; // the peer has stopped reading
    let peak = 0;
    a.offer(true);
    for (let i = 1; i < ROOM_FRAMES; i++) {
      a.offer(false);
      assert.ok(queue.bytes <= MAX_BYTES, `after frame ${i}: ${queue.bytes} > ${MAX_BYTES}`);
      peak = Math.max(peak, queue.bytes);
    }
    // The queue filled up to the bound exactly, so the next frame cannot fit.
    assert.equal(peak, MAX_BYTES);
    assert.equal(transport.written.length, 0);
    a.offer(false);
    assert.ok(queue.bytes <= MAX_BYTES, `${queue.bytes} bytes after the overflow`);
    assert.equal(queue.bytes, transport.bufferedBytes, 'every queued frame was shed');
    assert.equal(a.sink.framesDropped, ROOM_FRAMES + 1);
    assert.equal(a.sink.needsKey, true);
    assert.deepEqual(new Set(skips), new Set([a.sink]));
  });

  test('a queued frame older than maxAgeMs makes the viewer shed and skip ahead: latency snaps back', () => {
    const { transport, queue, skips } = setup({ maxBytes: 64 * 1024 * 1024 });
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(true, 0);
    for (let t = 100; t <= MAX_AGE_MS; t += 100) a.offer(false, t);
    // At exactly maxAgeMs the oldest frame is not yet "older than" the bound: nothing is lost.
    assert.equal(a.sink.framesDropped, 0);
    assert.equal(queue.bytes, TRANSPORT_HIGH_WATER + 6 * FRAME);

    a.offer(false, MAX_AGE_MS + 1);
    assert.equal(a.sink.framesDropped, 7, 'the whole backlog and the frame that found it are dropped');
    assert.equal(queue.bytes, transport.bufferedBytes, 'nothing of ours is left queued');
    assert.equal(a.sink.needsKey, true);
    assert.ok(skips.includes(a.sink), 'onSkip not called for the stale sink');

    const fresh = a.offer(true, MAX_AGE_MS + 50);
    drainAll(transport, queue);
    // The first thing the viewer sees is the newest keyframe, not the 0.5 s old one it was stuck behind.
    assert.deepEqual(seqs(transport, 1), [fresh]);
  });

  test('a keyframe arriving after the backlog went stale replaces it and is delivered at once', () => {
    const { transport, queue, skips } = setup({ maxBytes: 64 * 1024 * 1024 });
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(true, 0);
    a.deltas(2, 10);
    const k = a.offer(true, MAX_AGE_MS + 100);
    assert.equal(a.sink.framesDropped, 3);
    assert.equal(a.sink.needsKey, false, 'the new keyframe is queued, so its deltas may follow');
    assert.deepEqual(skips.slice(0, 1), [a.sink]);
    const d = a.offer(false, MAX_AGE_MS + 110);
    drainAll(transport, queue);
    assert.deepEqual(seqs(transport, 1), [k, d]);
  });
});

describe('whole runs, never single deltas', () => {
  test('after a drop every delta until the next keyframe is dropped, and that keyframe resumes delivery', () => {
    const { transport, queue } = setup();
    const a = new Source(1, queue);
    a.offer(true); // written straight through
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.deltas(ROOM_FRAMES + 1); // the last one does not fit: the run is shed
    drainAll(transport, queue);
    // The transport is empty now, so these could be written; they must not be: they cannot be decoded.
    a.deltas(7);
    assert.deepEqual(seqs(transport, 1), [0]);
    const k = a.offer(true);
    a.deltas(2);
    assert.deepEqual(seqs(transport, 1), [0, k, k + 1, k + 2]);
    assert.equal(a.sink.framesDropped, ROOM_FRAMES + 1 + 7);
    assert.equal(a.sink.framesSent, 4);
  });

  test('two streams on one connection: a drop on one makes only that stream wait for its keyframe', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    const b = new Source(2, queue);
    b.offer(true);
    a.offer(true);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.deltas(ROOM_FRAMES); // fills the queue to the bound
    // B's keyframe does not fit: A's queued run is shed to make room. A loses frames, B does not.
    const bKey = b.offer(true);
    assert.equal(a.sink.needsKey, true);
    assert.equal(b.sink.needsKey, false);
    assert.deepEqual(new Set(skips), new Set([a.sink]));
    const bDelta = b.offer(false);
    a.offer(false); // A is still waiting: dropped, though there is room now
    drainAll(transport, queue);
    b.offer(false);
    const aKey = a.offer(true);
    a.offer(false);
    assert.deepEqual(seqs(transport, 2), [0, bKey, bDelta, bDelta + 1]);
    assert.deepEqual(seqs(transport, 1), [0, aKey, aKey + 1]);
    assert.equal(b.sink.framesDropped, 0);
  });

  test('property: over random offer/drain/age schedules, each stream is delivered as keyframe-then-contiguous deltas', () => {
    type Op =
      | { kind: 'offer'; stream: 0 | 1; key: boolean; size: number }
      | { kind: 'drain'; bytes: number }
      | { kind: 'wait'; ms: number }
      | { kind: 'control' };
    const maxBytes = 192 * 1024;
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('offer' as const),
          stream: fc.constantFrom(0 as const, 1 as const),
          key: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
          size: fc.integer({ min: FRAME_OVERHEAD + 1, max: 48 * 1024 }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('drain' as const),
          bytes: fc.integer({ min: 0, max: 96 * 1024 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 300 }) }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'control' as const }) },
    );
    // Counted across runs, so the property cannot pass by never shedding.
    let runsWithDrops = 0;
    let runsWithResume = 0;

    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 200 }), (ops) => {
        const { transport, totals, skips, queue } = setup({ maxBytes, maxAgeMs: 400 });
        const sources = [new Source(1, queue), new Source(2, queue)] as const;
        let now = 0;
        let controls = 0;
        for (const o of ops) {
          if (o.kind === 'offer') {
            const src = sources[o.stream];
            // A publisher starts with a keyframe.
            const key = o.key || src.seq === 0;
            const before = queue.bytes;
            queue.offerFrame(src.sink, frame(src.streamId, src.seq++, key, o.size), key, T0 + now);
            // A frame is only ever added when the total stays within the bound.
            assert.ok(queue.bytes <= maxBytes || queue.bytes <= before, `${before} -> ${queue.bytes}`);
          } else if (o.kind === 'drain') {
            transport.drain(o.bytes);
            queue.pump();
          } else if (o.kind === 'wait') {
            now += o.ms;
          } else {
            assert.equal(queue.sendControl(ping(controls++)), true);
          }
        }
        drainAll(transport, queue);

        let delivered = 0;
        let dropped = 0;
        for (const src of sources) {
          const got = transport.frames().filter((f) => f.streamId === src.streamId);
          let prev: FrameMessage | null = null;
          for (const f of got) {
            if (prev === null) assert.equal(f.key, true, `stream ${src.streamId} starts on a keyframe`);
            else if (f.key)
              assert.ok(f.seq > prev.seq, `stream ${src.streamId}: ${prev.seq} then key ${f.seq}`);
            else assert.equal(f.seq, prev.seq + 1, `stream ${src.streamId}: ${prev.seq} then delta ${f.seq}`);
            prev = f;
          }
          // Runs of lost frames, in offer order: each must have started with an onSkip for this sink.
          const sent = new Set(got.map((f) => f.seq));
          let runs = 0;
          for (let seq = 0; seq < src.seq; seq++)
            if (!sent.has(seq) && (seq === 0 || sent.has(seq - 1))) runs++;
          const mySkips = skips.filter((s) => s === src.sink).length;
          assert.ok(mySkips >= runs, `stream ${src.streamId}: ${runs} runs lost, onSkip ${mySkips}×`);
          if (runs === 0) assert.equal(mySkips, 0);
          // Delivery resumed after a loss: some frame went out after the first one lost.
          let firstLost = 0;
          while (sent.has(firstLost)) firstLost++;
          if (firstLost < src.seq && got.some((f) => f.seq > firstLost)) runsWithResume++;

          assert.equal(src.sink.framesSent, got.length);
          assert.equal(src.sink.framesSent + src.sink.framesDropped, src.seq, 'every frame sent or dropped');
          delivered += got.length;
          dropped += src.sink.framesDropped;
        }
        if (dropped > 0) runsWithDrops++;
        assert.equal(totals.framesOut, delivered);
        assert.equal(totals.framesDropped, dropped);
        const decoded = transport.messages();
        const bytesOut = transport.written
          .filter((_, i) => decoded[i]?.type === 'frame')
          .reduce((n, m) => n + m.body.length, 0);
        assert.equal(totals.bytesOut, bytesOut);
        // Control messages: every one delivered, in the order sent.
        assert.deepEqual(
          transport.controls().map((m) => (m.type === 'ping' ? m.id : -1)),
          Array.from({ length: controls }, (_, i) => i),
        );
      }),
      { numRuns: 200 },
    );
    assert.ok(runsWithDrops > 40, `only ${runsWithDrops} schedules shed anything`);
    assert.ok(runsWithResume > 40, `only ${runsWithResume} streams resumed after a drop`);
  });
});

describe('onSkip: called when a sink starts waiting (so the relay can request a keyframe)', () => {
  test('called for the sink that lost frames, and not again for each delta dropped while it waits', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    const b = new Source(2, queue);
    a.offer(true);
    b.offer(true);
    assert.equal(skips.length, 0, 'no skip while everything is delivered');
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.deltas(ROOM_FRAMES + 1);
    assert.ok(skips.length > 0, 'onSkip not called');
    assert.deepEqual(new Set(skips), new Set([a.sink]));
    const calls = skips.length;
    a.deltas(20);
    assert.equal(skips.length, calls, 'deltas dropped while waiting must not flood keyframe requests');
    drainAll(transport, queue);
    a.offer(true);
    a.deltas(2);
    assert.equal(skips.length, calls);
  });

  test('a new sink dropping deltas before its first keyframe is already waiting: no onSkip', () => {
    // The relay requests a keyframe itself when a viewer joins; the queue need not ask again per delta.
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    a.seq = 5; // joined mid-GOP, with nothing cached
    a.deltas(3);
    assert.equal(a.sink.framesDropped, 3);
    assert.equal(transport.written.length, 0);
    assert.deepEqual(skips, []);
  });
});

describe('control messages never dropped', () => {
  test('control messages survive shedding and keep their order among themselves and the frames that survive', () => {
    const { transport, queue } = setup();
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    queue.sendControl(ping(0));
    a.offer(true);
    queue.sendControl(ping(1));
    a.deltas(3);
    queue.sendControl(ping(2));
    a.deltas(ROOM_FRAMES); // overflows: every queued frame is shed, the pings stay
    assert.equal(a.sink.needsKey, true);
    queue.sendControl(ping(3));
    const k = a.offer(true);
    queue.sendControl(ping(4));
    drainAll(transport, queue);
    const got = transport
      .messages()
      .map((m) => (m.type === 'ping' ? `ping ${m.id}` : `${m.type} ${'seq' in m ? m.seq : ''}`));
    assert.deepEqual(got, ['ping 0', 'ping 1', 'ping 2', 'ping 3', `frame ${k}`, 'ping 4']);
  });

  test('a peer that lets control messages pile up past maxBytes + slack gets false from sendControl', () => {
    const { transport, queue } = setup();
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    let id = 0;
    let ok = true;
    while (ok) {
      ok = queue.sendControl(pong(id++));
      if (ok) assert.ok(queue.bytes <= MAX_BYTES + CONTROL_SLACK_BYTES, `true at ${queue.bytes} bytes`);
      assert.ok(id <= PONG_LIMIT, 'sendControl never refused');
    }
    assert.ok(queue.bytes > MAX_BYTES + CONTROL_SLACK_BYTES, `refused at only ${queue.bytes} bytes`);
    // It refused as soon as the pile passed the limit, not later: one pong fewer was within it.
    assert.ok(queue.bytes - pong(0).framed.length <= MAX_BYTES + CONTROL_SLACK_BYTES, 'refused late');
    // Even the refused one was kept: the relay cuts the peer, but the queue itself drops no control message.
    drainAll(transport, queue);
    const ids = transport.controls().map((m) => (m.type === 'pong' ? m.id : -1));
    assert.deepEqual(
      ids,
      Array.from({ length: id }, (_, i) => i),
    );
  });

  test('a control flood sheds the queued frames first, and cuts the peer only when control alone is too much', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(true);
    a.deltas(ROOM_FRAMES - 1);
    assert.equal(queue.bytes, MAX_BYTES);
    let id = 0;
    while (a.sink.framesDropped === 0) {
      assert.equal(
        queue.sendControl(pong(id++)),
        true,
        'frames were there to shed; the peer must not be cut',
      );
      assert.ok(id <= PONG_LIMIT, 'frames never shed');
    }
    assert.equal(a.sink.framesDropped, ROOM_FRAMES);
    assert.equal(a.sink.needsKey, true);
    assert.ok(skips.includes(a.sink), 'onSkip not called for the shed sink');
    while (queue.sendControl(pong(id++))) assert.ok(id <= 2 * PONG_LIMIT, 'sendControl never refused');
    drainAll(transport, queue);
    assert.equal(transport.frames().length, 0);
    assert.equal(transport.controls().length, id);
  });
});

describe('a huge keyframe cannot wedge a viewer', () => {
  const HUGE = MAX_BYTES + 150 * 1024;

  test('a keyframe larger than maxBytes is written when the transport is empty, and its deltas follow', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    a.offer(true, 0, HUGE);
    assert.deepEqual(seqs(transport, 1), [0]);
    assert.equal(a.sink.needsKey, false);
    assert.deepEqual(skips, []);
    transport.drain();
    a.deltas(2);
    assert.deepEqual(seqs(transport, 1), [0, 1, 2]);
  });

  test('while the transport still holds bytes the huge keyframe is dropped; the next one goes out once it is empty', () => {
    const { transport, queue, skips } = setup();
    const a = new Source(1, queue);
    transport.bufferedBytes = 1;
    a.offer(true, 0, HUGE);
    assert.equal(transport.written.length, 0);
    assert.equal(queue.bytes, 1, 'it was not queued either: queued it would break the bound');
    assert.equal(a.sink.needsKey, true);
    assert.deepEqual(skips, [a.sink]);
    a.deltas(2);
    transport.drain();
    const k = a.offer(true, 0, HUGE);
    assert.deepEqual(seqs(transport, 1), [k]);
  });
});

describe('straight through when the viewer keeps up; pump when the transport drains', () => {
  test('a viewer that keeps up gets each frame written at once, with nothing queued', () => {
    const { transport, queue } = setup();
    const a = new Source(1, queue);
    for (let i = 0; i < 50; i++) {
      a.offer(i % 10 === 0, 0, 1000);
      assert.equal(transport.written.length, i + 1, `frame ${i} was not written synchronously`);
      assert.equal(queue.bytes, transport.bufferedBytes, 'nothing of ours queued');
      if (i % 3 === 0) transport.drain(); // the peer reads now and then; it stays under the high-water mark
    }
    assert.equal(queue.sendControl(ping(1)), true);
    assert.equal(transport.written.length, 51);
    assert.equal(a.sink.framesSent, 50);
  });

  test('pump moves queued messages in order while the transport has room, and stops at its high-water mark', () => {
    const { transport, queue } = setup();
    const a = new Source(1, queue);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(true);
    a.deltas(9);
    assert.equal(transport.written.length, 0);
    queue.pump();
    assert.equal(transport.written.length, 0, 'no room: pump writes nothing');
    const perPump = TRANSPORT_HIGH_WATER / FRAME;
    transport.drain();
    queue.pump();
    assert.deepEqual(
      seqs(transport, 1),
      Array.from({ length: perPump }, (_, i) => i),
    );
    assert.equal(queue.bytes, TRANSPORT_HIGH_WATER + (10 - perPump) * FRAME);
    assert.equal(a.sink.framesSent, perPump);
    drainAll(transport, queue);
    assert.deepEqual(
      seqs(transport, 1),
      Array.from({ length: 10 }, (_, i) => i),
    );
    assert.equal(a.sink.framesSent, 10);
  });
});

describe('batching: a multi-stream viewer corks once per turn', () => {
  test('writes of one turn are corked once and released together when the turn ends', async () => {
    const { transport, queue } = setup({}, new TickBatcher());
    queue.batching = true;
    const a = new Source(1, queue);
    const b = new Source(2, queue);
    a.offer(true, 0, 1000);
    b.offer(true, 0, 1000);
    queue.sendControl(ping(0));
    assert.equal(transport.corks, 1);
    assert.equal(transport.isCorked, true);
    assert.equal(transport.written.length, 3);
    await nextTurn();
    assert.equal(transport.uncorks, 1);
    assert.equal(transport.isCorked, false);
    assert.deepEqual(transport.batches, [3]);
    a.offer(false, 0, 1000);
    b.offer(false, 0, 1000);
    await nextTurn();
    assert.deepEqual(transport.batches, [3, 2]);
    assert.equal(transport.corks, transport.uncorks);
  });

  test('a viewer with batching off never corks', async () => {
    const { transport, queue } = setup({}, new TickBatcher());
    const a = new Source(1, queue);
    a.offer(true, 0, 1000);
    a.offer(false, 0, 1000);
    await nextTurn();
    assert.equal(transport.corks, 0);
    assert.equal(transport.written.length, 2);
  });

  test('the end-of-turn flush also pumps what was queued meanwhile, and leaves no cork open', async () => {
    const { transport, queue } = setup({}, new TickBatcher());
    queue.batching = true;
    const a = new Source(1, queue);
    const b = new Source(2, queue);
    a.offer(true, 0, 1000);
    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(false, 0, 1000);
    b.offer(true, 0, 1000);
    assert.equal(transport.written.length, 1);
    transport.drain();
    await nextTurn(); // flushBatch: uncork, then pump the two queued frames (corked anew)
    assert.equal(transport.written.length, 3);
    await nextTurn();
    assert.equal(transport.isCorked, false);
    assert.equal(transport.corks, transport.uncorks);
    assert.deepEqual(transport.batches, [1, 2]);
  });
});

describe('Totals', () => {
  test('framesOut/bytesOut count frames when written (bodies, without the prefix); framesDropped counts every drop', () => {
    const { transport, queue, totals } = setup();
    const a = new Source(1, queue);
    a.offer(true, 0, 1000);
    assert.equal(totals.framesOut, 1);
    assert.equal(totals.bytesOut, 1000 - LENGTH_PREFIX_BYTES);
    queue.sendControl(ping(0));
    assert.equal(totals.framesOut, 1, 'control messages are not frames');

    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.deltas(2, 0);
    assert.equal(totals.framesOut, 1, 'queued is not out');
    drainAll(transport, queue);
    assert.equal(totals.framesOut, 3);
    assert.equal(totals.bytesOut, 1000 - LENGTH_PREFIX_BYTES + 2 * (FRAME - LENGTH_PREFIX_BYTES));

    transport.bufferedBytes = TRANSPORT_HIGH_WATER;
    a.offer(false, 0); // queued
    a.offer(false, MAX_AGE_MS + 1); // stale: the queued one is shed, this one dropped
    a.offer(false, MAX_AGE_MS + 2); // waiting for a keyframe
    assert.equal(totals.framesDropped, 3);
    assert.equal(a.sink.framesDropped, 3);
    assert.equal(a.sink.framesSent, 3);
    assert.equal(totals.framesOut, 3);
  });
});
