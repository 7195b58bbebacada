import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { audioSpecificConfig, splitAdts } from '../../src/media/adts.js';
import { levelOfPcm } from '../../src/media/audio-level.js';
import { AudioTrackReader } from '../../src/media/audio-track.js';
import { buildEncodeArgs } from '../../src/media/ffmpeg-args.js';
import { resolveMic } from '../../src/media/mic.js';
import { OggReader } from '../../src/media/ogg.js';
import { createOggOpusParser, opusPacketSamples } from '../../src/media/opus.js';

/** Wall-clock start of the fixture, in 48 kHz samples (2026-12-02, as ffmpeg -copyts would stamp it). */
const START_US = 1_796_000_000_000_000;

/** A 1 s Ogg/Opus fixture made by ffmpeg as the source makes it: stamped with the wall clock, a page a packet. */
function oggOpus(pageDurationUs = 20_000): Buffer {
  return execFileSync('ffmpeg', [
    ...[
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=1000:sample_rate=48000:duration=1',
    ],
    ...['-af', `asettb=AVTB,asetpts=${START_US}+PTS`, '-copyts', '-c:a', 'libopus', '-frame_duration', '20'],
    ...['-f', 'ogg', '-page_duration', String(pageDurationUs), 'pipe:1'],
  ]);
}

describe('Ogg/Opus parser', () => {
  for (const [what, page] of [
    ['a packet a page', 20_000],
    ['many packets a page', 1_000_000],
  ] as const) {
    it(`stamps each packet with the wall clock of its first sample (${what}, fed a byte at a time)`, () => {
      const bytes = oggOpus(page);
      const parser = createOggOpusParser();
      const packets: { captureTime: number; samples: number }[] = [];
      let config = null;
      // Any chunk boundaries: bytes one at a time.
      for (let i = 0; i < bytes.length; i++) {
        const out = parser.push(bytes.subarray(i, i + 1));
        config ??= out.config;
        packets.push(...out.packets);
      }
      assert.equal(config?.codec, 'opus');
      assert.equal(config?.sampleRate, 48000);
      assert.equal(config?.numberOfChannels, 1);
      assert.equal(
        Buffer.from(config?.description ?? [])
          .subarray(0, 8)
          .toString('latin1'),
        'OpusHead',
      );
      // 1 s of 20 ms frames, plus the one that carries the encoder's last lookahead.
      assert.ok(packets.length === 50 || packets.length === 51, `${packets.length} packets`);
      // The first packet starts one pre-skip (312 samples = 6.5 ms for libopus) before the input does: its
      // first 312 decoded samples are the encoder's delay, which the decoder drops.
      assert.equal(packets[0]?.captureTime, Math.round(START_US - (312 * 1e6) / 48000));
      for (let i = 1; i < packets.length; i++) {
        assert.equal(packets[i]?.samples, 960);
        assert.equal((packets[i]?.captureTime ?? 0) - (packets[i - 1]?.captureTime ?? 0), 20_000);
      }
    });
  }

  it('refuses a stream that is not Ogg, and Ogg that is not Opus', () => {
    assert.throws(() => createOggOpusParser().push(new Uint8Array(64).fill(7)), /Ogg/);
    const vorbis = execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=duration=0.2'],
      ...['-c:a', 'flac', '-f', 'ogg', 'pipe:1'],
    ]);
    assert.throws(() => createOggOpusParser().push(vorbis), { code: 'FW_UNSUPPORTED_CODEC' });
  });

  it('joins a packet continued over pages and bounds its size', () => {
    // A hand-made stream: one 300-byte packet laced over two pages (255 | 45), then a page with two.
    const page = (flags: number, granule: number, lacing: number[], body: number[]) => {
      const head = Buffer.alloc(27);
      head.write('OggS', 0, 'latin1');
      head[5] = flags;
      head.writeBigInt64LE(BigInt(granule), 6);
      head[26] = lacing.length;
      return Buffer.concat([head, Buffer.from(lacing), Buffer.from(body)]);
    };
    const big = Array.from({ length: 300 }, (_, i) => i & 0xff);
    const stream = Buffer.concat([
      page(0, -1, [255], big.slice(0, 255)),
      page(1, 960, [45], big.slice(255)),
      page(0, 2880, [2, 3], [1, 2, 3, 4, 5]),
    ]);
    const got: { size: number; granule: number }[] = [];
    new OggReader().push(stream, (p) => got.push({ size: p.data.length, granule: p.granule }));
    assert.deepEqual(got, [
      { size: 300, granule: 960 },
      { size: 2, granule: -1 },
      { size: 3, granule: 2880 },
    ]);
    assert.throws(() => new OggReader(100).push(stream, () => {}), /exceeds 100/);
  });

  it('reads frame durations from the TOC byte (RFC 6716)', () => {
    assert.equal(opusPacketSamples(Uint8Array.of(0xf8)), 960); // CELT 20 ms, one frame
    assert.equal(opusPacketSamples(Uint8Array.of(0xf9)), 1920); // two frames
    assert.equal(opusPacketSamples(Uint8Array.of(0x1b, 0x03)), 3 * 2880); // SILK 60 ms, code 3, three frames
    assert.equal(opusPacketSamples(Uint8Array.of(0x60)), 480); // Hybrid 10 ms
  });
});

