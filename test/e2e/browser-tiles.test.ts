/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

/**
 * Runs in the page from its start: every 5 ms once the stream has painted, notes whether the tile's caption
 * still says "waiting for video" (timers, not requestAnimationFrame: headless Chromium here paints no
 * animation frames). Stops after 60 looks.
 */
const CAPTION_WATCH = `
  const seen = { waitingOverPicture: 0, checks: 0 };
  window.captionCheck = seen;
  const look = () => {
    const tile = document.querySelector('[data-stream-name="vp8cam"]');
    const caption = tile?.querySelector('.tile-figures')?.textContent ?? '';
    let painted = 0;
    try {
      painted = window.framewire?.stats().streams.vp8cam?.framesPainted ?? 0;
    } catch {}
    if (tile && painted > 0) {
      seen.checks++;
      if (caption.startsWith('waiting')) seen.waitingOverPicture++;
    }
    if (seen.checks < 60) setTimeout(look, 5);
  };
  setTimeout(look, 5);
`;

describe('room page tiles in Chromium', { timeout: 90_000 }, () => {
  let server: RelayServer;
  let browser: Browser;
  let pub: LivePublisher;

  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    browser = await launchChromium();
    pub = await startLivePublisher(server.tcpPort, 'tiles', 'vp8cam', { codec: 'vp8', fps: 30 });
  });
  after(async () => {
    await pub?.stop();
    await browser?.close();
    await server?.close();
  });

  /** Opens the room page at `width`x`height`, with a page-side recorder of the tile's caption set up first. */
  async function open(width: number, height: number, watch: boolean): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    // Looked at every 5 ms from the first paint on: a caption still saying "waiting" while the
    // canvas already shows the picture is what a late joiner saw for up to a second.
    // A string, not a function: tsx would wrap a named function in a `__name` helper the page lacks.
    await page.addInitScript(CAPTION_WATCH);
    await page.goto(`http://127.0.0.1:${server.httpPort}/r/tiles?name=Ada${watch ? '&watch' : ''}`);
    await page.waitForSelector('[data-stream-name="vp8cam"] canvas');
    return page;
  }

  it('a late joiner\'s caption stops saying "waiting for video" as soon as the picture shows', async () => {
    const page = await open(1280, 800, true);
    await page.waitForFunction(
      () => (window as unknown as { captionCheck: { checks: number } }).captionCheck.checks >= 60,
      undefined,
      { timeout: 15_000 },
    );
    const seen = await page.evaluate(
      () =>
        (window as unknown as { captionCheck: { waitingOverPicture: number; checks: number } }).captionCheck,
    );
    assert.equal(
      seen.waitingOverPicture,
      0,
      `"waiting for video" shown over a painted picture in ${seen.waitingOverPicture} of ${seen.checks} looks 5 ms apart`,
    );
    await page.context().close();
  });

  it('shows frames decoded but not painted (late) on the tile, apart from drops', async () => {
    const page = await open(1280, 800, true);
    // The figures come once a second; the late count is the page's own counter.
    const caption = page.locator('[data-stream-name="vp8cam"] .tile-figures');
    await page.waitForFunction(
      () =>
        /\d+ late/.test(
          document.querySelector('[data-stream-name="vp8cam"] .tile-figures')?.textContent ?? '',
        ),
      undefined,
      { timeout: 5000 },
    );
    const shown = Number(/(\d+) late/.exec((await caption.textContent()) ?? '')?.[1]);
    const counted = await page.evaluate(
      () =>
        (
          window as unknown as { framewire: { stats(): { streams: Record<string, { framesLate: number }> } } }
        ).framewire.stats().streams.vp8cam?.framesLate ?? -1,
    );
    assert.ok(shown >= 0 && shown <= counted, `${shown} late shown, ${counted} counted`);
    await page.context().close();
  });

  it('shows a stream by the name it was published under (vp8cam, not Vp8cam)', async () => {
    const page = await open(1280, 800, true);
    assert.equal(await page.textContent('[data-stream-name="vp8cam"] .tile-name'), 'vp8cam');
    await page.context().close();
  });

  for (const { width, height } of [
    // 800x800 wraps the camera bar onto two lines; 1280x600 is a short window (both overflowed before).
    { width: 800, height: 800 },
    { width: 1280, height: 600 },
    { width: 1920, height: 800 },
  ]) {
    it(`one tile fits a ${width}x${height} window with the camera bar, without scrolling`, async () => {
      const page = await open(width, height, false);
      const box = await page.locator('[data-stream-name="vp8cam"]').boundingBox();
      assert.ok(box);
      assert.ok(
        box.y + box.height <= height,
        `the tile ends at ${Math.round(box.y + box.height)} px of ${height}`,
      );
      await page.context().close();
    });
  }
});
