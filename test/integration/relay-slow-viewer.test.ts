import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { assertGapsEndOnKeyframes } from '../helpers/gaps.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';
import { WsWireClient } from '../helpers/ws-client.js';

const FRAME_BYTES = 16 * 1024;
const GOP = 25;

describe('a viewer that stops reading', () => {
  let server: RelayServer;
  const clients: WireClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  async function setUp(queue: { viewerQueueBytes: number; viewerQueueAgeMs: number }) {
    // The test floods far faster than real video, so the per-stream rate limit is lifted here.
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      maxStreamBytesPerSec: 1e12,
      ...queue,
    });
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const healthy = await WireClient.hello(server.tcpPort, 'viewer');
    const stalled = await WireClient.hello(server.tcpPort, 'viewer');
    clients.push(pub, healthy, stalled);
    const streamId = await pub.publish('slow', 'cam');
    for (const v of [healthy, stalled]) {
      v.send({ type: 'subscribe', requestId: 1, room: 'slow', name: 'cam' });
      await v.next((m) => m.type === 'stream-added');
    }
    return { pub, healthy, stalled, streamId };
  }

  /** Sends frames [from, to), waiting for the healthy viewer after each batch so it is never behind. */
  async function sendPaced(
    pub: WireClient,
    healthy: WireClient,
    streamId: number,
    from: number,
    to: number,
    sample?: () => void,
  ) {
    for (let seq = from; seq < to; seq++) {
      pub.send(testFrame(streamId, seq, seq % GOP === 0, FRAME_BYTES));
      if (seq % 10 === 9 || seq === to - 1) {
        await healthy.until(() => healthy.frames(streamId).some((f) => f.seq === seq), 10_000);
        sample?.();
      }
    }
  }

  it('sheds to the bytes bound, leaves the others on time, and resumes on a keyframe', async () => {
    const bound = 256 * 1024;
    const { pub, healthy, stalled, streamId } = await setUp({
      viewerQueueBytes: bound,
      viewerQueueAgeMs: 60_000,
    });
    stalled.socket.pause();
    let maxQueued = 0;
    // ~19 MiB: more than the kernel's socket buffers on loopback can absorb, so the relay's queue fills.
    await sendPaced(pub, healthy, streamId, 0, 1200, () => {
      for (const v of server.stats().streams[0]?.viewers ?? [])
        maxQueued = Math.max(maxQueued, v.queuedBytes);
    });
    const [a, b] = server.stats().streams[0]?.viewers ?? [];
    const dropped = Math.max(a?.framesDropped ?? 0, b?.framesDropped ?? 0);
    assert.ok(dropped > 0, 'the stalled viewer dropped frames');
    assert.equal(
      Math.min(a?.framesDropped ?? 1, b?.framesDropped ?? 1),
      0,
      'the healthy viewer dropped none',
    );
    assert.ok(
      maxQueued > 0 && maxQueued <= bound,
      `queued bytes ${maxQueued} stay within the ${bound} bound`,
    );

    stalled.socket.resume();
    await sendPaced(pub, healthy, streamId, 1200, 1260);
    await stalled.until(() => stalled.frames(streamId).some((f) => f.seq === 1259), 10_000);

    assert.deepEqual(
      healthy.frames(streamId).map((f) => f.seq),
      Array.from({ length: 1260 }, (_, i) => i),
    );
    const gaps = assertGapsEndOnKeyframes(stalled.frames(streamId));
    assert.ok(gaps >= 1, 'the stalled viewer skipped at least one run');
    assert.ok(stalled.frames(streamId).length < 1260);
  });

  it('skips ahead when its queued frames grow older than the age bound', async () => {
    const { pub, healthy, stalled, streamId } = await setUp({
      viewerQueueBytes: 512 * 1024 * 1024,
      viewerQueueAgeMs: 200,
    });
    stalled.socket.pause();
    let maxQueued = 0;
    const started = Date.now();
    let seq = 0;
    // Keep sending until the age bound has had time to act once the kernel buffers are full.
    while (Date.now() - started < 3000 || seq < 1200) {
      await sendPaced(pub, healthy, streamId, seq, seq + 50, () => {
        for (const v of server.stats().streams[0]?.viewers ?? [])
          maxQueued = Math.max(maxQueued, v.queuedBytes);
      });
      seq += 50;
      await new Promise((r) => setTimeout(r, 20));
      if (seq >= 4000) break;
    }
    const dropped = Math.max(...(server.stats().streams[0]?.viewers ?? []).map((v) => v.framesDropped));
    assert.ok(dropped > 0, 'frames older than the age bound were dropped');
    assert.ok(maxQueued < 64 * 1024 * 1024, `queue stayed far below the byte bound (${maxQueued})`);
    stalled.socket.resume();
    // It reads its backlog and answers the probe that started its drain: live again, from a keyframe.
    await stalled.until(() => {
      const states = stalled.received.filter((m) => m.type === 'link-state');
      return states.at(-1)?.state === 'live';
    }, 10_000);
    const last = seq - 1;
    await sendPaced(pub, healthy, streamId, seq, seq + 2 * GOP);
    await stalled.until(() => stalled.frames(streamId).some((f) => f.seq === last + 2 * GOP), 10_000);
    assert.ok(assertGapsEndOnKeyframes(stalled.frames(streamId)) >= 1);
  });

  it('sheds and resumes on a keyframe for a WebSocket viewer too (its writes bypass ws)', async () => {
    const bound = 256 * 1024;
    const { pub, healthy, streamId } = await setUp({ viewerQueueBytes: bound, viewerQueueAgeMs: 60_000 });
    const wsViewer = await WsWireClient.hello(server.httpPort);
    try {
      wsViewer.send({ type: 'subscribe', requestId: 1, room: 'slow', name: 'cam' });
      await wsViewer.until(() => wsViewer.received.find((m) => m.type === 'stream-added'));
      wsViewer.ws.pause();
      await sendPaced(pub, healthy, streamId, 0, 1200);
      const viewers = server.stats().streams[0]?.viewers ?? [];
      const ws = viewers.find((v) => v.transport === 'ws');
      assert.ok(ws && ws.framesDropped > 0, 'the stalled WebSocket viewer dropped frames');
      assert.ok(ws.queuedBytes <= bound, `its queue stays within the bound (${ws.queuedBytes})`);
      // Resuming lets the socket drain; the drain event is what refills it.
      wsViewer.ws.resume();
      await sendPaced(pub, healthy, streamId, 1200, 1260);
      await wsViewer.until(() => wsViewer.frames(streamId).some((f) => f.seq === 1259), 10_000);
      assert.ok(assertGapsEndOnKeyframes(wsViewer.frames(streamId)) >= 1);
    } finally {
      wsViewer.close();
    }
  });
});