describe('audio levels', () => {
  it('gives the RMS level in -dBov, with the voice bit above -50 dBov', () => {
    const tone = Int16Array.from({ length: 960 }, (_, i) =>
      Math.round(16384 * Math.sin((2 * Math.PI * i) / 48)),
    );
    // Half scale sine: RMS -9 dBov.
    assert.equal(levelOfPcm(tone), 0x80 | 9);
    assert.equal(levelOfPcm(new Int16Array(960)), 127);
    assert.equal(levelOfPcm(Int16Array.from({ length: 960 }, () => 8)), 72, 'a -72 dBov hum: no voice bit');
  });

  it('pairs each Opus packet with its stretch of PCM, whichever pipe comes first', () => {
    const bytes = oggOpus();
    const pcm = new Uint8Array(48000 * 2); // 1 s of silence, then the packets get 127
    const reader = new AudioTrackReader();
    const first = reader.pushOgg(bytes);
    // Without PCM, at most a few wait for it; the rest go out unmeasured (as silence) rather than late.
    assert.ok(first.frames.length >= 45 && first.frames.every((f) => f.level === 127));
    const rest = reader.flush();
    assert.ok(rest.length >= 1 && rest.length <= 4, `${rest.length} held for their PCM`);
    // ...and with PCM first, each is measured at once.
    const again = new AudioTrackReader();
    assert.equal(again.pushPcm(pcm).length, 0);
    const frames = again.pushOgg(bytes).frames;
    assert.ok(frames.length >= 50, `${frames.length} frames measured at once`);
  });
});

describe('ADTS', () => {
  it('splits ADTS frames and strips their headers', () => {
    const aac = execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=duration=0.5:sample_rate=44100'],
      ...['-ac', '2', '-c:a', 'aac', '-f', 'adts', 'pipe:1'],
    ]);
    const frames = splitAdts(aac);
    assert.ok(frames && frames.length >= 21, `${frames?.length} frames in 0.5 s`);
    const f = frames[0];
    assert.equal(f?.objectType, 2);
    assert.equal(f?.sampleRateIndex, 4); // 44100
    assert.equal(f?.channelConfig, 2);
    assert.equal(
      frames.reduce((n, x) => n + x.data.length + 7, 0),
      aac.length,
      'every byte is a header or a frame',
    );
    assert.equal(splitAdts(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), null);
  });

  it('writes the AudioSpecificConfig an MP4 would hold', () => {
    assert.deepEqual([...audioSpecificConfig(2, 44100, 2)], [0x12, 0x10]);
    assert.deepEqual([...audioSpecificConfig(2, 48000, 1)], [0x11, 0x88]);
    // A rate outside the table goes in full: escape index 15 and 24 bits.
    assert.equal(audioSpecificConfig(2, 50000, 2).length, 5);
  });
});

describe('publish sound options', () => {
  it('the test pattern beeps at the instant it flashes: one graph, both stamped from its start', () => {
    const args = buildEncodeArgs({
      input: { kind: 'test-pattern' },
      audio: { kind: 'input' },
      codec: 'vp8',
      fps: 15,
      bitrate: 300_000,
    });
    const graph = args[args.indexOf('-filter_complex') + 1] ?? '';
    // The flash and the beep share one gate: 0.1 s from 0.6 s of each second (a tenth of a ms early).
    const gate = /drawbox=[^,]*enable='([^']+)'/.exec(graph)?.[1] ?? '';
    assert.equal(gate, 'gte(mod(t,1),0.5999)*lt(mod(t,1),0.6999)');
    assert.ok(args.some((a) => a.startsWith(`aevalsrc=exprs='if(${gate},`)));
    assert.match(graph, /setpts=RTCSTART\+PTS-STARTPTS\[v\]/);
    assert.match(graph, /asetpts=RTCSTART\+PTS-STARTPTS/);
    assert.ok(args.includes('pipe:3') && args.includes('pipe:4'));
  });

  it('--mic picks PulseAudio when its server is there, else ALSA; prefixes choose', () => {
    assert.deepEqual(resolveMic(undefined, { PULSE_SERVER: 'unix:/x' }), {
      kind: 'mic',
      backend: 'pulse',
      device: 'default',
    });
    assert.equal(resolveMic('', { XDG_RUNTIME_DIR: '/nonexistent' }).backend, 'alsa');
    assert.deepEqual(resolveMic('hw:1,0'), { kind: 'mic', backend: 'alsa', device: 'hw:1,0' });
    assert.deepEqual(resolveMic('pulse:usb'), { kind: 'mic', backend: 'pulse', device: 'usb' });
  });
});
