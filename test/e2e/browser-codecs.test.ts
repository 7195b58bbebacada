/// <reference lib="dom" />
// Codecs every viewer decodes, in real Chromium: pages tell the server what they decode, publishers follow
// what the whole room decodes and switch in place, and a page that still cannot decode a stream says so.
// `?decoders=vp8,opus` narrows what a page decodes, as a browser without H.264 would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, killStarted, poll, type Served, serve } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';
import { expectLiveTile, startCamera } from '../helpers/room-page.js';

/** The page's keyframe interval (web/src/publisher.ts): the longest gap a codec switch may leave. */
const KEYFRAME_INTERVAL_MS = 2000;

/** What these tests read of `window.framewire.stats()`. */
interface CodecStats {
  publisher: { name: string; codec: string | null } | null;
  streams: Record<
    string,
    { codec: string | null; framesPainted: number; longestPaintGapMs: number; switchGapMs: number | null }
  >;
}

let server: Served;
let browser: Browser;
const pageErrors: string[] = [];

function codecStats(page: Page): Promise<CodecStats> {
  return page.evaluate(() => (window as unknown as { framewire: { stats(): CodecStats } }).framewire.stats());
}

async function openRoom(room: string, name: string, query = ''): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}${query}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

/** The name `page` publishes under (names get a suffix), once it is publishing. */
async function publishedName(page: Page): Promise<string> {
  return poll(async () => (await codecStats(page)).publisher?.name, 10_000, 'the page publishes');
}

/** Waits until `page` publishes with a codec whose string starts with `prefix`. */
async function expectPublishing(page: Page, prefix: string, withinMs: number): Promise<void> {
  await poll(
    async () => ((await codecStats(page)).publisher?.codec ?? '').startsWith(prefix) || undefined,
    withinMs,
    `the page to publish ${prefix}`,
  );
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

describe('codecs every viewer decodes (Chromium)', { timeout: 180_000 }, () => {
  it('H.264 publishers switch to VP8 when a VP8-only viewer joins, in place, and back when it leaves', async (t) => {
    const room = 'codecs';
    const ada = await openRoom(room, 'ada');
    await startCamera(ada);
    const bob = await openRoom(room, 'bob');
    await startCamera(bob);
    const [adaName, bobName] = [await publishedName(ada), await publishedName(bob)];
    await expectLiveTile(ada, bobName, 10_000);
    await expectLiveTile(bob, adaName, 10_000);
    // Every page decodes H.264 here, so the room stays on the default.
    await expectPublishing(ada, 'avc1', 5000);
    await expectPublishing(bob, 'avc1', 5000);
    const before = (await codecStats(ada)).streams[bobName]?.longestPaintGapMs ?? -1;

    const carol = await openRoom(room, 'carol', '&watch&decoders=vp8,opus');
    try {
      await expectPublishing(ada, 'vp8', 10_000);
      await expectPublishing(bob, 'vp8', 10_000);
      await expectLiveTile(carol, adaName, 10_000);
      await expectLiveTile(carol, bobName, 10_000);
    } catch (err) {
      for (const [who, page] of [
        ['ada', ada],
        ['bob', bob],
        ['carol', carol],
      ] as const)
        t.diagnostic(`${who}: ${JSON.stringify(await codecStats(page))}`);
      throw err;
    }
    // The pages that were watching all along keep watching: same tile, new codec, a short gap, timed by
    // each page from its last H.264 picture to its first VP8 one.
    const switched = async (page: Page, name: string) =>
      poll(
        async () => {
          const s = (await codecStats(page)).streams[name];
          return s?.codec === 'vp8' && s.switchGapMs !== null ? s : undefined;
        },
        10_000,
        `the tile of ${name} to paint after the switch`,
      );
    const [onAda, onBob] = [await switched(ada, bobName), await switched(bob, adaName)];
    t.diagnostic(
      `switch gap: ada←bob ${onAda.switchGapMs} ms, bob←ada ${onBob.switchGapMs} ms ` +
        `(longest gap between pictures before the switch ${before} ms, at any time ${onAda.longestPaintGapMs} ms)`,
    );
    for (const [who, s] of [
      ['ada watching bob', onAda],
      ['bob watching ada', onBob],
    ] as const) {
      // The switch is made before it breaks (the new encoder's first keyframe is the first frame of the
      // new codec), so the gap is a frame or two plus decoder setup: 0.5 s measured, yet 2.2 s once with
      // three pages encoding on 2 cores, where pictures also stalled 0.85 s before any switch. Asserted at
      // two keyframe intervals (a switch that loses the picture longer than that fails); the gap is reported.
      assert.ok(
        (s.switchGapMs ?? Number.POSITIVE_INFINITY) <= 2 * KEYFRAME_INTERVAL_MS,
        `${who}: the switch left a ${s.switchGapMs} ms gap (at most two keyframe intervals, ${2 * KEYFRAME_INTERVAL_MS} ms)`,
      );
    }

    // The VP8-only viewer leaves: the room decodes H.264 again, and the publishers go back to it.
    await carol.context().close();
    await expectPublishing(ada, 'avc1', 10_000);
    await expectPublishing(bob, 'avc1', 10_000);
    await expectLiveTile(ada, bobName, 10_000);
    await ada.context().close();
    await bob.context().close();
  });

  it("a page that cannot decode a stream's codec says so on its tile, naming the codec", async () => {
    let pub: LivePublisher | null = null;
    const page = await openRoom('strict', 'dana', '&watch&decoders=avc1,opus');
    try {
      // The CLI's publisher cannot switch codecs (ffmpeg encodes one): its VP8 stays VP8.
      pub = await startLivePublisher(server.port, 'strict', 'cam', { codec: 'vp8' });
      const text = await poll(
        () =>
          page.evaluate(
            () => document.querySelector('[data-stream-name="cam"] .tile-notice:not([hidden])')?.textContent,
          ),
        10_000,
        'the tile notice',
      );
      assert.match(text, /cannot decode VP8 video/);
      assert.equal((await codecStats(page)).streams.cam?.framesPainted, 0);
    } finally {
      await pub?.stop();
      await page.context().close();
    }
  });

  it('no page threw an uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
