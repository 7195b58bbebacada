// The bench's Ogg Opus clip reader (over src/media/ogg.ts), on hand-made pages (packets across pages,
// lacing edge cases, a second logical stream) and on the clip ffmpeg makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIO_FRAME_MS, ensureAudioClip, loadAudioClip } from '../../bench/lib/audio-clip.js';
import { OggOpusError, readOggOpus } from '../../bench/lib/audio-ogg.js';
import { opusPacketSamples } from '../../src/media/opus.js';

/** One Ogg page (CRC left 0: the reader does not check it). */
function page(serial: number, flags: number, laces: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(27 + laces.length + body.length);
  out.set([0x4f, 0x67, 0x67, 0x53, 0, flags]);
  new DataView(out.buffer).setUint32(14, serial, true);
  out[26] = laces.length;
  out.set(laces, 27);
  out.set(body, 27 + laces.length);
  return out;
}

function filled(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function opusHead(): Uint8Array {
  const h = new Uint8Array(19);
  h.set([...'OpusHead'].map((c) => c.charCodeAt(0)));
  h[8] = 1;
  h[9] = 1;
  new DataView(h.buffer).setUint32(12, 48_000, true);
  return h;
}

const TAGS = new Uint8Array([...'OpusTags'].map((c) => c.charCodeAt(0)).concat([0, 0, 0, 0, 0, 0, 0, 0]));

test('packets are reassembled across pages, by lacing, from the first logical stream only', () => {
  const big = filled(300, 7); // 255 + 45: spans two pages below
  const exact = filled(255, 9); // lacing 255 then 0
  const file = cat(
    page(1, 0x02, [19], opusHead()),
    page(1, 0, [TAGS.length], TAGS),
    page(1, 0, [255], big.subarray(0, 255)),
    page(1, 0x01, [45, 255, 0, 2], cat(big.subarray(255), exact, filled(2, 5))),
    page(2, 0x02, [3], filled(3, 1)), // another logical stream: ignored
  );
  const opus = readOggOpus(file);
  assert.equal(opus.channels, 1);
  assert.equal(opus.inputSampleRate, 48_000);
  assert.deepEqual(
    opus.packets.map((p) => p.length),
    [300, 255, 2],
  );
});

test('bad input is refused with a typed error', () => {
  assert.throws(() => readOggOpus(new Uint8Array(30)), OggOpusError);
  assert.throws(() => readOggOpus(new Uint8Array(0)), /no Ogg packet/);
  assert.throws(() => readOggOpus(page(1, 0, [4], filled(4, 0))), /OpusHead/);
  assert.throws(() => readOggOpus(page(1, 0, [19], opusHead())), /OpusTags/);
});

test('the clip ffmpeg makes is 20 ms mono Opus packets at about 32 kbit/s', () => {
  const clip = loadAudioClip(ensureAudioClip());
  assert.ok(clip.frames.length >= 400, `${clip.frames.length} packets`);
  for (const f of clip.frames) assert.equal(opusPacketSamples(f.data), 48 * AUDIO_FRAME_MS);
  assert.ok(clip.kbps > 20 && clip.kbps < 40, `${clip.kbps} kbit/s`);
  assert.deepEqual(clip.config, { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 });
  // Voice flag set, and the level follows the tone's swell (not one constant byte).
  assert.ok(clip.frames.every((f) => (f.level & 0x80) !== 0));
  assert.ok(new Set(clip.frames.map((f) => f.level)).size > 3);
});
