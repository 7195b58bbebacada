import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MediaError } from '../../src/media/errors.js';
import { createRecorder } from '../../src/media/recorder.js';
import { type EncodedFrame, startEncodedSource } from '../../src/media/source.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

/** Config and frames of a 2 s 320x240 15 fps test pattern, keyframe every second. */
function capture(codec: 'vp8' | 'h264'): Promise<{ config: DecoderConfig; frames: EncodedFrame[] }> {
  const source = startEncodedSource({
    input: { kind: 'test-pattern' },
    codec,
    width: 320,
    height: 240,
    fps: 15,
    bitrate: 300_000,
    keyframeIntervalSec: 1,
    durationSec: 2,
  });
  let config: DecoderConfig | null = null;
  const frames: EncodedFrame[] = [];
  source.on('config', (c) => {
    config = c;
  });
  source.on('frame', (f) => frames.push(f));
  return new Promise((resolve, reject) => {
    source.on('error', reject);
    source.on('end', () => (config ? resolve({ config, frames }) : reject(new Error('no config'))));
  });
}

function probe(path: string): { codec: string; frames: number; start: number } {
  const out = execFileSync(
    'ffprobe',
    [
      ...['-v', 'error', '-count_frames', '-select_streams', 'v:0'],
      ...['-show_entries', 'stream=codec_name,nb_read_frames,start_time', '-of', 'json', path],
    ],
    { timeout: 20_000, encoding: 'utf8' },
  );
  const stream = (JSON.parse(out) as { streams: Array<Record<string, string>> }).streams[0] ?? {};
  return {
    codec: String(stream.codec_name),
    frames: Number(stream.nb_read_frames),
    start: Number(stream.start_time),
  };
}

describe('createRecorder', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-media-recorder-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [codec, ext, name] of [
    ['vp8', '.webm', 'vp8'],
    ['h264', '.mp4', 'h264'],
    ['vp8', '.mp4', 'vp8'],
  ] as const) {
    it(`records ${codec} to ${ext}, starting at the first keyframe and time 0`, async () => {
      const { config, frames } = await capture(codec);
      // Start mid-GOP, as a viewer joining late would: the deltas before the next keyframe are dropped.
      const firstKey = frames.findIndex((f, i) => i > 0 && f.key);
      assert.ok(firstKey > 0, 'a second keyframe exists');
      const path = join(dir, `out-${codec}${ext}`);
      const recorder = await createRecorder(path, { video: config });
      for (const frame of frames.slice(3)) await recorder.add(frame);
      await recorder.finish();
      const got = probe(path);
      assert.equal(got.codec, name);
      assert.equal(got.frames, frames.length - firstKey);
      assert.ok(Math.abs(got.start) < 0.001, `starts at ${got.start}`);
    });
  }

  it('refuses codec/container pairs it cannot write', async () => {
    const h264: DecoderConfig = { codec: 'avc1.42c01e', codedWidth: 320, codedHeight: 240 };
    const isUnsupported = (e: unknown) => e instanceof MediaError && e.code === 'FW_UNSUPPORTED_CODEC';
    await assert.rejects(createRecorder(join(dir, 'x.webm'), { video: h264 }), isUnsupported);
    await assert.rejects(createRecorder(join(dir, 'x.avi'), { video: h264 }), isUnsupported);
    await assert.rejects(
      createRecorder(join(dir, 'x.mp4'), { video: { ...h264, codec: 'hvc1.1.6.L93.B0' } }),
      isUnsupported,
    );
  });

  it('leaves no file when no keyframe ever arrived', async () => {
    const path = join(dir, 'empty.webm');
    const recorder = await createRecorder(path, {
      video: { codec: 'vp8', codedWidth: 320, codedHeight: 240 },
    });
    await recorder.add({ key: false, timestamp: 0, data: new Uint8Array([1, 2, 3]) });
    await recorder.finish();
    assert.equal(existsSync(path), false);
  });
});
