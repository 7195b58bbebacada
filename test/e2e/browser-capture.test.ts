/// <reference lib="dom" />
// The camera's three capture paths (web/src/video-capture.ts), each run in Chromium: the worker path (as in
// Safari 18, where MediaStreamTrackProcessor exists only in a worker) and the <video> element path (as in
// Firefox) are forced with `?video-capture=worker|element`; the other page reads its camera the default way,
// MediaStreamTrackProcessor in the window. Each page must show the other's picture moving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, killStarted, poll, type Served, serve } from '../helpers/cli.js';
import { expectLiveTile, startCamera } from '../helpers/room-page.js';

let server: Served;
let browser: Browser;
const pageErrors: string[] = [];

/** The publisher part of `window.framewire.stats()` this test reads. */
interface CaptureStats {
  publisher: { name: string; capture: string | null; framesCaptured: number; framesSent: number } | null;
  streams: Record<string, { framesPainted: number }>;
}

function captureStats(page: Page): Promise<CaptureStats> {
  return page.evaluate(() =>
    (window as unknown as { framewire: { stats(): CaptureStats } }).framewire.stats(),
  );
}

async function openRoom(room: string, name: string, query = ''): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}${query}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

before(async () => {
  ensureBuilt(['dist/cli/main.js', 'dist/web/index.html']);
  server = await serve();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await killStarted();
});

describe('camera capture paths (Chromium)', { timeout: 120_000 }, () => {
  for (const path of ['worker', 'element'] as const) {
    it(`a page reading its camera through the ${path} path is seen moving, and sees the other page`, async (t) => {
      const room = `capture-${path}`;
      const forced = await openRoom(room, path, `&video-capture=${path}`);
      const plain = await openRoom(room, 'plain');
      try {
        await startCamera(forced);
        await startCamera(plain);
        const [mine, theirs] = await Promise.all([captureStats(forced), captureStats(plain)]);
        assert.equal(
          mine.publisher?.capture,
          path,
          `the forced page read its camera through the ${path} path`,
        );
        assert.equal(theirs.publisher?.capture, 'processor', 'the other page used MediaStreamTrackProcessor');
        const forcedName = mine.publisher?.name ?? '';
        const plainName = theirs.publisher?.name ?? '';
        await expectLiveTile(plain, forcedName, 10_000);
        await expectLiveTile(forced, plainName, 10_000);
        // Over two more seconds the path keeps delivering. Printed, not bounded tightly: the element path runs
        // at the page's rendering rate, which a loaded machine slows (measured 13-27 frames/s here, against
        // the camera's 30); a path that stalls after its first frames delivers none.
        const before = (await captureStats(forced)).publisher;
        const startedAt = Date.now();
        await new Promise((r) => setTimeout(r, 2000));
        const after = (await captureStats(forced)).publisher;
        const seconds = (Date.now() - startedAt) / 1000;
        const captured = ((after?.framesCaptured ?? 0) - (before?.framesCaptured ?? 0)) / seconds;
        const sent = ((after?.framesSent ?? 0) - (before?.framesSent ?? 0)) / seconds;
        t.diagnostic(`${path} path: ${captured.toFixed(1)} frames/s captured, ${sent.toFixed(1)} sent`);
        assert.ok(captured >= 5, `${path} path delivers frames steadily (${captured.toFixed(1)}/s)`);
        const painted = await poll(
          async () => {
            const n = (await captureStats(plain)).streams[forcedName]?.framesPainted ?? 0;
            return n >= 30 ? n : undefined;
          },
          10_000,
          `30 frames of the ${path} path painted`,
        );
        assert.ok(painted >= 30);
        // Stopping the camera ends the path's reading (worker stopped, <video> removed): the button is free
        // again and the page captures no more.
        await forced.click('#start-camera');
        await poll(async () => (await captureStats(forced)).publisher === null, 5000, 'the camera to stop');
        assert.equal(await forced.locator('video[data-video-capture]').count(), 0, 'no capture <video> left');
        assert.deepEqual(pageErrors, []);
      } finally {
        await forced.context().close();
        await plain.context().close();
      }
    });
  }
});
