import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_FORMATS, BufferSource, BufferTarget, EncodedPacketSink, Input } from 'mediabunny';
import { createMuxer } from '../../src/media/muxer.js';
import { encodeMessage } from '../../src/protocol/index.js';
import { outgoing } from '../../src/server/core/transport.js';
import { MuxTap } from '../../src/server/recording/mux-tap.js';

const GOP = 10;
const CONFIG = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };
const OPUS = { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 };

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

/** A relayed 20 ms Opus frame (silence, as RFC 6716 codes it) at `ms`, the audio track's frame `seq`. */
function audioFrame(seq: number, ms: number) {
  const body = encodeMessage({
    type: 'frame',
    streamId: 1,
    key: true,
    track: 'audio',
    audioLevel: 127,
    seq,
    timestamp: ms * 1000,
    captureTime: 0,
    payload: Uint8Array.of(0xf8, 0xff, 0xfe),
  });
  return outgoing(body, true);
}

/** Timestamps (ms, WebM's unit, relative to the first) of the packets a WebM holds, read back with mediabunny. */
async function packetTimes(bytes: ArrayBuffer, audio = false): Promise<{ key: boolean; ms: number }[]> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
  const track = audio ? await input.getPrimaryAudioTrack() : await input.getPrimaryVideoTrack();
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
    const muxer = await createMuxer('webm', { video: CONFIG }, target);
    let backlog = 0;
    let ended: (reason: string) => void = () => {};
    const done = new Promise<string>((resolve) => {
      ended = resolve;
    });
    const tap = new MuxTap(
      muxer,
      { maxBacklogBytes: 64 * 1024, maxGopBytes: 1 << 30, maxAudioBacklogBytes: 16 * 1024 },
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
    const muxer = await createMuxer('webm', { video: CONFIG }, new BufferTarget());
    const tap = new MuxTap(
      muxer,
      { maxBacklogBytes: 1 << 30, maxGopBytes: 5_500, maxAudioBacklogBytes: 0 },
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

  it('keeps audio flowing while video is shed, and drops audio only past its own bound', async () => {
    const target = new BufferTarget();
    const muxer = await createMuxer('webm', { video: CONFIG, audio: OPUS }, target);
    let backlog = 0;
    let ended: (reason: string) => void = () => {};
    const done = new Promise<string>((resolve) => {
      ended = resolve;
    });
    const limits = { maxBacklogBytes: 64 * 1024, maxGopBytes: 1 << 30, maxAudioBacklogBytes: 16 * 1024 };
    const tap = new MuxTap(
      muxer,
      limits,
      () => backlog,
      (r) => ended(r),
    );
    // 30 video frames at 33.3 ms and the audio frames (20 ms) between them, in time order.
    let audioSeq = 0;
    const audioUpTo = (ms: number) => {
      while (audioSeq * 20 <= ms) tap.frame(audioFrame(audioSeq, audioSeq++ * 20), true);
    };
    for (let seq = 0; seq < 30; seq++) {
      // Frames 10-19: the reader is behind the video bound, not the audio one. Frame 25: behind both.
      backlog = seq >= 10 && seq < 20 ? 70 * 1024 : seq === 25 ? 100 * 1024 : 0;
      tap.frame(frame(seq).message, frame(seq).key);
      audioUpTo(seq * 33.333);
      // Real frames come a frame interval apart: the muxer takes each before the next.
      await new Promise((resolve) => setImmediate(resolve));
    }
    backlog = 0;
    audioUpTo(1000);
    tap.end('ended');
    assert.equal(await done, 'ended');
    // Video: 0-9 and 20-24 written; 10-19 shed while behind; 25 behind, 26-29 wait for a keyframe.
    assert.equal(tap.framesWritten, 15);
    assert.equal(tap.framesDropped, 15);
    // Audio: every frame but those sent while the backlog was over both bounds, after video frame 25
    // (those at 800 and 820 ms: frame 24 is at 799.99 ms).
    assert.equal(tap.audioFramesDropped, 2);
    assert.equal(tap.audioFramesWritten, audioSeq - 2);
    const audio = await packetTimes(target.buffer as ArrayBuffer, true);
    const video = await packetTimes(target.buffer as ArrayBuffer);
    assert.equal(video.length, 15);
    // The file ends with the last video frame written (24): audio past 10 s ahead of it would be
    // dropped, but this is well within, so the file holds every audio frame the tap wrote, and the
    // muxer's Opus silence in the place of the two it dropped: the sound has no hole.
    assert.equal(audio.length, tap.audioFramesWritten + 2);
    const gaps = audio.slice(1).filter((p, i) => p.ms - (audio[i] as { ms: number }).ms > 20);
    assert.deepEqual(gaps, [], 'the audio has no gap: the dropped frames are filled with silence');
  });
});
