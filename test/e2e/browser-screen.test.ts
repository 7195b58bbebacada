/// <reference lib="dom" />
// Sharing a screen from the web app in Chromium: Chromium's fake display capture (the fake-UI flag picks the
// screen in its picker) stands in for a person's screen. The sharer sends its camera and its screen as two
// streams; another page sees both move, the screen's tile marked and wide; the share ends when its track
// does, as when a person clicks the browser's own "Stop sharing". Functions passed to evaluate run in the
// page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, poll } from '../helpers/cli.js';
import { expectLiveTile, startCamera } from '../helpers/room-page.js';

/** The parts of `window.framewire.stats()` this test reads. */
interface ScreenStats {
  publisher: { name: string; framesSent: number } | null;
  screen: null | {
    name: string;
    content: string;
    framerate: number;
    bitrate: number;
    width: number;
    height: number;
    framesSent: number;
  };
  streams: Record<
    string,
    { screen: boolean; width: number; height: number; framesPainted: number; fps: number }
  >;
}

const readStats = (page: Page) =>
  page.evaluate(() => (window as unknown as { framewire: { stats(): ScreenStats } }).framewire.stats());

let server: RelayServer;
let browser: Browser;

async function openRoom(room: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => assert.fail(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

describe('sharing a screen from the web app', { timeout: 120_000 }, () => {
  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a person shares camera and screen at once; another page sees both move, the screen marked and wide; stopping the share ends only it', async (t) => {
    const sharer = await openRoom('share', 'ada');
    const viewer = await openRoom('share', 'bob');
    try {
      await startCamera(sharer);
      await sharer.selectOption('#screen-content', 'motion');
      await sharer.click('#share-screen');
      await poll(
        async () => ((await readStats(sharer)).screen?.framesSent ?? 0) > 0,
        15_000,
        'the screen sent',
      );
      const sent = (await readStats(sharer)).screen;
      t.diagnostic(`screen sent: ${JSON.stringify(sent)}`);
      assert.equal(sent?.content, 'motion');
      assert.equal(sent?.framerate, 60, 'a game is encoded for 60 fps (the fake screen gives 60)');
      assert.ok((sent?.bitrate ?? 0) >= 1_000_000, 'with a bitrate for motion at that size');
      assert.match(sent?.name ?? '', /^ada-screen-/);
      assert.equal(await sharer.textContent('#share-screen'), 'Stop sharing');
      const cameraName = (await readStats(sharer)).publisher?.name ?? '';
      const screenName = sent?.name ?? '';

      // The viewer: both tiles move; the screen's is marked, first and as wide as the grid.
      await expectLiveTile(viewer, cameraName, 15_000);
      await expectLiveTile(viewer, screenName, 15_000);
      const seen = (await readStats(viewer)).streams;
      assert.equal(seen[screenName]?.screen, true);
      assert.equal(seen[cameraName]?.screen, false);
      assert.equal(seen[screenName]?.width, sent?.width, "at the screen's own size");
      // No named functions inside: tsx would wrap them in a helper the page does not have.
      const layout = await viewer.evaluate(
        (names) => {
          const [screen, camera] = [names.screen, names.camera].map((n) =>
            document.querySelector(`[data-stream-name="${n}"]`),
          );
          return {
            screen: screen?.getBoundingClientRect().toJSON(),
            camera: camera?.getBoundingClientRect().toJSON(),
            gridWidth: document.getElementById('grid')?.getBoundingClientRect().width ?? 0,
            marked: screen?.hasAttribute('data-screen') ?? false,
            mark: screen?.querySelector('.tile-screen-mark:not([hidden])')?.textContent ?? null,
            // Which element shows each picture: Chromium has MediaStreamTrackGenerator, so the screen's
            // pictures go to a video in the tile (web/src/picture-sink.ts) and the camera's to its canvas.
            screenShownBy: screen?.querySelector('video:not([hidden])') ? 'video' : 'canvas',
            cameraShownBy: camera?.querySelector('video:not([hidden])') ? 'video' : 'canvas',
            screenVideoSize: (() => {
              const v = screen?.querySelector('video');
              return v ? `${v.videoWidth}x${v.videoHeight}` : null;
            })(),
          };
        },
        { screen: screenName, camera: cameraName },
      );
      t.diagnostic(`viewer layout: ${JSON.stringify(layout)}`);
      assert.ok(layout.marked);
      assert.equal(layout.mark, 'Screen');
      assert.equal(layout.screenShownBy, 'video', 'a screen tile shows a track-fed video');
      assert.equal(layout.cameraShownBy, 'canvas', 'a camera tile keeps its canvas');
      assert.equal(
        layout.screenVideoSize,
        `${sent?.width}x${sent?.height}`,
        'the video plays the decoded size',
      );
      assert.ok(Math.abs((layout.screen?.width ?? 0) - layout.gridWidth) < 2, 'the screen spans the grid');
      assert.ok((layout.screen?.y ?? 0) < (layout.camera?.y ?? 0), 'above the cameras');
      // How smooth is a figure for the bench (bench/README.md), not a test on this shared machine: said only.
      const painted = (await readStats(viewer)).streams[screenName];
      t.diagnostic(`viewer paints the screen at ${painted?.fps} fps, ${painted?.width}x${painted?.height}`);

      // The browser's own "Stop sharing" ends the track: the screen's stream ends, the camera's goes on.
      await sharer.evaluate(() => {
        const video = document.querySelector<HTMLVideoElement>('[data-local-screen] video');
        for (const track of (video?.srcObject as MediaStream | null)?.getTracks() ?? []) track.stop();
      });
      await viewer.waitForSelector(`[data-stream-name="${screenName}"]`, {
        state: 'detached',
        timeout: 10_000,
      });
      await poll(async () => (await readStats(sharer)).screen === null, 5000, 'the sharer to stop sharing');
      assert.equal(await sharer.textContent('#share-screen'), 'Share screen');
      await expectLiveTile(viewer, cameraName, 5000);
    } finally {
      await sharer.context().close();
      await viewer.context().close();
    }
  });

  it('a cancelled share says so and changes nothing else', async () => {
    const page = await openRoom('share-refused', 'cy');
    try {
      // What the browser answers when the person closes its picker. (Headless Chromium without the fake UI
      // shows a picker nobody can answer, and waits forever: the answer is reproduced here instead.)
      await page.evaluate(() => {
        navigator.mediaDevices.getDisplayMedia = () =>
          Promise.reject(new DOMException('denied', 'NotAllowedError'));
      });
      await page.click('#share-screen');
      const message = await page.waitForSelector('p.message:not([hidden])', { timeout: 5000 });
      assert.match((await message.textContent()) ?? '', /Screen sharing was cancelled/);
      assert.equal(await page.textContent('#share-screen'), 'Share screen');
      assert.equal((await readStats(page)).screen, null);
    } finally {
      await page.context().close();
    }
  });
});
