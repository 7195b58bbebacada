/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, killStarted, poll, publishTestPattern, type Result } from '../helpers/cli.js';

/** What ffprobe read from a live URL in `seconds` of media time. */
interface LiveProbe {
  codec: string;
  width: number;
  height: number;
  frames: number;
  firstIsKey: boolean;
}

/** Reads `seconds` of a live URL with ffprobe, decoding every frame; also reports whether the first is a keyframe. */
function probeLive(url: string, seconds: number): Promise<LiveProbe> {
  const args = ['-v', 'error', '-select_streams', 'v:0', '-read_intervals', `%+${seconds}`, '-count_frames'];
  args.push(
    '-show_entries',
    'stream=codec_name,width,height,nb_read_frames:frame=key_frame',
    '-of',
    'json',
    url,
  );
  return new Promise((resolve, reject) => {
    execFile('ffprobe', args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ffprobe ${url}: ${stderr || err.message}`));
      const out = JSON.parse(stdout) as {
        streams: { codec_name: string; width: number; height: number; nb_read_frames: string }[];
        frames: { key_frame: number }[];
      };
      const s = out.streams[0];
      if (!s) return reject(new Error(`no video stream at ${url}`));
      resolve({
        codec: s.codec_name,
        width: s.width,
        height: s.height,
        frames: Number(s.nb_read_frames),
        firstIsKey: out.frames[0]?.key_frame === 1,
      });
    });
  });
}

describe('live video over HTTP for any player', () => {
  let server: RelayServer;
  let browser: Browser;
  const logs: string[] = [];
  const publishers: Promise<Result>[] = [];
  let base = '';

  before(async () => {
    ensureBuilt();
    server = await startServer({ tcpPort: 0, httpPort: 0, log: (l) => logs.push(l) });
    base = `http://127.0.0.1:${server.httpPort}/live/live`;
    // 30 fps for 60 s: long enough for every test below; the after hook ends them.
    publishers.push(
      publishTestPattern(server.tcpPort, 'live', 'vp8', { codec: 'vp8', durationSec: 60, fps: 30 }),
    );
    publishers.push(
      publishTestPattern(server.tcpPort, 'live', 'h264', { codec: 'h264', durationSec: 60, fps: 30 }),
    );
    await poll(
      () => server.stats().streams.filter((s) => s.keyframes > 0).length === 2,
      20_000,
      'both streams',
    );
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await killStarted();
    await Promise.allSettled(publishers);
    await server?.close();
  });

  for (const [file, codec] of [
    ['vp8.webm', 'vp8'],
    ['vp8.mp4', 'vp8'],
    ['h264.mp4', 'h264'],
  ] as const) {
    it(`ffprobe reads 3 s of ${file}: ${codec}, 320x240, starting on a keyframe, ~30 fps`, async () => {
      const p = await probeLive(`${base}/${file}`, 3);
      assert.equal(p.codec, codec);
      assert.deepEqual([p.width, p.height], [320, 240]);
      assert.ok(p.firstIsKey, 'the first frame is a keyframe');
      // 3 s at 30 fps is 90 frames; a live edge may cut a frame or two either way.
      assert.ok(p.frames >= 85 && p.frames <= 95, `decoded ${p.frames} frames`);
    });
  }

  it('plays in a plain <video src> in Chromium (WebM and MP4)', async () => {
    const page = await browser.newPage();
    try {
      for (const file of ['vp8.webm', 'h264.mp4']) {
        await page.setContent(`<video id="v" muted autoplay src="${base}/${file}"></video>`);
        const played = await page.waitForFunction(
          () => {
            const v = document.getElementById('v') as HTMLVideoElement;
            return v.currentTime > 1 && v.videoWidth > 0 ? { width: v.videoWidth, t: v.currentTime } : null;
          },
          undefined,
          { timeout: 20_000 },
        );
        const { width } = (await played.jsonValue()) as { width: number };
        assert.equal(width, 320, `${file} plays at the stream's width`);
      }
    } finally {
      await page.close();
    }
  });

  it('answers 404 for a missing stream, 415 for a container that cannot hold the codec', async () => {
    const missing = await fetch(`${base}/nosuch.webm`);
    assert.equal(missing.status, 404);
    const wrong = await fetch(`${base}/h264.webm`);
    assert.equal(wrong.status, 415);
    const body = (await wrong.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FW_UNSUPPORTED_CODEC');
    assert.match(body.error.message, /h264\.mp4/);
  });

  it('a player that goes away is forgotten: its tap is removed and its end is logged', async () => {
    const req = http.get(`${base}/vp8.webm`);
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    assert.equal(res.headers['content-type'], 'video/webm');
    const taps = () => server.relay.findStream('live', 'vp8')?.taps.size;
    await poll(() => taps() === 1, 5000, 'the tap');
    assert.equal(server.stats().streams.find((s) => s.name === 'vp8')?.players, 1, 'the API counts it');
    req.destroy();
    await poll(() => taps() === 0, 5000, 'the tap to go');
    await poll(
      () => logs.find((l) => / live-end room=live name=vp8 .*reason="closed by viewer"/.test(l)),
      5000,
      'its end line',
    );
  });
});
