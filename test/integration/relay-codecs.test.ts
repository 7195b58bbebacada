// Protocol v3 through a real server over TCP on 127.0.0.1: viewers declare what they decode (`decoders`),
// publishers hear what every viewer of their room decodes (`room-codecs`), and switch a stream's codec in
// place (`update`), with v1 and v2 peers still served (docs/protocol.md, sections 3 and 7).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type DecoderConfig,
  encodeMessage,
  type FrameMessage,
  frameMessage,
  lengthPrefix,
  type Message,
} from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testAudioFrame, testFrame, WireClient } from '../helpers/wire-client.js';

const VP8: DecoderConfig = { codec: 'vp8', codedWidth: 64, codedHeight: 48 };
const H264: DecoderConfig = { codec: 'avc1.42e01f', codedWidth: 128, codedHeight: 96 };
const OPUS = { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 };

type RoomCodecs = Extract<Message, { type: 'room-codecs' }>;

/** What the publisher was told about `room`, oldest first: each value, null or a list. */
function told(pub: WireClient, room: string): (string[] | null)[] {
  return pub.roomCodecs(room).map((m: RoomCodecs) => m.codecs);
}

/** Waits for the server's error and then the close, and returns the error's code. */
async function closedWith(c: WireClient): Promise<string> {
  const err = await c.next((m) => m.type === 'error');
  await c.closed;
  return (err as Extract<Message, { type: 'error' }>).code;
}

