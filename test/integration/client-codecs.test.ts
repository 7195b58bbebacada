// The Node client library speaking protocol v3 to the real server: a viewer declares its decoders, the
// publisher hears room-codecs, Publication.update switches codec in place, and viewers see it as
// 'stream-updated' (the same streamId), also through a ReconnectingClient.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  connect,
  connectWithReconnect,
  type FramewireClient,
  type ReconnectingClient,
} from '../../src/client/index.js';
import type {
  DecoderConfig,
  FrameMessage,
  RoomCodecsMessage,
  StreamAddedMessage,
} from '../../src/protocol/messages.js';
import { type RelayServer, startServer } from '../../src/server/index.js';

const VP8: DecoderConfig = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };
const H264: DecoderConfig = { codec: 'avc1.42e01f', codedWidth: 640, codedHeight: 480 };

function frame(
  i: number,
  key: boolean,
): { key: boolean; timestamp: number; captureTime: number; data: Uint8Array } {
  return { key, timestamp: i * 33_333, captureTime: Date.now() * 1000, data: Uint8Array.of(i, 1, 2, 3) };
}

/** Resolves once `check()` holds, polling every 10 ms; rejects after 5 s naming `what`. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client library and protocol v3', () => {
  let server: RelayServer;
  const clients: (FramewireClient | ReconnectingClient)[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  it('hears room-codecs, updates a publication, and viewers get stream-updated with the same id', async () => {
    const pub = await connect({ host: '127.0.0.1', port: server.tcpPort, role: 'publisher' });
    clients.push(pub);
    const told: RoomCodecsMessage[] = [];
    pub.on('room-codecs', (m) => told.push(m));
    const publication = await pub.publish('lib', 'cam', { video: VP8 });
    await until(() => told.length === 1, 'the first room-codecs');
    assert.deepStrictEqual(told[0], { type: 'room-codecs', room: 'lib', codecs: null });

    // A ReconnectingClient viewer that decodes H.264 only, and a plain one that never says (decodes all).
    const viewer = await connectWithReconnect({ host: '127.0.0.1', port: server.tcpPort, role: 'viewer' });
    clients.push(viewer);
    viewer.declareDecoders(['avc1', 'opus']);
    const plain = await connect({ host: '127.0.0.1', port: server.tcpPort, role: 'viewer' });
    clients.push(plain);
    const events: string[] = [];
    const updates: [StreamAddedMessage, StreamAddedMessage][] = [];
    const frames: FrameMessage[] = [];
    viewer.on('stream-added', (m) => events.push(`added ${m.streamId} ${m.video?.codec}`));
    viewer.on('stream-updated', (m, previous) => {
      events.push(`updated ${m.streamId} ${m.video?.codec}`);
      updates.push([m, previous]);
    });
    viewer.on('stream-removed', (m) => events.push(`removed ${m.streamId}`));
    viewer.on('frame', (m) => frames.push({ ...m, payload: Uint8Array.from(m.payload) }));
    const plainUpdated = once(plain, 'stream-updated');
    await viewer.subscribe('lib');
    await plain.subscribe('lib', 'cam');
    await until(() => told.length === 2, 'room-codecs after the viewer came');
    assert.deepStrictEqual(told[1]?.codecs, ['avc1']);

    publication.sendFrame(frame(0, true));
    publication.sendFrame(frame(1, false));
    await until(() => frames.length === 2, 'the VP8 frames');

    // The publisher does what room-codecs asks: H.264.
    const updated = publication.update({ video: H264 });
    // Sent right after the update, before its keyframe: the publication itself holds it back.
    assert.equal(publication.sendFrame(frame(2, false)), false);
    await updated;
    assert.deepStrictEqual(publication.tracks, { video: H264 });
    publication.sendFrame(frame(3, true));
    publication.sendFrame(frame(4, false));
    await until(() => frames.length === 4, 'the H.264 frames');
    const [plainMessage] = (await plainUpdated) as [StreamAddedMessage, StreamAddedMessage];
    assert.equal(plainMessage.streamId, publication.streamId);

    const id = publication.streamId;
    assert.deepStrictEqual(events, [`added ${id} vp8`, `updated ${id} avc1.42e01f`]);
    assert.deepStrictEqual(updates[0]?.[1].video, VP8, 'the previous tracks come with the event');
    assert.deepStrictEqual(
      frames.map((f) => [f.seq, f.key]),
      [
        [0, true],
        [1, false],
        [3, true],
        [4, false],
      ],
    );
    assert.equal(server.stats().streams[0]?.codec, H264.codec);
  });

  it("refuses an update the server refuses, keeping the publication's tracks", async () => {
    const pub = await connect({ host: '127.0.0.1', port: server.tcpPort, role: 'publisher' });
    clients.push(pub);
    const publication = await pub.publish('lib', 'refused', { video: VP8 });
    await assert.rejects(publication.update({ video: { ...H264, codec: '' } }), { code: 'FW_BAD_MESSAGE' });
    assert.deepStrictEqual(publication.tracks, { video: VP8 });
    assert.ok(pub.connected);
  });
});
