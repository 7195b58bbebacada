/// <reference lib="dom" />
// `npm run bench:screen-paint` (issue 18): how smoothly a Chromium page shows a 1080p60 screen share. The
// bench's 1080p60 clip (~5 Mbit/s H.264) is published in real time as a screen stream to `framewire serve`,
// alone or beside the 480p camera clip (`--camera`); one headless Chromium room page watches. It prints,
// over a 10 s window after a 4 s warm-up, each stream's decoded and painted (handed to display) frames per
// second and, for a tile shown by a video element, the frames it presented (requestVideoFrameCallback's
// presentedFrames over 5 s) and dropped (getVideoPlaybackQuality). Figures, not a pass/fail.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium } from '../test/helpers/browser.js';
import { stats } from '../test/helpers/room-page.js';
import { FwLink } from './framewire/link.js';
import { startFramewire } from './framewire/server.js';
import { CAMERA_CLIP, type ClipSpec, ensureClip, loadClip, SCREEN_CLIP } from './lib/clip.js';
import { PacedPublisher } from './lib/pacing.js';

const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ROOM = 'paint';

/** Publishes `spec`'s clip, looped in real time for up to 2 minutes; returns a stopper. */
async function publish(port: number, spec: ClipSpec, name: string, screen: boolean): Promise<() => void> {
  const clip = loadClip(ensureClip(spec), spec);
  const link = await FwLink.connect('tcp', port, 'publisher', 5000);
  const id = await link.publish(ROOM, name, { video: clip.config, screen }, 5000);
  const output = {
    send: (i: number, f: (typeof clip.frames)[number]) =>
      link.sendFrame(id, i, f.key, Math.round((i * 1e6) / clip.fps), f.annexB),
    get backlogBytes() {
      return link.backlogBytes;
    },
  };
  const pacer = new PacedPublisher(output, clip.frames, clip.fps, clip.fps * 120);
  pacer.start(0);
  return () => {
    pacer.stop();
    link.close();
  };
}

interface Counts {
  painted: number;
  decoded: number;
  late: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { camera: { type: 'boolean', default: false } } });
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'framewire-paint-'));
  const server = await startFramewire({
    repo: REPO,
    workDir,
    logFile: path.join(workDir, 'server.log'),
    profileDir: null,
    timeoutMs: 15_000,
  });
  const stops = [await publish(server.tcpPort, SCREEN_CLIP, 'screen', true)];
  if (values.camera) stops.push(await publish(server.tcpPort, CAMERA_CLIP, 'camera', false));
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`http://127.0.0.1:${server.httpPort}/r/${ROOM}?name=viewer&watch`);
    const deadline = performance.now() + 20_000;
    while (((await stats(page)).streams.screen?.framesPainted ?? 0) === 0) {
      if (performance.now() > deadline) throw new Error('the screen tile painted nothing within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 4000));
    const counts = async (): Promise<Record<string, Counts>> => {
      const streams = (await stats(page)).streams as unknown as Record<string, Record<string, number>>;
      return Object.fromEntries(
        Object.entries(streams).map(([k, v]) => [
          k,
          { painted: v.framesPainted ?? 0, decoded: v.framesDecoded ?? 0, late: v.framesLate ?? 0 },
        ]),
      );
    };
    const a = await counts();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const b = await counts();
    const s = (performance.now() - t0) / 1000;
    console.log(
      `1080p60 screen${values.camera ? ' beside a 480p30 camera' : ''}, one Chromium page, ${s.toFixed(1)} s:`,
    );
    for (const [name, end] of Object.entries(b)) {
      const start = a[name] ?? { painted: 0, decoded: 0, late: 0 };
      console.log(
        `  ${name}: decoded ${((end.decoded - start.decoded) / s).toFixed(1)}/s, painted ${((end.painted - start.painted) / s).toFixed(1)}/s, late ${end.late - start.late}`,
      );
    }
    const videos = await page.evaluate(async () => {
      const out: string[] = [];
      for (const v of Array.from(document.querySelectorAll('video'))) {
        const q0 = v.getVideoPlaybackQuality();
        // No named functions in here: tsx would wrap them in a helper the page does not have.
        const p0 = await new Promise<number>((res) =>
          v.requestVideoFrameCallback((_n: number, m: { presentedFrames: number }) => res(m.presentedFrames)),
        );
        const t = performance.now();
        await new Promise((r) => setTimeout(r, 5000));
        const p1 = await new Promise<number>((res) =>
          v.requestVideoFrameCallback((_n: number, m: { presentedFrames: number }) => res(m.presentedFrames)),
        );
        const q1 = v.getVideoPlaybackQuality();
        const secs = (performance.now() - t) / 1000;
        const name = v.closest('[data-stream-name]')?.getAttribute('data-stream-name') ?? '?';
        out.push(
          `  ${name} (video ${v.videoWidth}x${v.videoHeight}): presented ${((p1 - p0) / secs).toFixed(1)}/s, dropped ${q1.droppedVideoFrames - q0.droppedVideoFrames} in ${secs.toFixed(1)} s`,
        );
      }
      return out;
    });
    for (const line of videos) console.log(line);
  } finally {
    await browser.close();
    for (const stop of stops) stop();
    await server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:screen-paint: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
