import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import {
  backoffDelay,
  connectWithReconnect,
  type ReconnectingClient,
  type ReconnectingPublication,
} from '../../src/client/index.js';
import type { FrameMessage, StreamAddedMessage } from '../../src/protocol/messages.js';
import { type RelayServer, startServer } from '../../src/server/index.js';

const config = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };

/** Resolves with the first value `emitter` gives `event` that satisfies `test`, or rejects at the deadline. */
function waitFor<T>(
  on: (fn: (v: T) => void) => () => void,
  test: (v: T) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const off = on((v) => {
      if (!test(v)) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

function onFrame(c: ReconnectingClient): (fn: (m: FrameMessage) => void) => () => void {
  return (fn) => {
    c.on('frame', fn);
    return () => c.off('frame', fn);
  };
}

it('backoff doubles from the minimum, stops at the maximum, and keeps half of it as jitter', () => {
  assert.equal(
    backoffDelay(0, 250, 5000, () => 1),
    250,
  );
  assert.equal(
    backoffDelay(0, 250, 5000, () => 0),
    125,
  );
  assert.equal(
    backoffDelay(3, 250, 5000, () => 1),
    2000,
  );
  assert.equal(
    backoffDelay(10, 250, 5000, () => 1),
    5000,
  );
  assert.equal(
    backoffDelay(1000, 250, 5000, () => 0),
    2500,
  );
});

let server: RelayServer | null = null;
const clients: ReconnectingClient[] = [];
let ticker: NodeJS.Timeout | undefined;
after(async () => {
  clearInterval(ticker);
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
});

it('re-publishes and re-subscribes after the server restarts on the same port', async () => {
  server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  const port = server.tcpPort;
  const options = { host: '127.0.0.1', port, minDelayMs: 50, maxDelayMs: 200 } as const;
  const publisher = await connectWithReconnect({ ...options, role: 'publisher' });
  const viewer = await connectWithReconnect({ ...options, role: 'viewer' });
  clients.push(publisher, viewer);

  const publication: ReconnectingPublication = await publisher.publish('r', 'cam', { video: config });
  const firstStreamId = publication.streamId;
  await viewer.subscribe('r', 'cam');

  // A steady 50 fps source with a keyframe every 5 frames, as an encoder would produce.
  let i = 0;
  ticker = setInterval(() => {
    publication.sendFrame({
      key: i % 5 === 0,
      timestamp: i * 20_000,
      captureTime: Date.now() * 1000,
      data: new Uint8Array([i & 0xff, 1, 2, 3]),
    });
    i++;
  }, 20);

  await waitFor(onFrame(viewer), (m) => m.streamId === firstStreamId, 'frames before the restart');

  const removed = waitFor<{ streamId: number; reason: string }>(
    (fn) => {
      viewer.on('stream-removed', fn);
      return () => viewer.off('stream-removed', fn);
    },
    (m) => m.streamId === firstStreamId,
    'stream-removed on disconnect',
  );
  const disconnected = new Promise((resolve) => publisher.once('disconnected', resolve));
  await server.close();
  await disconnected;
  await removed;
  assert.equal(publisher.connected, false);

  server = await startServer({ tcpPort: port, httpPort: 0, log: () => {} });
  const added = await waitFor<StreamAddedMessage>(
    (fn) => {
      viewer.on('stream-added', fn);
      return () => viewer.off('stream-added', fn);
    },
    (m) => m.name === 'cam',
    'stream-added after the restart',
  );
  const frame = await waitFor(
    onFrame(viewer),
    (m) => m.streamId === added.streamId,
    'frames after the restart',
  );
  // The new stream starts on a keyframe: deltas after the gap would not decode.
  assert.equal(frame.key, true);
  assert.equal(publication.streamId, added.streamId);
  assert.ok(publication.stats.framesDropped > 0, 'frames offered while disconnected count as dropped');
});
