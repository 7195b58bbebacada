import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createH264Parser, type EncodedFrame, flvWallClock } from '../../src/media/depacketize.js';
import { NalType, nalType, parseAvcC, splitAnnexB } from '../../src/media/h264.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

const FFMPEG = ['-hide_banner', '-loglevel', 'error', '-nostdin'];

/** Real x264 output in FLV, as startEncodedSource asks ffmpeg for it. */
function ffmpegFlv(size: string, profile: string, seconds = 2): Uint8Array {
  return execFileSync(
    'ffmpeg',
    [
      ...[...FFMPEG, '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=15`, '-t', String(seconds)],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', profile],
      ...['-pix_fmt', 'yuv420p', '-g', '10', '-bf', '0', '-b:v', '300k', '-f', 'flv', 'pipe:1'],
    ],
    { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 },
  );
}

/** Parses `flv` fed in chunks of pseudo-random sizes (1..97 bytes, then whole tail) to exercise boundaries. */
function parseFlv(flv: Uint8Array): { config: DecoderConfig | null; frames: EncodedFrame[] } {
  const parser = createH264Parser();
  let config: DecoderConfig | null = null;
  const frames: EncodedFrame[] = [];
  let step = 1;
  for (let pos = 0; pos < flv.length; ) {
    const n = pos > flv.length / 2 ? flv.length - pos : step;
    step = (step * 31 + 7) % 97 || 1;
    // Read "a minute after" ffmpeg's clock started: every stamp in the file lies before that moment.
    const out = parser.push(flv.subarray(pos, pos + n), 60_000_000);
    pos += n;
    if (out.config) {
      assert.equal(config, null, 'config reported twice');
      config = out.config;
    }
    frames.push(...out.frames);
  }
  return { config, frames };
}

describe('H.264 from FLV', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-media-h264-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const { config, frames } = parseFlv(ffmpegFlv('320x240', 'baseline'));

  it('yields a config with codec string and size', () => {
    assert.ok(config);
    assert.match(config.codec, /^avc1\.[0-9a-f]{6}$/);
    assert.equal(config.codec.slice(5, 7), '42', 'baseline profile_idc is 66 = 0x42');
    assert.equal(config.codedWidth, 320);
    assert.equal(config.codedHeight, 240);
    assert.equal(config.description, undefined, 'Annex B needs no description');
  });

  it('yields Annex B frames with SPS+PPS+IDR in every keyframe', () => {
    assert.equal(frames.length, 30);
    assert.deepEqual(
      frames.flatMap((f, i) => (f.key ? [i] : [])),
      [0, 10, 20],
    );
    for (const [i, f] of frames.entries()) {
      assert.deepEqual([...f.data.subarray(0, 4)], [0, 0, 0, 1], `frame ${i} starts with a start code`);
      const types = splitAnnexB(f.data).map(nalType);
      if (f.key) {
        for (const t of [NalType.sps, NalType.pps, NalType.idr])
          assert.ok(types.includes(t), `key ${i}: ${types}`);
        assert.ok(types.indexOf(NalType.sps) < types.indexOf(NalType.idr), 'SPS before the IDR slice');
      } else {
        assert.ok(types.includes(NalType.slice) && !types.includes(NalType.idr), `delta ${i}: ${types}`);
      }
    }
    assert.equal(frames[0]?.timestamp, 0);
    assert.ok((frames[29]?.timestamp ?? 0) > 1_900_000, 'timestamps are µs');
  });

  it('writes an Annex B file that ffprobe decodes frame by frame', () => {
    const path = join(dir, 'out.h264');
    writeFileSync(path, Buffer.concat(frames.map((f) => f.data)));
    const probe = execFileSync(
      'ffprobe',
      [
        '-v',
        'error',
        '-count_frames',
        '-show_entries',
        'stream=codec_name,nb_read_frames,width,height',
        '-of',
        'json',
        path,
      ],
      { timeout: 20_000, encoding: 'utf8' },
    );
    const stream = (JSON.parse(probe) as { streams: Array<Record<string, string | number>> }).streams[0];
    assert.equal(stream?.codec_name, 'h264');
    assert.equal(Number(stream?.nb_read_frames), frames.length);
    assert.equal(stream?.width, 320);
  });

  it('reads the cropped size from the SPS (non-16-aligned, High profile)', () => {
    for (const [size, profile] of [
      ['330x198', 'high'],
      ['176x100', 'main'],
    ] as const) {
      const got = parseFlv(ffmpegFlv(size, profile, 0.2));
      const [w, h] = size.split('x').map(Number);
      assert.equal(got.config?.codedWidth, w, `${size} ${profile}`);
      assert.equal(got.config?.codedHeight, h, `${size} ${profile}`);
    }
  });

  it('parses avcC and rejects a malformed one', () => {
    const sps = [0x67, 0x42, 0xc0, 0x0d, 0xaa];
    const pps = [0x68, 0xce];
    const avcc = new Uint8Array([
      1,
      0x42,
      0xc0,
      0x0d,
      0xff,
      0xe1,
      0,
      sps.length,
      ...sps,
      1,
      0,
      pps.length,
      ...pps,
    ]);
    const parsed = parseAvcC(avcc);
    assert.equal(parsed.nalLengthSize, 4);
    assert.deepEqual([...(parsed.sps[0] ?? [])], sps);
    assert.deepEqual([...(parsed.pps[0] ?? [])], pps);
    assert.throws(() => parseAvcC(avcc.subarray(0, 10)), /malformed avcC/);
  });
});

describe('flvWallClock', () => {
  const now = Date.UTC(2026, 11, 2, 5, 30) * 1000; // µs
  const wrap = 2 ** 31;

  it('gives back a stamp taken shortly before now from its low 31 bits', () => {
    const stamped = now / 1000 - 40; // ms, 40 ms before now
    assert.equal(flvWallClock(stamped % wrap, now), stamped * 1000);
  });

  it('holds across the moment the 31 bits wrap', () => {
    const stamped = Math.ceil(now / 1000 / wrap) * wrap - 10; // 10 ms before a wrap
    const later = (stamped + 30) * 1000; // read 30 ms later, after the wrap
    assert.equal(flvWallClock(stamped % wrap, later), stamped * 1000);
  });
});
