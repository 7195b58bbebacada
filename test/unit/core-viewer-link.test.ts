// Unit tests for the backlog measured past our own buffers (src/server/core/link-monitor.ts, driven by
// the viewer queue): one group per rule of docs/architecture.md "Buffers we cannot see". The fake
// transport takes every write at once, as a kernel with a large send buffer does; the test plays the
// viewer by answering the queue's in-line pings when it "has read" up to them. Time is passed explicitly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  encodeMessage,
  FRAME_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
  type LinkState,
  type PingMessage,
} from '../../src/protocol/index.js';
import { Totals } from '../../src/server/core/totals.js';
import { type Outgoing, outgoing } from '../../src/server/core/transport.js';
import { type FrameSink, ViewerQueue } from '../../src/server/core/viewer-queue.js';
import { drainAll, FakeTransport } from '../helpers/fake-transport.js';

const MAX_AGE_MS = 500;
const FPS = 30;
const GOP = 30;
const T0 = Math.floor(performance.now());

function frame(seq: number, key: boolean, bytes = 4000): Outgoing {
  const payload = new Uint8Array(bytes - LENGTH_PREFIX_BYTES - FRAME_HEADER_BYTES);
  return outgoing(
    encodeMessage({ type: 'frame', streamId: 1, key, seq, timestamp: seq, captureTime: 0, payload }),
  );
}

/** A queue with probes on over a transport that never pushes back, and a viewer the test drives. */
function setup(stalled: { ms: number } = { ms: 0 }) {
  const transport = new FakeTransport();
  const states: { state: LinkState; backlogMs: number }[] = [];
  const skips: FrameSink[] = [];
  const queue = new ViewerQueue(
    transport,
    { maxBytes: 1024 * 1024, maxAgeMs: MAX_AGE_MS },
    new Totals(),
    {
      onSkip: (sink) => skips.push(sink),
      onLinkState: (state, backlogMs) => states.push({ state, backlogMs }),
      stalledMs: () => stalled.ms,
    },
    null,
    T0,
  );
  const sink: FrameSink = { needsKey: true, framesSent: 0, framesDropped: 0, audioDropped: 0 };
  let seq = 0;
  /** Pings already answered, by index in `transport.written`. */
  let readUpTo = 0;
  const viewer = {
    transport,
    queue,
    sink,
    states,
    skips,
    /** Offers the next frame of a 30 fps stream (a keyframe every GOP) at `ms` after T0. */
    offer(ms: number, key = seq % GOP === 0, bytes?: number): void {
      transport.bufferedBytes = 0; // the kernel takes everything: Node's buffer never fills
      queue.offerFrame(sink, frame(seq++, key, bytes), key, T0 + ms);
    },
    /** Offers the frames of a 30 fps stream due before `toMs` (frame n is due at n / 30 s). */
    run(toMs: number): void {
      while ((seq * 1000) / FPS < toMs) viewer.offer((seq * 1000) / FPS);
    },
    /** The viewer reads everything written so far at `ms` and answers each ping it finds. */
    readAll(ms: number): void {
      const written = transport.written;
      for (; readUpTo < written.length; readUpTo++) {
        const m = transport.messages()[readUpTo];
        if (m?.type === 'ping') queue.onPong((m as PingMessage).id, T0 + ms);
      }
    },
    /** The viewer reads the first `count` messages written, at `ms`, answering the pings among them. */
    readUpTo(count: number, ms: number): void {
      const messages = transport.messages();
      for (; readUpTo < count; readUpTo++) {
        const m = messages[readUpTo];
        if (m?.type === 'ping') queue.onPong(m.id, T0 + ms);
      }
    },
    /**
     * The viewer reads at `bytesPerSec` from time 0 (a slow link): at `ms` it has read that many bytes of
     * what was written, and answers the pings among them, each when its last byte arrived.
     */
    readAtRate(bytesPerSec: number, ms: number): void {
      const messages = transport.messages();
      let position = 0;
      for (let i = 0; i < transport.written.length; i++) {
        position += (transport.written[i] as Outgoing).framed.length;
        const arrival = (position * 1000) / bytesPerSec;
        if (arrival > ms) return;
        if (i < readUpTo) continue;
        readUpTo = i + 1;
        const m = messages[i];
        if (m?.type === 'ping') queue.onPong(m.id, T0 + arrival);
      }
    },
    /** Seqs and key flags of the frames written since message index `from`. */
    framesSince(from: number) {
      return transport
        .messages()
        .slice(from)
        .flatMap((m) => (m.type === 'frame' ? [{ seq: m.seq, key: m.key }] : []));
    },
  };
  return viewer;
}