describe('codec choice: decoders, room-codecs and update', () => {
  let server: RelayServer;
  const logs: string[] = [];
  const clients: WireClient[] = [];
  const open = async (role: 'publisher' | 'viewer' | 'peer', version?: number) => {
    const c = await WireClient.hello(server.tcpPort, role, version);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: (line) => logs.push(line),
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  it('tells a publisher what every viewer of its room decodes: after published, and on every change', async () => {
    const pub = await open('publisher');
    const id = await pub.publish('codecs', 'cam', VP8);
    // Right after published, always: nobody watches yet, so nobody restricts.
    await pub.until(() => told(pub, 'codecs').length === 1);
    const publishedAt = pub.received.findIndex((m) => m.type === 'published' && m.streamId === id);
    assert.equal(pub.received[publishedAt + 1]?.type, 'room-codecs', 'the very next message');
    assert.deepStrictEqual(told(pub, 'codecs'), [null]);

    // Two viewers declaring {avc1, vp8} and {vp8}: the intersection, in the documented order.
    const a = await open('viewer');
    a.send({ type: 'decoders', codecs: ['vp8', 'avc1', 'opus'] });
    a.send({ type: 'subscribe', requestId: 1, room: 'codecs', name: '' });
    await pub.until(() => told(pub, 'codecs').length === 2);
    assert.deepStrictEqual(told(pub, 'codecs')[1], ['avc1', 'vp8']);
    const b = await open('viewer');
    b.send({ type: 'decoders', codecs: ['vp8', 'opus'] });
    // A viewer of one stream views the room too.
    b.send({ type: 'subscribe', requestId: 1, room: 'codecs', name: 'cam' });
    await pub.until(() => told(pub, 'codecs').length === 3);
    assert.deepStrictEqual(told(pub, 'codecs')[2], ['vp8']);

    // A viewer that never declared decodes anything: it changes nothing, so nothing is sent.
    const c = await open('viewer');
    c.send({ type: 'subscribe', requestId: 1, room: 'codecs', name: '' });
    await c.next((m) => m.type === 'stream-added');
    await c.barrier();
    await pub.barrier();
    assert.equal(told(pub, 'codecs').length, 3);

    // One leaves: back to what the other decodes.
    b.close();
    await pub.until(() => told(pub, 'codecs').length === 4);
    assert.deepStrictEqual(told(pub, 'codecs')[3], ['avc1', 'vp8']);

    // A declaration replaces the previous one.
    a.send({ type: 'decoders', codecs: ['avc1'] });
    await pub.until(() => told(pub, 'codecs').length === 5);
    assert.deepStrictEqual(told(pub, 'codecs')[4], ['avc1']);
    // The same value again is not news.
    a.send({ type: 'decoders', codecs: ['avc1', 'mp4a'] });
    await a.barrier();
    await pub.barrier();
    assert.equal(told(pub, 'codecs').length, 5);

    // Viewers with nothing in common: an empty list, not null.
    const d = await open('viewer');
    d.send({ type: 'decoders', codecs: ['vp8'] });
    d.send({ type: 'subscribe', requestId: 1, room: 'codecs', name: '' });
    await pub.until(() => told(pub, 'codecs').length === 6);
    assert.deepStrictEqual(told(pub, 'codecs')[5], []);

    // Unsubscribing ends a viewer's say, as leaving does; the undeclared viewer restricts nothing.
    a.send({ type: 'unsubscribe', requestId: 2, room: 'codecs', name: '' });
    await pub.until(() => told(pub, 'codecs').length === 7);
    assert.deepStrictEqual(told(pub, 'codecs')[6], ['vp8']);
    d.close();
    await pub.until(() => told(pub, 'codecs').length === 8);
    assert.deepStrictEqual(told(pub, 'codecs')[7], null);
  });

  it('tells a publisher once for a burst of declarations read together, with the final value', async () => {
    const pub = await open('publisher');
    await pub.publish('burst', 'cam', VP8);
    const v = await open('viewer');
    v.send({ type: 'subscribe', requestId: 1, room: 'burst', name: '' });
    await v.next((m) => m.type === 'stream-added');
    // 200 declarations that flip the room's value each time, in one write.
    const flips = Array.from({ length: 200 }, (_, i) =>
      frameMessage(encodeMessage({ type: 'decoders', codecs: i % 2 === 0 ? ['vp8'] : ['avc1'] })),
    );
    v.sendRaw(Buffer.concat(flips));
    await v.barrier();
    await pub.barrier();
    const values = told(pub, 'burst');
    assert.deepStrictEqual(values.at(-1), ['avc1'], 'the last declaration wins');
    assert.ok(values.length <= 5, `${values.length} room-codecs for 200 declarations`);
  });

  it("does not let a publisher's own decoders bind its own stream (a page in a call watches its room)", async () => {
    const alice = await open('peer');
    const bob = await open('peer');
    // Each publishes a camera and watches the room, declaring what it decodes.
    alice.send({ type: 'decoders', codecs: ['av01', 'vp8'] });
    bob.send({ type: 'decoders', codecs: ['avc1', 'vp8'] });
    alice.send({ type: 'subscribe', requestId: 1, room: 'call', name: '' });
    bob.send({ type: 'subscribe', requestId: 1, room: 'call', name: '' });
    await alice.publish('call', 'alice', VP8);
    await bob.publish('call', 'bob', VP8);
    // Alice's stream is bound by Bob alone, and Bob's by Alice alone.
    await alice.until(() => told(alice, 'call').at(-1)?.join() === 'avc1,vp8');
    await bob.until(() => told(bob, 'call').at(-1)?.join() === 'vp8,av01');
    assert.deepStrictEqual(told(bob, 'call'), [['vp8', 'av01']]);
    // A third peer that decodes only VP8 joins: both hear of it.
    const carol = await open('viewer');
    carol.send({ type: 'decoders', codecs: ['vp8'] });
    carol.send({ type: 'subscribe', requestId: 1, room: 'call', name: '' });
    await alice.until(() => told(alice, 'call').at(-1)?.join() === 'vp8');
    await bob.until(() => told(bob, 'call').at(-1)?.join() === 'vp8');
    // Bob leaving changes Alice's value (Carol remains); Bob's own value went with him.
    bob.close();
    await carol.until(() => carol.received.some((m) => m.type === 'stream-removed'));
    await alice.barrier();
    assert.deepStrictEqual(told(alice, 'call').at(-1), ['vp8']);
  });

  it('never sends room-codecs to a v2 publisher, and a v2 client sending a v3 message is closed', async () => {
    const old = await open('publisher', 2);
    await old.publish('v2room', 'cam', VP8);
    const v = await open('viewer');
    v.send({ type: 'decoders', codecs: ['avc1'] });
    v.send({ type: 'subscribe', requestId: 1, room: 'v2room', name: '' });
    await v.next((m) => m.type === 'stream-added');
    await old.barrier();
    assert.equal(old.roomCodecs().length, 0);
    // The bytes of a v3 message, from a peer that said v2: not a message of its version.
    for (const m of [
      { type: 'decoders', codecs: ['vp8'] },
      { type: 'update', requestId: 1, streamId: 1, video: VP8 },
    ] as Message[]) {
      const c = await open('viewer', 2);
      c.sendRaw(frameMessage(encodeMessage(m, 3)));
      assert.equal(await closedWith(c), 'FW_BAD_MESSAGE');
    }
  });

  it('closes a connection whose decoders list is malformed, and nobody else notices', async () => {
    const pub = await open('publisher');
    const id = await pub.publish('bad', 'cam', VP8);
    const viewer = await open('viewer');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'bad', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    let seq = 0;
    const timer = setInterval(() => pub.send(testFrame(id, seq++, seq % 10 === 1, 200)), 10);
    try {
      const bodies = [
        '08 11', // 17 entries
        '08 01 0004 41564331', // "AVC1": uppercase
        '08 01 0000', // an empty family
        `08 01 0011 ${'61'.repeat(17)}`, // 17 characters
        '08 01 0003 76702e', // "vp.": not a-z 0-9
        '08 02 0003 767038', // a count past the entries
        '22 0003 6c6162 00', // room-codecs is the server's to send
      ];
      for (const hex of bodies) {
        const body = Buffer.from(hex.replace(/\s/g, ''), 'hex');
        const c = await open('viewer');
        c.sendRaw(Buffer.concat([lengthPrefix(body.length), body]));
        const code = await closedWith(c);
        assert.ok(code === 'FW_BAD_MESSAGE' || code === 'FW_TRUNCATED', `${hex}: ${code}`);
      }
      const before = seq;
      await viewer.until(() => viewer.frames(id).some((f) => f.seq >= before + 5));
      const seqs = viewer.frames(id).map((f) => f.seq);
      assert.deepStrictEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i),
        'every frame, in order',
      );
    } finally {
      clearInterval(timer);
    }
  });

  it('switches a stream to another codec in place: v3, v2 and v1 viewers, a late joiner, the stats', async () => {
    const pub = await open('publisher');
    const id = await pub.publishTracks('switch', 'cam', { video: VP8, audio: OPUS });
    const v3 = await open('viewer');
    const v2 = await open('viewer', 2);
    const v1 = await open('viewer', 1);
    for (const v of [v3, v2, v1]) {
      v.send({ type: 'subscribe', requestId: 1, room: 'switch', name: '' });
      await v.next((m) => m.type === 'stream-added');
    }
    // A GOP of VP8 (with sound), delivered to everyone.
    const before: FrameMessage[] = [testFrame(id, 0, true), testAudioFrame(id, 0), testFrame(id, 1, false)];
    for (const f of before) pub.send(f);
    for (const v of [v3, v2]) await v.until(() => v.frames(id).length === 3);
    await v1.until(() => v1.frames(id).length === 2);

    const answer = await pub.update(id, { video: H264, audio: OPUS });
    assert.equal(answer.type, 'published');
    assert.equal((answer as Extract<Message, { type: 'published' }>).streamId, id, 'the same stream');
    // A delta before the new codec's first keyframe: nobody could decode it.
    pub.send(testFrame(id, 2, false));
    const after: FrameMessage[] = [testFrame(id, 3, true), testAudioFrame(id, 1), testFrame(id, 4, false)];
    for (const f of after) pub.send(f);

    const expected = { type: 'stream-added', streamId: id, room: 'switch', name: 'cam', video: H264 };
    // v3: stream-added again, same id, new tracks; no stream-removed; frames from the keyframe on.
    await v3.until(() => v3.frames(id).length === 6);
    const v3Events = v3.received.filter((m) => m.type === 'stream-added' || m.type === 'stream-removed');
    assert.deepStrictEqual(v3Events.at(-1), { ...expected, audio: OPUS });
    assert.equal(v3Events.length, 2);
    const addedAt = v3.received.indexOf(v3Events[1] as Message);
    const afterAdded = v3.received.slice(addedAt + 1).filter((m): m is FrameMessage => m.type === 'frame');
    assert.deepStrictEqual(afterAdded, after, 'from the new keyframe on, the delta before it dropped');
    // v2: the stream ends (reconfigured) and comes back with the same id.
    await v2.until(() => v2.frames(id).length === 6);
    const v2Events = v2.received.filter((m) => m.type === 'stream-added' || m.type === 'stream-removed');
    assert.deepStrictEqual(v2Events.slice(1), [
      { type: 'stream-removed', streamId: id, reason: 'reconfigured' },
      { ...expected, audio: OPUS },
    ]);
    // v1: the same, in its layout (video only), and no audio frames.
    await v1.until(() => v1.frames(id).length === 4);
    const v1Events = v1.received.filter((m) => m.type === 'stream-added' || m.type === 'stream-removed');
    assert.deepStrictEqual(v1Events.slice(1), [
      { type: 'stream-removed', streamId: id, reason: 'reconfigured' },
      expected,
    ]);
    assert.deepStrictEqual(
      v1.frames(id).map((f) => f.seq),
      [0, 1, 3, 4],
    );

    // A late joiner gets the new config and a GOP that starts with the new codec's keyframe.
    const late = await open('viewer');
    late.send({ type: 'subscribe', requestId: 1, room: 'switch', name: 'cam' });
    await late.until(() => late.frames(id).length === 3);
    assert.deepStrictEqual(
      late.received.find((m) => m.type === 'stream-added'),
      { ...expected, audio: OPUS },
    );
    assert.deepStrictEqual(late.frames(id), after);

    // The API shows the new codec; the stream kept its id, counters and viewers.
    const api = (await (await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/switch`)).json()) as {
      streams: { id: number; codec: string; width: number; framesIn: number; viewers: unknown[] }[];
    };
    assert.equal(api.streams.length, 1);
    assert.equal(api.streams[0]?.id, id);
    assert.equal(api.streams[0]?.codec, H264.codec);
    assert.equal(api.streams[0]?.width, 128);
    assert.equal(api.streams[0]?.framesIn, 7);
    assert.equal(api.streams[0]?.viewers.length, 4);
    // Receiver reports on the same id still count.
    v3.send({
      type: 'receiver-report',
      streamId: id,
      framesReceived: 6,
      framesDecoded: 6,
      framesDropped: 0,
      framesLate: 0,
      fps: 30,
      latencyP50Ms: 5,
      latencyP95Ms: 9,
    });
    await v3.barrier();
    const withReport = server.stats().streams.find((s) => s.id === id);
    assert.ok(withReport?.viewers.some((v) => v.report?.framesDecoded === 6));

    // One log line says what changed.
    const lines = logs.filter((l) => / stream-update /.test(l));
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? '',
      new RegExp(
        ` info stream-update stream=${id} room=switch name=cam from="vp8 64x48 \\+ opus 48 kHz mono" to="avc1.42e01f 128x96 \\+ opus 48 kHz mono"$`,
      ),
    );
  });

  it('drops a v1 viewer from a stream that loses its video, and adds it back when video returns', async () => {
    const pub = await open('publisher');
    const id = await pub.publish('camoff', 'cam', VP8);
    const v1 = await open('viewer', 1);
    v1.send({ type: 'subscribe', requestId: 1, room: 'camoff', name: '' });
    await v1.next((m) => m.type === 'stream-added');
    assert.equal((await pub.update(id, { audio: OPUS })).type, 'published');
    await v1.next((m) => m.type === 'stream-removed');
    await v1.barrier();
    assert.equal(server.stats().streams.find((s) => s.id === id)?.viewers.length, 0);
    assert.equal((await pub.update(id, { video: VP8, audio: OPUS })).type, 'published');
    await v1.until(() => v1.received.filter((m) => m.type === 'stream-added').length === 2);
    pub.send(testFrame(id, 0, true));
    await v1.until(() => v1.frames(id).length === 1);
  });

  it('refuses an update of a stream that is not its own, or with no track, and goes on', async () => {
    const owner = await open('publisher');
    const id = await owner.publish('refuse', 'cam', VP8);
    const other = await open('publisher');
    const theirs = await other.update(id, { video: H264 });
    assert.equal(theirs.type, 'error');
    assert.equal((theirs as Extract<Message, { type: 'error' }>).code, 'FW_NO_SUCH_STREAM');
    const none = await owner.update(id, {});
    assert.equal(none.type, 'error');
    assert.equal((none as Extract<Message, { type: 'error' }>).code, 'FW_BAD_MESSAGE');
    const badCodec = await owner.update(id, { video: { ...H264, codec: '' } });
    assert.equal((badCodec as Extract<Message, { type: 'error' }>).code, 'FW_BAD_MESSAGE');
    // Both connections are still open, and the stream still has its first codec.
    await other.barrier();
    await owner.barrier();
    assert.equal(server.stats().streams.find((s) => s.id === id)?.codec, 'vp8');
    assert.equal((await owner.update(id, { video: H264 })).type, 'published');
    assert.equal(server.stats().streams.find((s) => s.id === id)?.codec, H264.codec);
  });

  it('a v4 screen stream reaches v4 viewers marked as a screen, v3 and v2 viewers as a plain stream, and stays one through an update', async () => {
    const pub = await open('publisher');
    const id = await pub.publishTracks('screens', 'desk', { video: H264, audio: OPUS, screen: true });
    const added = async (c: WireClient) => {
      c.send({ type: 'subscribe', requestId: 1, room: 'screens', name: '' });
      const m = await c.next((x) => x.type === 'stream-added' && x.streamId === id);
      return m as Extract<Message, { type: 'stream-added' }>;
    };
    const v4 = await open('viewer');
    const v3 = await open('viewer', 3);
    const v2 = await open('viewer', 2);
    assert.equal((await added(v4)).screen, true);
    for (const old of [v3, v2]) {
      const m = await added(old);
      assert.equal(m.screen, undefined, `a v${old.version} viewer reads no screen bit`);
      assert.deepStrictEqual(m.video, H264);
    }
    // The screen is shared at a new size: still a screen for v4, and the v3 viewer is not cut off.
    pub.send({
      type: 'update',
      requestId: 7,
      streamId: id,
      video: { ...H264, codedWidth: 256 },
      screen: true,
    });
    const again = await v4.next(
      (x) => x.type === 'stream-added' && x.streamId === id && x.video?.codedWidth === 256,
    );
    assert.equal((again as Extract<Message, { type: 'stream-added' }>).screen, true);
    await v3.next((x) => x.type === 'stream-added' && x.streamId === id && x.video?.codedWidth === 256);
    pub.send(testFrame(id, 1, true));
    for (const c of [v4, v3, v2]) await c.next((x) => x.type === 'frame' && x.streamId === id);
    // The HTTP API says so too.
    const room = (await (await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/screens`)).json()) as {
      streams: { name: string; screen: boolean }[];
    };
    assert.deepStrictEqual(
      room.streams.map((s) => [s.name, s.screen]),
      [['desk', true]],
    );
  });

  it('refuses updates beyond its budget (10 at once, then 1 a second) with FW_LIMIT, and the stream goes on', async () => {
    const pub = await open('publisher');
    const id = await pub.publish('churn', 'cam', VP8);
    const answers: string[] = [];
    for (let i = 0; i < 12; i++) {
      const requestId = 100 + i;
      pub.send({ type: 'update', requestId, streamId: id, video: { ...VP8, codedWidth: 64 + 16 * (i % 2) } });
      const m = await pub.next(
        (x) => (x.type === 'published' || x.type === 'error') && x.requestId === requestId,
      );
      answers.push(m.type === 'error' ? m.code : m.type);
    }
    assert.deepStrictEqual(answers.slice(0, 10), Array(10).fill('published'));
    assert.deepStrictEqual(answers.slice(10), ['FW_LIMIT', 'FW_LIMIT']);
    // Refused, not closed: the stream still reaches a viewer.
    const viewer = await open('viewer');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'churn', name: 'cam' });
    await viewer.next((x) => x.type === 'stream-added' && x.streamId === id);
    pub.send(testFrame(id, 1, true));
    await viewer.next((x) => x.type === 'frame' && x.streamId === id);
  });
});
