import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeMessage, frameMessage } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

describe('faults: peers that vanish mid-stream', () => {
  let server: RelayServer;
  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  });
  after(async () => {
    await server.close();
  });

  it('a publisher killed in the middle of a frame: viewers get stream-removed, the server forgets it', async () => {
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const viewer = await WireClient.hello(server.tcpPort, 'viewer');
    const id = await pub.publish('faults', 'cam');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'faults', name: '' });
    await viewer.next((m) => m.type === 'stream-added');
    pub.send(testFrame(id, 0, true, 5000));
    await viewer.until(() => viewer.frames(id).length === 1);
    // Half a frame, then a reset: the server holds a partial message when the socket dies.
    const half = frameMessage(encodeMessage(testFrame(id, 1, false, 50_000)));
    pub.sendRaw(half.subarray(0, half.length / 2));
    await new Promise((r) => setTimeout(r, 50));
    pub.socket.resetAndDestroy();
    const removed = await viewer.next((m) => m.type === 'stream-removed');
    assert.equal(removed.type === 'stream-removed' && removed.reason, 'disconnected');
    assert.equal(viewer.frames(id).length, 1, 'the partial frame was never relayed');
    await viewer.until(() => server.stats().streams.length === 0);
    viewer.close();
    await viewer.until(() => server.stats().connections === 0 && server.stats().rooms.length === 0);
  });

  it('a viewer whose connection is reset: its subscription goes, the others and the publisher carry on', async () => {
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const gone = await WireClient.hello(server.tcpPort, 'viewer');
    const stays = await WireClient.hello(server.tcpPort, 'viewer');
    const id = await pub.publish('faults', 'cam2');
    for (const v of [gone, stays]) {
      v.send({ type: 'subscribe', requestId: 1, room: 'faults', name: 'cam2' });
      await v.next((m) => m.type === 'stream-added');
    }
    let seq = 0;
    const timer = setInterval(() => pub.send(testFrame(id, seq++, seq % 10 === 1, 3000)), 5);
    await stays.until(() => stays.frames(id).length > 10);
    gone.socket.resetAndDestroy();
    await stays.until(() => server.stats().streams[0]?.viewers.length === 1);
    const before = seq;
    await stays.until(() => stays.frames(id).some((f) => f.seq > before + 10));
    clearInterval(timer);
    const seqs = stays.frames(id).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i),
    );
    pub.close();
    stays.close();
    await stays.until(() => server.stats().connections === 0);
  });
});
