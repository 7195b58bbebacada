// The muxer fills the silences a DTX publisher leaves unsent, so a recording's sound starts with its
// picture, has no holes, and lasts as long as the picture. Files are read back with mediabunny.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL_FORMATS, BufferSource, BufferTarget, EncodedPacketSink, Input } from 'mediabunny';
import { OPUS_SILENCE_MICROS } from '../../src/media/mux-audio.js';
import { type Container, createMuxer } from '../../src/media/muxer.js';

const VIDEO = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };
const OPUS = { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 };
/** A 20 ms CELT packet that is not the muxer's own silence (TOC 0xf8, then made-up frame bytes). */
const SOUND = Uint8Array.of(0xf8, 0x12, 0x34, 0x56, 0x78);

function vp8(key: boolean): Uint8Array {
  const payload = new Uint8Array(400);
  if (key) payload.set([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
  else payload[0] = 0x31;
  return payload;
}

/**
 * Muxes 2 s of 30 fps video (from input time 5 s, so the file's origin is not 0) with sound only from
 * 0.6 s to 0.8 s and from 1.2 s to 1.3 s, as a DTX publisher sends it; returns the audio packets read back.
 */
async function muxWithSilences(container: Container) {
  const target = new BufferTarget();
  const muxer = await createMuxer(container, { video: VIDEO, audio: OPUS }, target);
  const base = 5_000_000;
  const heard = (ms: number) => (ms >= 600 && ms < 800) || (ms >= 1200 && ms < 1300);
  for (let ms = 0, frame = 0; ms < 2000; ms += 10) {
    if (ms % 20 === 0 && heard(ms)) {
      await muxer.add({ key: true, track: 'audio', timestamp: base + ms * 1000, data: SOUND });
    }
    if (ms >= Math.round(frame * 33.333)) {
      await muxer.add({
        key: frame % 30 === 0,
        timestamp: base + Math.round(frame * 33_333),
        data: vp8(frame % 30 === 0),
      });
      frame++;
    }
  }
  assert.equal(await muxer.finish(), true);
  const input = new Input({ source: new BufferSource(target.buffer as ArrayBuffer), formats: ALL_FORMATS });
  const audio = await input.getPrimaryAudioTrack();
  const video = await input.getPrimaryVideoTrack();
  assert.ok(audio && video, 'both tracks are in the file');
  const packets: { at: number; sound: boolean }[] = [];
  for await (const p of new EncodedPacketSink(audio).packets()) {
    // Every packet here lasts 20 ms (WebM leaves a cluster's last block without a duration).
    packets.push({ at: p.timestamp * 1e6, sound: p.data.length === SOUND.length });
  }
  let lastVideo = 0;
  for await (const p of new EncodedPacketSink(video).packets())
    lastVideo = Math.max(lastVideo, p.timestamp * 1e6);
  return { packets, lastVideo };
}

describe('muxer: silences a DTX publisher leaves out', () => {
  for (const container of ['webm', 'mp4'] as const) {
    it(`${container}: the sound starts with the picture, has no holes and ends with it`, async () => {
      const { packets, lastVideo } = await muxWithSilences(container);
      const starts = packets.map((p) => p.at);
      assert.ok(starts.length > 0);
      assert.ok(Math.abs(starts[0] ?? -1) < 1000, `the sound starts at ${starts[0]} µs, with the picture`);
      const holes = starts.slice(1).flatMap((at, i) => {
        const hole = at - (starts[i] ?? 0) - OPUS_SILENCE_MICROS;
        return hole >= 1000 ? [`${hole} µs after ${starts[i]} µs`] : [];
      });
      assert.deepEqual(holes, [], 'no holes in the sound');
      const end = (starts[starts.length - 1] ?? 0) + OPUS_SILENCE_MICROS;
      assert.ok(
        end >= lastVideo && end - lastVideo <= OPUS_SILENCE_MICROS,
        `sound ends at ${end}, picture at ${lastVideo}`,
      );
      // The publisher's own packets are all there, at their times: 10 + 5 of them.
      const sound = packets.filter((p) => p.sound).map((p) => Math.round(p.at / 1000));
      assert.equal(sound.length, 15);
      assert.equal(sound[0], 600);
      assert.equal(sound[10], 1200);
    });
  }
});
