import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { MediaError } from '../../src/media/errors.js';
import {
  type IvfFrame,
  type IvfHeader,
  IvfReader,
  parseIvfHeader,
  writeIvfFrameHeader,
  writeIvfHeader,
} from '../../src/media/ivf.js';
import { isVp8Keyframe } from '../../src/media/vp8.js';

/** Two seconds of 320x240 15 fps VP8 from real ffmpeg, keyframe every 10 frames. */
function ffmpegIvf(): Uint8Array {
  return execFileSync(
    'ffmpeg',
    [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=15',
      ],
      ...['-t', '2', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-g', '10', '-b:v', '300k'],
      ...['-f', 'ivf', 'pipe:1'],
    ],
    { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 },
  );
}

/** Deterministic PRNG (mulberry32) so a failing chunking can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parse(chunks: Iterable<Uint8Array>): { header: IvfHeader | null; frames: IvfFrame[] } {
  const reader = new IvfReader();
  let header: IvfHeader | null = null;
  const frames: IvfFrame[] = [];
  for (const chunk of chunks) {
    reader.push(
      chunk,
      (h) => {
        assert.equal(header, null, 'header reported twice');
        header = h;
      },
      // A plain copy: views may be Buffers (from execFileSync) and deepEqual compares prototypes.
      (f) => frames.push({ pts: f.pts, data: Uint8Array.from(f.data) }),
    );
  }
  assert.equal(reader.bufferedBytes, 0);
  return { header, frames };
}

function* split(bytes: Uint8Array, nextSize: () => number): Generator<Uint8Array> {
  for (let pos = 0; pos < bytes.length; ) {
    const n = Math.max(1, nextSize());
    yield bytes.subarray(pos, pos + n);
    pos += n;
  }
}

describe('IVF reader', { timeout: 60_000 }, () => {
  const ivf = ffmpegIvf();
  const whole = parse([ivf]);

  it('parses ffmpeg output whole', () => {
    assert.ok(whole.header);
    assert.equal(whole.header.fourcc, 'VP80');
    assert.equal(whole.header.width, 320);
    assert.equal(whole.header.height, 240);
    assert.equal(whole.frames.length, 30);
    const keys = whole.frames.flatMap((f, i) => (isVp8Keyframe(f.data) ? [i] : []));
    assert.deepEqual(keys, [0, 10, 20]);
  });

  it('gives the same frames for any chunking', () => {
    const sizes: Array<[string, () => number]> = [['1 byte', () => 1]];
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed);
      const max = [13, 300, 5000, ivf.length][seed % 4] as number;
      sizes.push([`seed ${seed} max ${max}`, () => 1 + Math.floor(r() * max)]);
    }
    for (const [label, next] of sizes) {
      const got = parse(split(ivf, next));
      assert.deepEqual(got.header, whole.header, label);
      assert.equal(got.frames.length, whole.frames.length, label);
      got.frames.forEach((f, i) => {
        const w = whole.frames[i] as IvfFrame;
        assert.equal(f.pts, w.pts, `${label} frame ${i} pts`);
        assert.equal(f.data.length, w.data.length, `${label} frame ${i} size`);
        assert.equal(isVp8Keyframe(f.data), isVp8Keyframe(w.data), `${label} frame ${i} key`);
        assert.deepEqual(f.data, w.data, `${label} frame ${i} bytes`);
      });
    }
  });

  it('round-trips through the writer', () => {
    const header: IvfHeader = {
      fourcc: 'VP80',
      width: 1280,
      height: 720,
      timebaseNum: 1,
      timebaseDen: 1_000_000,
      frameCount: 3,
    };
    const frames: IvfFrame[] = [
      { pts: 0, data: new Uint8Array([0x10, 1, 2]) },
      { pts: 33_333, data: new Uint8Array([0x11]) },
      { pts: 2 ** 40 + 5, data: new Uint8Array(70_000).fill(7) },
    ];
    const bytes = [writeIvfHeader(header)];
    for (const f of frames) bytes.push(writeIvfFrameHeader(f.data.length, f.pts), f.data);
    const got = parse(bytes);
    assert.deepEqual(got.header, header);
    assert.deepEqual(got.frames, frames);
  });

  it('rejects a stream that is not IVF, and an absurd frame size', () => {
    assert.throws(
      () => parseIvfHeader(new Uint8Array(32)),
      (e: unknown) => e instanceof MediaError && e.code === 'FW_FFMPEG_FAILED',
    );
    const reader = new IvfReader(1000);
    const header = writeIvfHeader({
      fourcc: 'VP80',
      width: 2,
      height: 2,
      timebaseNum: 1,
      timebaseDen: 30,
      frameCount: 0,
    });
    assert.throws(
      () =>
        reader.push(
          new Uint8Array([...header, ...writeIvfFrameHeader(1001, 0)]),
          () => {},
          () => {},
        ),
      (e: unknown) => e instanceof MediaError && e.code === 'FW_FFMPEG_FAILED',
    );
  });
});
