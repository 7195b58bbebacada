import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MediaError, type MediaErrorCode } from '../../src/media/errors.js';
import { type EncodedFrame, type SourceOptions, startEncodedSource } from '../../src/media/source.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

type Event = { type: 'config'; config: DecoderConfig } | { type: 'frame'; frame: EncodedFrame };

/** Runs a source to its end, recording events in order; rejects on 'error'. */
function run(opts: SourceOptions): Promise<Event[]> {
  const events: Event[] = [];
  const source = startEncodedSource(opts);
  source.on('config', (config) => events.push({ type: 'config', config }));
  source.on('frame', (frame) => events.push({ type: 'frame', frame }));
  return new Promise((resolve, reject) => {
    source.on('end', () => resolve(events));
    source.on('error', reject);
  });
}

/** Resolves with the MediaError a source ends with; fails if it ends normally. */
function errorOf(opts: SourceOptions): Promise<MediaError> {
  const source = startEncodedSource(opts);
  return new Promise((resolve, reject) => {
    source.on('error', resolve);
    source.on('end', () => reject(new Error('expected an error, got end')));
  });
}

async function expectCode(opts: SourceOptions, code: MediaErrorCode): Promise<void> {
  const err = await errorOf(opts);
  assert.ok(err instanceof MediaError);
  assert.equal(err.code, code, err.message);
}

const base = { width: 320, height: 240, fps: 15, bitrate: 300_000 } as const;

