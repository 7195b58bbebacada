import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { encodeMessage, type Message } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';
import { WsWireClient } from '../helpers/ws-client.js';

/** Fetches /metrics over real HTTP and reads each sample line into `name{labels}` → value. */
async function scrape(server: RelayServer): Promise<{ contentType: string; samples: Map<string, number> }> {
  const res = await fetch(`${server.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { contentType: res.headers.get('content-type') ?? '', samples };
}

function sample(samples: Map<string, number>, key: string): number {
  const value = samples.get(key);
  assert.ok(value !== undefined, `/metrics has ${key}`);
  return value;
}

function report(streamId: number, latencyP50Ms: number): Message {
  return {
    type: 'receiver-report',
    streamId,
    framesReceived: 0,
    framesDecoded: 0,
    framesDropped: 0,
    framesLate: 0,
    fps: 30,
    latencyP50Ms,
    latencyP95Ms: latencyP50Ms,
  };
}

describe('GET /metrics', () => {
  let server: RelayServer;
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await server.close();
  });

  it('counts connections, streams, viewers, frames and bytes, and viewer-reported latency', async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const tcpViewer = await WireClient.hello(server.tcpPort, 'viewer');
    const wsViewer = await WsWireClient.hello(server.httpPort);
    closers.push(
      () => pub.close(),
      () => tcpViewer.close(),
      () => wsViewer.close(),
    );
    const streamId = await pub.publish('metrics', 'cam');
    tcpViewer.send({ type: 'subscribe', requestId: 1, room: 'metrics', name: 'cam' });
    wsViewer.send({ type: 'subscribe', requestId: 1, room: 'metrics', name: 'cam' });
    await tcpViewer.next((m) => m.type === 'stream-added');
    await wsViewer.until(() => wsViewer.received.find((m) => m.type === 'stream-added'));

    const frames = 12;
    let bytesIn = 0;
    for (let seq = 0; seq < frames; seq++) {
      const frame = testFrame(streamId, seq, seq % 6 === 0, 500 + seq);
      bytesIn += encodeMessage(frame).length;
      pub.send(frame);
    }
    await tcpViewer.until(() => tcpViewer.frames(streamId).length === frames);
    await wsViewer.until(() => wsViewer.frames(streamId).length === frames);

    // Unknown latency (-1) is not observed; on one connection messages are handled in order, so once the
    // 120 ms report is stored, the -1 before it has been handled too.
    tcpViewer.send(report(streamId, -1));
    tcpViewer.send(report(streamId, 120));
    wsViewer.send(report(streamId, 80));
    await tcpViewer.until(() => {
      const viewers = server.stats().streams[0]?.viewers ?? [];
      return viewers.length === 2 && viewers.every((v) => v.report !== null && v.report.latencyP50Ms > 0);
    });

    const { contentType, samples } = await scrape(server);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(samples, 'framewire_connections{transport="tcp"}'), 2);
    assert.equal(sample(samples, 'framewire_connections{transport="ws"}'), 1);
    assert.equal(sample(samples, 'framewire_connections{transport="tls"}'), 0);
    assert.equal(sample(samples, 'framewire_rooms'), 1);
    assert.equal(sample(samples, 'framewire_streams'), 1);
    assert.equal(sample(samples, 'framewire_viewers'), 2);
    assert.equal(sample(samples, 'framewire_frames_in_total'), frames);
    assert.equal(sample(samples, 'framewire_bytes_in_total'), bytesIn);
    assert.equal(sample(samples, 'framewire_frames_out_total'), 2 * frames);
    assert.equal(sample(samples, 'framewire_bytes_out_total'), 2 * bytesIn);
    assert.equal(sample(samples, 'framewire_frames_dropped_total'), 0);
    assert.equal(sample(samples, 'framewire_queued_bytes'), 0);
    assert.equal(sample(samples, 'framewire_viewer_latency_seconds_count'), 2);
    assert.ok(Math.abs(sample(samples, 'framewire_viewer_latency_seconds_sum') - 0.2) < 1e-9);
    assert.equal(sample(samples, 'framewire_viewer_latency_seconds_bucket{le="0.05"}'), 0);
    assert.equal(sample(samples, 'framewire_viewer_latency_seconds_bucket{le="0.1"}'), 1);
    assert.equal(sample(samples, 'framewire_viewer_latency_seconds_bucket{le="0.25"}'), 2);
    assert.equal(sample(samples, 'framewire_viewer_latency_seconds_bucket{le="+Inf"}'), 2);
    // Process metrics come along (registered once per process, shared by every server in it).
    assert.ok(samples.has('process_cpu_user_seconds_total'));
    assert.ok(samples.has('nodejs_eventloop_lag_seconds'));
  });

  it('counts the frames dropped for a viewer that stops reading', async () => {
    // The test floods far faster than real video, so the per-stream rate limit is lifted here.
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      maxStreamBytesPerSec: 1e12,
      viewerQueueBytes: 256 * 1024,
    });
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const healthy = await WireClient.hello(server.tcpPort, 'viewer');
    const stalled = await WireClient.hello(server.tcpPort, 'viewer');
    closers.push(
      () => pub.close(),
      () => healthy.close(),
      () => stalled.close(),
    );
    const streamId = await pub.publish('metrics', 'cam');
    for (const v of [healthy, stalled]) {
      v.send({ type: 'subscribe', requestId: 1, room: 'metrics', name: 'cam' });
      await v.next((m) => m.type === 'stream-added');
    }
    stalled.socket.pause();
    // ~19 MiB: more than loopback's socket buffers absorb, so the stalled viewer's queue overflows.
    const frames = 1200;
    for (let seq = 0; seq < frames; seq++) {
      pub.send(testFrame(streamId, seq, seq % 25 === 0, 16 * 1024));
      if (seq % 10 === 9)
        await healthy.until(() => healthy.frames(streamId).some((f) => f.seq === seq), 10_000);
    }
    await healthy.until(() => healthy.frames(streamId).length === frames, 10_000);

    // Frames go on at a video pace until the stalled viewer's oldest probe passes the age bound (the
    // flood itself may take less than that): it is then drained.
    let seq = frames;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; seq++) {
      if (server.stats().streams[0]?.viewers.some((v) => v.link === 'draining')) break;
      pub.send(testFrame(streamId, seq, false, 1024));
      await new Promise((r) => setTimeout(r, 50));
    }
    const { samples } = await scrape(server);
    const viewers = server.stats().streams[0]?.viewers ?? [];
    const sum = (pick: (v: (typeof viewers)[number]) => number) => viewers.reduce((n, v) => n + pick(v), 0);
    const dropped = sample(samples, 'framewire_frames_dropped_total');
    assert.ok(dropped > 0, 'the stalled viewer dropped frames');
    assert.equal(
      dropped,
      sum((v) => v.framesDropped),
    );
    assert.equal(
      sample(samples, 'framewire_frames_out_total'),
      sum((v) => v.framesSent),
    );
    // A second server in the process has its own registry: its counts start from zero.
    assert.equal(sample(samples, 'framewire_frames_in_total'), seq);
    // Its backlog sits in the kernel's buffers, past ours: the in-line probes see it and stop sending.
    assert.equal(sample(samples, 'framewire_viewer_links{state="draining"}'), 1, 'the stalled viewer drains');
    assert.equal(sample(samples, 'framewire_viewer_links{state="live"}'), 1, 'the healthy one is live');
    assert.ok(sample(samples, 'framewire_viewer_backlog_max_seconds') > 0.5, 'its backlog passed the bound');
  });

  it('answers only GET and HEAD', async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    const res = await fetch(`${server.httpUrl}/metrics`, { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`${server.httpUrl}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });
});