/** Two falls in quick succession (behind, drained, behind again within 5 s): the viewer gets keyframes only. */
function toKeyframesOnly(v: ReturnType<typeof setup>): void {
  v.run(1000);
  v.readAll(1000);
  v.run(2500);
  v.readAll(2600);
  assert.equal(v.queue.link.state, 'keyframes-only');
}

describe('in-line probes', () => {
  test('a viewer that reads as it goes stays live, probed every bound (calm pace)', () => {
    const v = setup();
    for (let n = 0; n < 60; n++) {
      v.run(((n + 1) * 1000) / FPS);
      v.readAll((n * 1000) / FPS + 1);
    }
    assert.equal(v.queue.link.state, 'live');
    assert.deepEqual(v.states, []);
    const pings = v.transport.controls().filter((m) => m.type === 'ping');
    // 2 s at one probe per 500 ms (four times the quick pace of 500 / 4).
    assert.ok(pings.length >= 4 && pings.length <= 5, `${pings.length} probes in 2 s`);
    assert.equal(v.framesSince(0).length, 60, 'every frame sent');
    // A probe goes out in the same corked write as the frame before it.
    assert.equal(v.transport.corks, pings.length);
  });

  test('a viewer whose answers come late is probed at the quick pace, a quarter of the bound', () => {
    const v = setup();
    // Messages written by each frame time, so the viewer can read each 100 ms after it was written.
    const writtenBy: number[] = [];
    for (let n = 0; n < 60; n++) {
      const t = (n * 1000) / FPS;
      v.run(t + 1);
      writtenBy[n] = v.transport.written.length;
      const lagged = n - 3; // 100 ms ago
      if (lagged >= 0) v.readUpTo(writtenBy[lagged] as number, t);
    }
    const pings = v.transport.controls().filter((m) => m.type === 'ping');
    assert.ok(pings.length >= 13 && pings.length <= 17, `${pings.length} probes in 2 s`);
    assert.equal(v.queue.link.state, 'live');
  });
});