describe('startEncodedSource', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-media-source-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const codec of ['vp8', 'h264'] as const) {
    it(`encodes the test pattern to ${codec}`, async () => {
      const started = Date.now() * 1000;
      const events = await run({ ...base, input: { kind: 'test-pattern' }, codec, durationSec: 2 });
      const first = events[0];
      assert.equal(first?.type, 'config', 'config comes before the first frame');
      assert.equal(events.filter((e) => e.type === 'config').length, 1, 'config exactly once');
      assert.match(first.config.codec, codec === 'vp8' ? /^vp8$/ : /^avc1\.[0-9a-f]{6}$/);
      assert.equal(first.config.codedWidth, 320);
      assert.equal(first.config.codedHeight, 240);
      const frames = events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));
      assert.ok(frames.length >= 25 && frames.length <= 35, `${frames.length} frames in 2 s at 15 fps`);
      assert.equal(frames[0]?.key, true, 'first frame is a keyframe');
      assert.equal(frames.filter((f) => f.key).length, 1, 'one keyframe per 2 s');
      for (let i = 1; i < frames.length; i++) {
        const [prev, cur] = [frames[i - 1] as EncodedFrame, frames[i] as EncodedFrame];
        assert.ok(cur.timestamp > prev.timestamp, 'timestamps increase');
        assert.ok(cur.captureTime >= prev.captureTime, 'capture times do not go back');
      }
      // Frames are paced in real time: capture times span most of the 2 s, and are wall-clock µs.
      const span = (frames.at(-1)?.captureTime ?? 0) - (frames[0]?.captureTime ?? 0);
      assert.ok(span > 1_500_000, `frames spread over ${span} µs`);
      assert.ok((frames[0]?.captureTime ?? 0) >= started);
      // Media time counts from the first frame, in step with the capture stamps.
      assert.equal(frames[0]?.timestamp, 0);
      for (const f of frames) assert.equal(f.timestamp, f.captureTime - (frames[0]?.captureTime ?? 0));
    });
  }

  it('stamps each picture when it is scheduled, before it is encoded', async () => {
    // 720p VP8 takes this machine ~10 ms a frame to encode: a stamp taken when the frame is read back
    // (as before) would sit within a fraction of a millisecond of its arrival.
    const fps = 15;
    const source = startEncodedSource({
      ...base,
      width: 1280,
      height: 720,
      fps,
      input: { kind: 'test-pattern' },
      codec: 'vp8',
      durationSec: 2,
    });
    const seen: { frame: EncodedFrame; arrival: number }[] = [];
    source.on('frame', (frame) => seen.push({ frame, arrival: Date.now() * 1000 }));
    await new Promise<void>((resolve, reject) => {
      source.on('end', resolve);
      source.on('error', reject);
    });
    assert.ok(seen.length >= 25, `${seen.length} frames`);
    for (const { frame, arrival } of seen)
      assert.ok(frame.captureTime <= arrival, 'stamped before it arrived');
    const delays = seen.map(({ frame, arrival }) => arrival - frame.captureTime).sort((a, b) => a - b);
    const medianDelay = delays[delays.length >> 1] as number;
    assert.ok(medianDelay >= 1000, `median ${medianDelay} µs from picture to arrival includes encoding`);
    // Stamped at the schedule of the pattern: steps of 1/fps, not the jitter of pipe reads.
    const steps = seen.slice(1).map((s, i) => s.frame.captureTime - (seen[i]?.frame.captureTime ?? 0));
    steps.sort((a, b) => a - b);
    const medianStep = steps[steps.length >> 1] as number;
    assert.ok(Math.abs(medianStep - 1e6 / fps) < 5000, `median step ${medianStep} µs at ${fps} fps`);
  });

  it('encodes a file at its own size unless told', async () => {
    const path = join(dir, 'clip.mp4');
    execFileSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=176x144:rate=25',
        '-t',
        '1',
        '-pix_fmt',
        'yuv420p',
        path,
      ],
      { timeout: 20_000 },
    );
    const events = await run({ fps: 10, bitrate: 200_000, input: { kind: 'file', path }, codec: 'h264' });
    const config = events[0]?.type === 'config' ? events[0].config : null;
    assert.equal(config?.codedWidth, 176);
    assert.equal(config?.codedHeight, 144);
    const frames = events.filter((e) => e.type === 'frame').length;
    assert.ok(frames >= 9 && frames <= 11, `${frames} frames from 1 s at 10 fps`);
  });

  it('stop() ends a running source with end', async () => {
    const source = startEncodedSource({ ...base, input: { kind: 'test-pattern' }, codec: 'vp8' });
    let ended = false;
    source.on('end', () => {
      ended = true;
    });
    await new Promise<void>((resolve, reject) => {
      let n = 0;
      source.on('frame', () => {
        if (++n === 3) resolve();
      });
      source.on('error', reject);
    });
    await source.stop();
    assert.equal(ended, true);
    await source.stop(); // idempotent
  });

  it('FW_FILE_MISSING for a file that does not exist', () =>
    expectCode(
      { ...base, codec: 'vp8', input: { kind: 'file', path: join(dir, 'nope.mp4') } },
      'FW_FILE_MISSING',
    ));

  it('FW_CAMERA_MISSING for a device that does not exist', () =>
    expectCode(
      { ...base, codec: 'vp8', input: { kind: 'camera', device: '/dev/video99' } },
      'FW_CAMERA_MISSING',
    ));

  it('FW_FFMPEG_MISSING when ffmpeg cannot be found', async () => {
    const err = await errorOf({
      ...base,
      codec: 'h264',
      input: { kind: 'test-pattern' },
      ffmpegPath: '/nonexistent/ffmpeg',
    });
    assert.equal(err.code, 'FW_FFMPEG_MISSING');
    assert.match(err.message, /apt-get install ffmpeg/);
  });

  it('FW_FFMPEG_FAILED with stderr when ffmpeg rejects its input', async () => {
    const path = join(dir, 'garbage.mp4');
    execFileSync('sh', ['-c', `head -c 1000 /dev/zero > ${path}`]);
    const err = await errorOf({ ...base, codec: 'vp8', input: { kind: 'file', path } });
    assert.equal(err.code, 'FW_FFMPEG_FAILED');
    assert.match(err.message, /garbage\.mp4|Invalid data/);
  });
});
