import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

describe('relay fan-out', () => {
  let server: RelayServer;
  const clients: WireClient[] = [];
  const track = <T extends WireClient>(c: T): T => {
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  it('delivers every frame to 3 viewers, in order, bytes identical', async () => {
    const pub = track(await WireClient.hello(server.tcpPort, 'publisher'));
    const streamId = await pub.publish('fanout', 'cam');
    const viewers = [
      track(await WireClient.hello(server.tcpPort, 'viewer')),
      track(await WireClient.hello(server.tcpPort, 'viewer')),
      track(await WireClient.hello(server.tcpPort, 'viewer')),
    ];
    // Two subscribe to the stream by name, one to the whole room.
    viewers[0]?.send({ type: 'subscribe', requestId: 1, room: 'fanout', name: 'cam' });
    viewers[1]?.send({ type: 'subscribe', requestId: 1, room: 'fanout', name: 'cam' });
    viewers[2]?.send({ type: 'subscribe', requestId: 1, room: 'fanout', name: '' });
    for (const v of viewers) await v.next((m) => m.type === 'stream-added');

    const sent = [];
    for (let seq = 0; seq < 300; seq++) {
      const f = testFrame(streamId, seq, seq % 30 === 0, 500 + (seq % 7) * 300);
      sent.push(f);
      pub.send(f);
      if (seq % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    for (const v of viewers) {
      await v.until(() => v.frames(streamId).length >= sent.length);
      assert.deepEqual(v.frames(streamId), sent);
    }
    const stats = server.stats().streams.find((s) => s.id === streamId);
    assert.equal(stats?.framesIn, 300);
    assert.equal(stats?.viewers.length, 3);
    for (const viewer of stats?.viewers ?? []) assert.equal(viewer.framesDropped, 0);
  });

  it('starts a late joiner on the cached keyframe at once and asks the publisher for a fresh one', async () => {
    const pub = track(await WireClient.hello(server.tcpPort, 'publisher'));
    const streamId = await pub.publish('late', 'cam', {
      codec: 'avc1.42e01e',
      codedWidth: 320,
      codedHeight: 240,
    });
    // Two GOPs: the joiner must get the second keyframe (seq 30) and the deltas after it, nothing older.
    for (let seq = 0; seq < 45; seq++) pub.send(testFrame(streamId, seq, seq % 30 === 0));
    await pub.until(() => server.stats().streams.find((s) => s.id === streamId)?.framesIn === 45);

    const viewer = track(await WireClient.hello(server.tcpPort, 'viewer'));
    viewer.send({ type: 'subscribe', requestId: 7, room: 'late', name: 'cam' });
    const added = await viewer.next((m) => m.type === 'stream-added');
    assert.deepEqual(added, {
      type: 'stream-added',
      streamId,
      room: 'late',
      name: 'cam',
      video: { codec: 'avc1.42e01e', codedWidth: 320, codedHeight: 240 },
    });
    await viewer.until(() => viewer.frames(streamId).length >= 15);
    const frames = viewer.frames(streamId);
    assert.deepEqual(
      frames.map((f) => f.seq),
      Array.from({ length: 15 }, (_, i) => 30 + i),
    );
    assert.equal(frames[0]?.key, true);
    // The stream-added came before the first frame.
    assert.ok(viewer.received.indexOf(added) < viewer.received.indexOf(frames[0] as never));
    await pub.next((m) => m.type === 'keyframe-request' && m.streamId === streamId);

    // Live frames continue after the catch-up.
    pub.send(testFrame(streamId, 45, false));
    await viewer.until(() => viewer.frames(streamId).some((f) => f.seq === 45));
  });

  it('tells room viewers when a stream starts and ends, and forgets it when the publisher leaves', async () => {
    const viewer = track(await WireClient.hello(server.tcpPort, 'viewer'));
    viewer.send({ type: 'subscribe', requestId: 1, room: 'comings', name: '' });
    await viewer.until(() => server.stats().rooms.some((r) => r.name === 'comings'));

    const pub = track(await WireClient.hello(server.tcpPort, 'publisher'));
    const a = await pub.publish('comings', 'a');
    const b = await pub.publish('comings', 'b');
    await viewer.until(() => viewer.received.filter((m) => m.type === 'stream-added').length === 2);
    pub.send(testFrame(a, 0, true));
    pub.send(testFrame(b, 0, true));
    await viewer.until(() => viewer.frames().length === 2);

    pub.send({ type: 'unpublish', streamId: a });
    await viewer.next((m) => m.type === 'stream-removed' && m.streamId === a && m.reason === 'unpublished');
    pub.close();
    await viewer.next((m) => m.type === 'stream-removed' && m.streamId === b && m.reason === 'disconnected');
    assert.equal(
      server.stats().streams.some((s) => s.room === 'comings'),
      false,
    );
    viewer.close();
    await viewer.closed;
    await viewer.until(() => !server.stats().rooms.some((r) => r.name === 'comings'));
  });

  it('refuses a second stream with the same name and a subscribe to a missing stream, keeping the connection', async () => {
    const pub = track(await WireClient.hello(server.tcpPort, 'publisher'));
    await pub.publish('dupe', 'cam');
    pub.send({
      type: 'publish',
      requestId: 99,
      room: 'dupe',
      name: 'cam',
      video: { codec: 'vp8', codedWidth: 1, codedHeight: 1 },
    });
    const err = await pub.next((m) => m.type === 'error' && m.requestId === 99);
    assert.equal(err.type === 'error' && err.code, 'FW_STREAM_EXISTS');

    pub.send({ type: 'subscribe', requestId: 100, room: 'dupe', name: 'nosuch' });
    const missing = await pub.next((m) => m.type === 'error' && m.requestId === 100);
    assert.equal(missing.type === 'error' && missing.code, 'FW_NO_SUCH_STREAM');

    pub.send({
      type: 'publish',
      requestId: 101,
      room: 'no spaces',
      name: 'x',
      video: { codec: 'vp8', codedWidth: 1, codedHeight: 1 },
    });
    const badName = await pub.next((m) => m.type === 'error' && m.requestId === 101);
    assert.equal(badName.type === 'error' && badName.code, 'FW_BAD_NAME');

    // Still connected: a ping is answered.
    pub.send({ type: 'ping', id: 5, time: 123 });
    const pong = await pub.next((m) => m.type === 'pong');
    assert.equal(pong.type === 'pong' && pong.echoTime, 123);
  });
  it("keeps each viewer's latest receiver report and shows it in the stats", async () => {
    const pub = track(await WireClient.hello(server.tcpPort, 'publisher'));
    const streamId = await pub.publish('reports', 'cam');
    const viewer = track(await WireClient.hello(server.tcpPort, 'viewer'));
    viewer.send({ type: 'subscribe', requestId: 1, room: 'reports', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    const report = {
      type: 'receiver-report',
      streamId,
      framesReceived: 10,
      framesDecoded: 9,
      framesDropped: 1,
      framesLate: 0,
      fps: 29.5,
      latencyP50Ms: 41,
      latencyP95Ms: 80,
    } as const;
    viewer.send({ ...report, framesReceived: 5 });
    viewer.send(report);
    // The later report replaces the earlier one.
    const seen = await viewer.until(() => {
      const r = server.stats().streams.find((s) => s.id === streamId)?.viewers[0]?.report;
      return r?.framesReceived === 10 && r;
    });
    const { type: _t, streamId: _s, ...figures } = report;
    assert.deepEqual({ ...seen, at: 0 }, { ...figures, at: 0 });
  });
  it('a viewer of several streams (its writes batched per event-loop turn) gets every frame of each, in order', async () => {
    const pubs = [
      track(await WireClient.hello(server.tcpPort, 'publisher')),
      track(await WireClient.hello(server.tcpPort, 'publisher')),
      track(await WireClient.hello(server.tcpPort, 'publisher')),
    ];
    const ids = [];
    for (const [i, p] of pubs.entries()) ids.push(await p.publish('wall', `cam${i}`));
    const wall = track(await WireClient.hello(server.tcpPort, 'viewer'));
    wall.send({ type: 'subscribe', requestId: 1, room: 'wall', name: '' });
    await wall.until(() => wall.received.filter((m) => m.type === 'stream-added').length === 3);
    const sent = new Map<number, unknown[]>(ids.map((id) => [id, []]));
    for (let seq = 0; seq < 100; seq++) {
      for (const [i, p] of pubs.entries()) {
        const id = ids[i] as number;
        const f = testFrame(id, seq, seq % 25 === 0, 800 + i * 100);
        sent.get(id)?.push(f);
        p.send(f);
      }
      if (seq % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    for (const id of ids) {
      await wall.until(() => wall.frames(id).length === 100);
      assert.deepEqual(wall.frames(id), sent.get(id));
    }
  });
});
