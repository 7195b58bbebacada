// A viewer that reads slower than the stream it watches (300 kbit/s of a 1 Mbit/s stream, on loopback, where
// the network is never the limit) stays near the live edge and is never closed: the relay measures its
// backlog through every buffer with pings written in line with the frames, drains it, and then sends it
// keyframes only. Before, such a viewer drifted 40 s behind and its pings, stuck behind the video, got it
// closed by the idle timeout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { percentile } from '../../src/cli/meter.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { assertGapsEndOnKeyframes } from '../helpers/gaps.js';
import { type ArrivedFrame, arrived, SlowViewer } from '../helpers/slow-viewer.js';
import { startSyntheticStream } from '../helpers/synthetic-stream.js';
import { WireClient } from '../helpers/wire-client.js';

const RUN_MS = 20_000;
const WARM_UP_MS = 5000;
/** Short, so that a viewer whose answers were stuck behind its backlog would be closed within the run. */
const IDLE_TIMEOUT_MS = 5000;
const STREAM = { kbit: 1000, fps: 30, keyframeIntervalSec: 2 };
const SLOW_KBIT = 300;
/** The relay's age bound (viewerQueueAgeMs, 500 ms by default) plus one keyframe interval. */
const LATENCY_BOUND_MS = 500 + STREAM.keyframeIntervalSec * 1000;
/** A viewer that keeps up, on loopback, on a busy 2-core machine. */
const HEALTHY_BOUND_MS = 250;

/** Latencies (arrival less capture, ms) of the frames that arrived from `since` on. */
function latencies(frames: ArrivedFrame[], since: number): number[] {
  return frames.filter((f) => f.arrivedAt >= since).map((f) => f.arrivedAt - f.capturedAt);
}

describe('a viewer that reads slower than its stream', { timeout: 60_000 }, () => {
  let server: RelayServer;
  const log: string[] = [];
  const wires: WireClient[] = [];
  let slow: SlowViewer | null = null;

  before(async () => {
    // Default queue settings: what is tested is the relay as it ships.
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      log: (line) => log.push(line),
    });
  });
  after(async () => {
    slow?.close();
    for (const w of wires) w.close();
    await server?.close();
  });

  it('stays within the age bound plus a keyframe interval, is never closed, and skips whole GOPs', async () => {
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const healthy = await WireClient.hello(server.tcpPort, 'viewer');
    wires.push(pub, healthy);
    const streamId = await pub.publish('slow', 'cam', { codec: 'vp8', codedWidth: 640, codedHeight: 360 });
    const healthyFrames: ArrivedFrame[] = [];
    // Runs after WireClient's own listener: the frames it has just decoded arrived now.
    let seen = 0;
    healthy.socket.on('data', () => {
      const at = Date.now();
      for (; seen < healthy.received.length; seen++) {
        const m = healthy.received[seen];
        if (m?.type === 'frame') healthyFrames.push(arrived(m, at));
      }
    });
    healthy.send({ type: 'subscribe', requestId: 1, room: 'slow', name: 'cam' });
    await healthy.next((m) => m.type === 'stream-added');
    slow = await SlowViewer.connect(server.tcpPort, SLOW_KBIT);
    await slow.subscribe('slow', 'cam');
    const slowConn = Math.max(...(server.stats().streams[0]?.viewers ?? []).map((v) => v.connection));

    const started = Date.now();
    const stream = startSyntheticStream(pub, streamId, STREAM);
    // The server's view of the slow viewer each second, shown if the bound is missed.
    const timeline: string[] = [];
    let counted = 0;
    while (Date.now() - started < RUN_MS) {
      await new Promise((r) => setTimeout(r, 1000));
      const v = server.stats().streams[0]?.viewers.find((x) => x.connection === slowConn);
      const got = slow.frames.slice(counted);
      counted = slow.frames.length;
      const l = got.map((f) => f.arrivedAt - f.capturedAt);
      timeline.push(
        `${Math.round((Date.now() - started) / 1000)} s: ${got.length} frames (${got.filter((f) => f.key).length} key), ` +
          `latency p50 ${percentile(l, 0.5) ?? '-'} p95 ${percentile(l, 0.95) ?? '-'} ms; ` +
          `server: ${v ? `${v.link}, backlog ${v.backlogMs} ms` : 'gone'}`,
      );
    }
    stream.stop();
    const sent = stream.sent;
    // Frames still on their way to the healthy viewer.
    await healthy.until(() => healthyFrames.length >= sent || undefined, 5000).catch(() => {});

    const slowLatency = latencies(slow.frames, started + WARM_UP_MS);
    const p50 = percentile(slowLatency, 0.5) ?? Number.NaN;
    const p95 = percentile(slowLatency, 0.95) ?? Number.NaN;
    const healthyP95 = percentile(latencies(healthyFrames, started), 0.95) ?? Number.NaN;
    console.log(
      `slow reader (${SLOW_KBIT} kbit/s of a ${STREAM.kbit} kbit/s stream), from ${WARM_UP_MS / 1000} s on: ` +
        `${slowLatency.length} frames, latency p50 ${Math.round(p50)} ms, p95 ${Math.round(p95)} ms ` +
        `(bound ${LATENCY_BOUND_MS} ms); healthy viewer: ${healthyFrames.length}/${sent} frames, p95 ${healthyP95} ms`,
    );
    if (!(p95 <= LATENCY_BOUND_MS)) {
      const links = log.filter((l) => l.includes('viewer-link')).map((l) => `  ${l}`);
      console.log(`per second:\n  ${timeline.join('\n  ')}\nserver log:\n${links.join('\n')}`);
    }

    assert.ok(slowLatency.length > 0, 'the slow viewer got frames after the warm-up');
    assert.ok(
      p95 <= LATENCY_BOUND_MS,
      `slow viewer's latency p95 ${Math.round(p95)} ms > ${LATENCY_BOUND_MS} ms`,
    );
    // Open at the end of a run four times the idle timeout: its answers were never stuck behind its backlog.
    assert.equal(slow.closed, false, 'the slow viewer was closed');
    assert.deepEqual(slow.errors, [], 'the slow viewer was sent no error (FW_TIMEOUT)');
    assert.ok(
      server.stats().streams[0]?.viewers.some((v) => v.connection === slowConn),
      'the server still has the slow viewer',
    );
    assert.deepEqual(
      log.filter((l) => / closing /.test(l)),
      [],
      'the server closed no connection',
    );
    assert.ok(assertGapsEndOnKeyframes(slow.frames) >= 1, 'the slow viewer skipped runs of frames');
    assert.deepEqual(
      healthyFrames.map((f) => f.seq),
      Array.from({ length: sent }, (_, i) => i),
      'the healthy viewer got every frame',
    );
    assert.ok(healthyP95 <= HEALTHY_BOUND_MS, `healthy viewer's latency p95 ${healthyP95} ms`);
  });
});
