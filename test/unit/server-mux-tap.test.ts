import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_FORMATS, BufferSource, BufferTarget, EncodedPacketSink, Input } from 'mediabunny';
import { createMuxer } from '../../src/media/muxer.js';
import { encodeMessage } from '../../src/protocol/index.js';
import { outgoing } from '../../src/server/core/transport.js';
import { MuxTap } from '../../src/server/recording/mux-tap.js';

const GOP = 10;
const CONFIG = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };

/** A relayed VP8 frame: a keyframe carries the VP8 start code and size, so the muxer can read it. */
function frame(seq: number, size = 1000) {
  const key = seq % GOP === 0;
  const payload = new Uint8Array(size);
  if (key) payload.set([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
  else payload[0] = 0x31;
  const body = encodeMessage({
    type: 'frame',
    streamId: 1,
    key,
    seq,
    timestamp: seq * 33_333,
    captureTime: 0,
    payload,
  });
  return { message: outgoing(body), key };
}

/** Timestamps (ms, WebM's unit, relative to the first) of the packets a WebM holds, read back with mediabunny. */
async function packetTimes(bytes: ArrayBuffer): Promise<{ key: boolean; ms: number }[]> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
  const track = await input.getPrimaryVideoTrack();
  assert.ok(track);
  const out: { key: boolean; ms: number }[] = [];
  for await (const p of new EncodedPacketSink(track).packets()) {
    out.push({ key: p.type === 'key', ms: Math.round(p.timestamp * 1000) });
  }
  return out;
}

describe('MuxTap', () => {
  it('drops whole runs up to the next keyframe while behind, and the file holds exactly what it wrote', async () => {
    const target = new BufferTarget();
    const muxer = await createMuxer('webm', CONFIG, target);
    let backlog = 0;
    let ended: (reason: string) => void = () => {};
    const done = new Promise<string>((resolve) => {
      ended = resolve;
    });
    const tap = new MuxTap(
      muxer,
      { maxBacklogBytes: 64 * 1024, maxGopBytes: 1 << 30 },
      () => backlog,
      (r) => ended(r),
    );
    for (let seq = 0; seq < 15; seq++) tap.frame(frame(seq).message, frame(seq).key);
    backlog = 1 << 20; // the reader stalls mid-GOP
    for (let seq = 15; seq < 18; seq++) tap.frame(frame(seq).message, frame(seq).key);
    backlog = 0; // it reads again: the rest of this GOP is still useless to it
    for (let seq = 18; seq < 30; seq++) tap.frame(frame(seq).message, frame(seq).key);
    tap.end('ended');
    assert.equal(await done, 'ended');
    // 0-14 written, 15-19 dropped (3 while behind, 2 waiting for the keyframe), 20-29 written.
    assert.equal(tap.framesWritten, 25);
    assert.equal(tap.framesDropped, 5);
    const packets = await packetTimes(target.buffer as ArrayBuffer);
    assert.equal(packets.length, 25);
    assert.ok(packets[0]?.key && packets[15]?.key, 'the file starts, and resumes, on a keyframe');
    assert.equal(packets[15]?.ms, Math.round(20 * 33.333), 'it resumes at frame 20, leaving a gap in time');
  });

  it('stops holding frames when a GOP outgrows its bound (a publisher that never sends a keyframe)', async () => {
    const muxer = await createMuxer('webm', CONFIG, new BufferTarget());
    const tap = new MuxTap(
      muxer,
      { maxBacklogBytes: 1 << 30, maxGopBytes: 5_500 },
      () => 0,
      () => {},
    );
    for (let seq = 0; seq < 10; seq++) tap.frame(frame(seq).message, frame(seq).key);
    // Each frame is ~1 KB on the wire: five fit the bound, the rest of the GOP is dropped.
    assert.equal(tap.framesDropped, 5);
    tap.frame(frame(10).message, true);
    assert.equal(tap.framesDropped, 5, 'a keyframe starts a new GOP and is taken');
    tap.cancel('test');
  });
});
