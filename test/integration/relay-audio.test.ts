// Audio through a real server over TCP on 127.0.0.1 (protocol v2), and what a protocol v1 peer gets from
// it: video only, the v1 layouts, and nothing of a stream without video (docs/protocol.md section 7).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FrameMessage, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testAudioFrame, testFrame, WireClient } from '../helpers/wire-client.js';

const VIDEO = { codec: 'vp8', codedWidth: 64, codedHeight: 48 };
const OPUS = { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 };

interface RoomStream {
  name: string;
  codec: string | null;
  audio: { codec: string; level: number; speaking: boolean } | null;
}

describe('audio through the relay, and v1 peers', () => {
  let server: RelayServer;
  const clients: WireClient[] = [];
  const open = async (role: 'publisher' | 'viewer', version?: number) => {
    const c = await WireClient.hello(server.tcpPort, role, version);
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

  it('relays audio frames beside video byte for byte, and a late joiner hears the audio since the keyframe', async () => {
    const pub = await open('publisher');
    const id = await pub.publishTracks('call', 'alice', { video: VIDEO, audio: OPUS });
    const early = await open('viewer');
    early.send({ type: 'subscribe', requestId: 1, room: 'call', name: 'alice' });
    const added = await early.next((m) => m.type === 'stream-added');
    assert.deepStrictEqual(added, {
      type: 'stream-added',
      streamId: id,
      room: 'call',
      name: 'alice',
      video: VIDEO,
      audio: OPUS,
    });
    const sent: FrameMessage[] = [testFrame(id, 0, true, 500)];
    for (let i = 0; i < 5; i++) sent.push(testAudioFrame(id, i, 0x80 | 12), testFrame(id, i + 1, false, 300));
    for (const f of sent) pub.send(f);
    await early.until(() => early.frames(id).length === sent.length);
    assert.deepStrictEqual(early.frames(id), sent, 'both tracks, in order, unchanged');

    const late = await open('viewer');
    late.send({ type: 'subscribe', requestId: 2, room: 'call', name: 'alice' });
    await late.until(() => late.frames(id).length === sent.length);
    const kinds = late.frames(id).map((f) => (f.track === 'audio' ? 'a' : f.key ? 'K' : 'v'));
    assert.deepStrictEqual(kinds, ['K', 'a', 'v', 'a', 'v', 'a', 'v', 'a', 'v', 'a', 'v']);
  });

  it('shows each stream’s audio and its publisher’s level in /api/rooms/:room', async () => {
    const pub = await open('publisher');
    const id = await pub.publishTracks('levels', 'bob', { audio: OPUS });
    // Bob speaks at -12 dBov, then falls silent: the API shows the loudest level of its latest window.
    for (let i = 0; i < 20; i++) pub.send(testAudioFrame(id, i, 0x80 | 12));
    const api = `http://127.0.0.1:${server.httpPort}/api/rooms/levels`;
    let bob: RoomStream | undefined;
    for (let i = 0; i < 50 && !bob?.audio?.speaking; i++) {
      await new Promise((r) => setTimeout(r, 100));
      for (let j = 0; j < 5; j++) pub.send(testAudioFrame(id, 20 + i * 5 + j, 0x80 | 12));
      const room = (await (await fetch(api)).json()) as { streams: RoomStream[] };
      bob = room.streams.find((s) => s.name === 'bob');
    }
    assert.equal(bob?.codec, null, 'no video track');
    assert.equal(bob?.audio?.codec, 'opus');
    assert.equal(bob?.audio?.level, -12);
    assert.equal(bob?.audio?.speaking, true);
  });

  it('a frame for a track the stream does not have closes that publisher with FW_BAD_MESSAGE', async () => {
    const pub = await open('publisher');
    const id = await pub.publishTracks('call', 'video-only', { video: VIDEO });
    pub.send(testAudioFrame(id, 0));
    const err = await pub.next((m) => m.type === 'error');
    assert.equal(err.type === 'error' && err.code, 'FW_BAD_MESSAGE');
    await pub.closed;
  });

  it('a v1 viewer gets the video of a stream with audio in v1 layout, and never an audio frame', async () => {
    const pub = await open('publisher');
    const av = await pub.publishTracks('mixed', 'av', { video: VIDEO, audio: OPUS });
    await pub.publishTracks('mixed', 'mic', { audio: OPUS });
    const v1 = await open('viewer', 1);
    const hello = v1.received.find((m) => m.type === 'hello');
    assert.equal(hello?.type === 'hello' && hello.version, 1, 'the server answers in the peer’s version');
    v1.send({ type: 'subscribe', requestId: 1, room: 'mixed', name: '' });
    const added = await v1.next((m) => m.type === 'stream-added');
    assert.deepStrictEqual(added, {
      type: 'stream-added',
      streamId: av,
      room: 'mixed',
      name: 'av',
      video: VIDEO,
    });
    const sent = [
      testFrame(av, 0, true, 200),
      testAudioFrame(av, 0),
      testFrame(av, 1, false, 200),
      testAudioFrame(av, 1),
    ];
    for (const f of sent) pub.send(f);
    await v1.until(() => v1.frames(av).length === 2);
    // A ping after the frames: its pong proves everything before it has been sent and read.
    v1.send({ type: 'ping', id: 0, time: 1 });
    await v1.next((m) => m.type === 'pong');
    assert.deepStrictEqual(v1.frames(av), [sent[0], sent[2]]);
    assert.equal(
      v1.received.filter((m) => m.type === 'stream-added').length,
      1,
      'the audio-only stream does not exist for v1',
    );
    assert.ok(!v1.received.some((m) => m.type === 'error'), 'no error either: v1 simply has no audio');
  });

  it('a v1 publisher’s video reaches v2 viewers, and a hello of a version newer than ours is refused', async () => {
    const pub = await open('publisher', 1);
    const id = await pub.publish('old', 'cam', VIDEO);
    const viewer = await open('viewer');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'old', name: 'cam' });
    const added = await viewer.next((m) => m.type === 'stream-added');
    assert.deepStrictEqual(added, {
      type: 'stream-added',
      streamId: id,
      room: 'old',
      name: 'cam',
      video: VIDEO,
    });
    const frame = testFrame(id, 0, true, 100);
    pub.send(frame);
    await viewer.until(() => viewer.frames(id).length === 1);
    assert.deepStrictEqual(viewer.frames(id), [frame]);

    const future = await WireClient.connect(server.tcpPort);
    clients.push(future);
    future.send({ type: 'hello', version: PROTOCOL_VERSION + 1, role: 'viewer', agent: 'future', token: '' });
    const err = await future.next((m) => m.type === 'error');
    assert.equal(err.type === 'error' && err.code, 'FW_BAD_VERSION');
  });
});