describe('a backlog in buffers we cannot see', () => {
  test('drains once the oldest unanswered probe is older than the bound, then resumes at a keyframe', () => {
    const v = setup();
    v.run(1000); // nothing is read: the kernel holds it all
    assert.equal(v.queue.link.state, 'draining');
    assert.equal(v.states[0]?.state, 'draining');
    assert.ok((v.states[0]?.backlogMs ?? 0) > MAX_AGE_MS, `backlog ${v.states[0]?.backlogMs} ms`);
    const sentBefore = v.framesSince(0).length;
    // Frames up to ~625 ms were written (the fall is seen within a probe interval of the bound).
    assert.ok(sentBefore >= 15 && sentBefore <= 20, `${sentBefore} frames before the drain`);
    const mark = v.transport.written.length;
    v.run(1500);
    assert.deepEqual(v.framesSince(mark), [], 'no frame while draining');
    // A control message still goes out at once while draining.
    v.queue.sendControl(outgoing(encodeMessage({ type: 'ping', id: 0, time: 0 })));
    assert.equal(v.transport.written.length, mark + 1);
    v.readAll(1500); // the viewer gets through the backlog: the drain probe comes back
    assert.equal(v.queue.link.state, 'live');
    assert.equal(v.states.at(-1)?.state, 'live');
    assert.deepEqual(v.skips, [v.sink], 'a keyframe is asked for on resuming');
    const resumed = v.transport.written.length;
    v.run(2100); // deltas until seq 60, the next keyframe
    const after = v.framesSince(resumed);
    assert.equal(after[0]?.key, true, 'resumes at a keyframe');
    assert.equal(after[0]?.seq, 60);
  });

  test('a link slower than the stream is caught by its reading rate before the oldest probe is a bound old', () => {
    const v = setup();
    // 120 KB/s offered, 40 KB/s read: the backlog grows by 2 s every second. The oldest probe reaches
    // 500 ms only at ~750 ms (1.5 s behind by then); the unread bytes at the measured rate say so sooner.
    for (let n = 0; v.queue.link.state === 'live' && n < 60; n++) {
      const t = (n * 1000) / FPS;
      v.readAtRate(40_000, t);
      v.offer(t);
    }
    assert.equal(v.queue.link.state, 'draining');
    const fell = v.states[0]?.backlogMs ?? 0;
    const sent = v.framesSince(0).length;
    assert.ok(sent <= 20, `drained after ${sent} frames (${Math.round((sent * 1000) / FPS)} ms)`);
    assert.ok(fell > MAX_AGE_MS && fell < 1500, `backlog ${fell} ms when the drain started`);
  });

  test('a link that cannot carry the stream gets keyframes only, each once the previous one was read', () => {
    const v = setup();
    // Two falls in quick succession: behind, drained, behind again within 5 s.
    v.run(1000);
    v.readAll(1000);
    v.run(2500);
    assert.equal(v.queue.link.state, 'draining');
    v.readAll(2600);
    assert.equal(v.queue.link.state, 'keyframes-only');
    assert.equal(v.states.at(-1)?.state, 'keyframes-only');
    const mark = v.transport.written.length;
    // Keyframes at 3 s and 4 s. The one at 3 s takes 800 ms to read (a slow link); the one at 4 s
    // follows it into an empty pipe.
    v.run(3500);
    const first = v.framesSince(mark);
    assert.deepEqual(first, [{ seq: 90, key: true }], 'only the keyframe, no deltas');
    v.readAll(3800);
    assert.equal(v.queue.link.state, 'keyframes-only', 'the link showed no room for the stream');
    const mark2 = v.transport.written.length;
    v.run(4100);
    assert.deepEqual(v.framesSince(mark2), [{ seq: 120, key: true }]);
    // Not read yet when the next keyframe comes: it is skipped rather than queued behind.
    v.run(5100);
    assert.deepEqual(v.framesSince(mark2), [{ seq: 120, key: true }]);
    assert.ok(v.sink.framesDropped > 100);
  });

  test('keyframes-only returns to full rate once a keyframe shows the link has room', () => {
    const v = setup();
    toKeyframesOnly(v);
    v.run(2990);
    v.offer(3000, true, 40_000); // keyframe 90 at 3000 ms, 40 KB: a quarter second of the ~120 KB/s stream
    v.readAll(3012); // read within 12 ms: far above the stream's rate
    assert.equal(v.queue.link.state, 'live');
    const mark = v.transport.written.length;
    v.run(3500);
    assert.ok(v.framesSince(mark).length >= 14, 'deltas flow again');
  });

  test('a try of full rate on a link still too slow falls at half the bound, with little in the pipe', () => {
    const v = setup();
    toKeyframesOnly(v);
    // Keyframes (one a second), each read 100 ms after it was written: the link shows a third of what the
    // stream needs, so only the forced retry (10 s on) tries full rate again.
    let t = 3000;
    for (; v.queue.link.state === 'keyframes-only' && t < 20_000; t += 1000) {
      v.run(t + 1);
      v.readAll(t + 100);
    }
    assert.equal(v.queue.link.state, 'live', 'full rate tried again');
    // Nothing more is read: the link is as slow as before. What went out before the fall must be read
    // before the viewer is live again: it is the latency this try costs.
    const mark = v.transport.written.length;
    const resumedAt = t - 1000 + 100;
    for (let ms = resumedAt; v.queue.link.state === 'live' && ms < resumedAt + 3000; ms += 1000 / FPS)
      v.run(ms);
    assert.equal(v.queue.link.state, 'draining');
    const sent = v.framesSince(mark);
    const firstAt = ((sent[0]?.seq ?? 0) * 1000) / FPS;
    const lastAt = ((sent.at(-1)?.seq ?? 0) * 1000) / FPS;
    // The deltas that follow the keyframe the viewer has, until the oldest probe was half the bound
    // (250 ms) old for a probe interval.
    assert.equal(
      sent[0]?.seq,
      (resumedAt - 100) / (1000 / FPS) + 1,
      'the try goes on from the keyframe read',
    );
    assert.ok(lastAt - firstAt <= 400, `the try wrote ${lastAt - firstAt} ms of frames before it fell`);
  });

  test('one small keyframe read at once is not enough to return to full rate', () => {
    const v = setup();
    toKeyframesOnly(v);
    // A white or dark picture: a 4 KB keyframe passes a shaper's burst at once and says nothing of the link.
    v.run(3010);
    v.readAll(3012);
    assert.equal(v.queue.link.state, 'keyframes-only');
  });

  test("the server's own stall does not count against the viewer", () => {
    const stalled = { ms: 0 };
    const v = setup(stalled);
    v.run(200); // a probe at 0 and one at ~133 ms, whose pong will sit unread in our socket
    // The event loop is blocked from 200 to 1100 ms. The frames due meanwhile are read all at once
    // afterwards, before the pong that came in during the stall.
    stalled.ms += 900;
    for (let n = 6; n <= 33; n++) v.offer(1100);
    assert.equal(v.queue.link.state, 'live');
    assert.ok(v.queue.link.backlogMs(T0 + 1100) < MAX_AGE_MS, `${v.queue.link.backlogMs(T0 + 1100)} ms`);
    v.readAll(1102);
    for (let n = 34; n < 60; n++) {
      v.offer((n * 1000) / FPS);
      v.readAll((n * 1000) / FPS + 1);
    }
    assert.deepEqual(v.states, [], 'never drained');
    assert.equal(v.framesSince(0).length, 60);
  });

  test('a backlog over the bound for less than a probe interval is not yet a fall', () => {
    const v = setup();
    v.run(100);
    // 550 ms later every probe is past the bound, but only just now: the pongs may be sitting unread in
    // our own socket (a turn of the loop away), so the queue waits a probe interval before draining.
    v.offer(660, false);
    assert.equal(v.queue.link.state, 'live');
    v.offer(800, false);
    assert.equal(v.queue.link.state, 'draining');
  });

  test("a joiner's cached deltas follow its keyframe one round trip later on a fast link", () => {
    const v = setup();
    const gop = [frame(0, true, 20_000), ...Array.from({ length: 20 }, (_, i) => frame(i + 1, false))];
    v.queue.catchUp(v.sink, gop, T0);
    assert.deepEqual(v.framesSince(0), [{ seq: 0, key: true }], 'the keyframe at once, the deltas held');
    assert.equal(v.transport.messages().at(-1)?.type, 'ping', 'a probe right after it');
    v.readAll(3); // answered 3 ms later
    drainAll(v.transport, v.queue); // the kernel takes what Node holds, as fast as it is written
    assert.equal(v.framesSince(0).length, 21, 'then the whole GOP');
    assert.equal(v.sink.framesDropped, 0);
  });

  test("a room joiner's held catch-ups may pass the bytes bound for one round trip: they are the caches' own", () => {
    const v = setup();
    const other: FrameSink = { needsKey: true, framesSent: 0, framesDropped: 0, audioDropped: 0 };
    // Two streams' GOPs of ~700 KB each: together past the 1 MiB bound while held.
    const gop = [frame(0, true, 60_000), ...Array.from({ length: 160 }, (_, i) => frame(i + 1, false))];
    v.queue.catchUp(v.sink, gop, T0);
    v.queue.catchUp(other, gop, T0);
    assert.ok(v.queue.bytes > 1024 * 1024, `${v.queue.bytes} bytes held`);
    v.readAll(5);
    drainAll(v.transport, v.queue);
    assert.equal(v.sink.framesDropped + other.framesDropped, 0, 'nothing shed');
    assert.equal(v.framesSince(0).length, 2 * gop.length);
  });

  test("on a link slower than the stream a joiner's cached deltas are shed, and it starts at the next keyframe", () => {
    const v = setup();
    const gop = [frame(0, true, 20_000), ...Array.from({ length: 20 }, (_, i) => frame(i + 1, false))];
    v.queue.catchUp(v.sink, gop, T0);
    v.readAll(900); // the keyframe took 900 ms to read
    assert.deepEqual(v.framesSince(0), [{ seq: 0, key: true }], 'the stale deltas never went out');
    assert.equal(v.sink.framesDropped, 20);
    assert.equal(v.sink.needsKey, true, 'it waits for the next keyframe');
    assert.deepEqual(v.skips, [v.sink], 'and asks for one');
  });

  test("a joiner's keyframe read at once (a shaper's burst) is not proof: the deltas follow in a measured portion", () => {
    const v = setup();
    // A flat picture's small keyframe, then 20 deltas of 4 KB: 80 KB, two seconds on a 300 kbit/s link.
    const gop = [frame(0, true, 5000), ...Array.from({ length: 20 }, (_, i) => frame(i + 1, false))];
    v.queue.catchUp(v.sink, gop, T0);
    v.readUpTo(3, 2); // the keyframe and its probes passed the shaper's burst at line rate: too quick to measure
    const portion = v.framesSince(0).length - 1;
    assert.ok(portion >= 4 && portion <= 5, `a first portion of 16 KB (${portion} deltas), not the GOP`);
    assert.equal(v.transport.messages().at(-1)?.type, 'ping', 'a probe right behind it');
    // The portion took 430 ms to read: 37.5 KB/s, which cannot carry the next portion within half the bound.
    v.readUpTo(v.transport.written.length, 432);
    assert.equal(v.framesSince(0).length, 1 + portion, 'nothing more went out');
    assert.equal(v.sink.framesDropped, 20 - portion, 'the rest was shed');
    assert.equal(v.sink.needsKey, true, 'it goes on from the next keyframe');
    assert.deepEqual(v.skips, [v.sink], 'and asks for one');
  });

  test('a pong that answers no probe changes nothing', () => {
    const v = setup();
    v.run(300);
    v.queue.onPong(123456, T0 + 300);
    v.queue.onPong(0, T0 + 300);
    assert.equal(v.queue.link.state, 'live');
    assert.ok(v.queue.link.backlogMs(T0 + 300) > 200, 'the probes still wait');
  });
});
