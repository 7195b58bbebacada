import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { ensureBuilt, poll } from '../helpers/cli.js';
import { launchFirefox } from '../helpers/firefox.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

describe('the web app in Firefox ESR', { timeout: 90_000 }, () => {
  let server: RelayServer;
  let browser: Browser;

  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    browser = await launchFirefox();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('says before any click that it cannot send, with Start camera disabled, and still watches', async () => {
    let pub: LivePublisher | null = null;
    const page = await browser.newPage();
    try {
      pub = await startLivePublisher(server.tcpPort, 'fox', 'cam', { codec: 'vp8' });
      await page.goto(`http://127.0.0.1:${server.httpPort}/r/fox?name=Ada`);
      await page.waitForSelector('#start-camera');
      const button = await page.$eval('#start-camera', (b) => ({
        disabled: (b as HTMLButtonElement).disabled,
        cause: (b as HTMLButtonElement).dataset.unavailable ?? null,
      }));
      assert.deepEqual(
        button,
        { disabled: true, cause: 'browser' },
        'Firefox cannot send: the button says so',
      );
      const note = await page.$eval('#camera-note', (n) => ({
        hidden: (n as HTMLElement).hidden,
        text: n.textContent ?? '',
      }));
      assert.equal(note.hidden, false);
      assert.match(note.text, /cannot send video yet.*Chrom.*watch here/);
      // Watching works: the stream's tile paints frames.
      await page.waitForSelector('[data-stream-name="cam"] canvas', { timeout: 10_000 });
      type Debug = { framewire: { stats(): { streams: Record<string, { framesPainted: number }> } } };
      const painted = () =>
        page.evaluate(() => (window as unknown as Debug).framewire.stats().streams.cam?.framesPainted ?? 0);
      await poll(async () => (await painted()) >= 2, 15_000, 'frames painted in Firefox');
    } finally {
      await page.close();
      await pub?.stop();
    }
  });

  it("plays the tile's plain-video link for VP8 (.webm) in a <video>, which .mp4 never starts in Firefox", async () => {
    let pub: LivePublisher | null = null;
    const page = await browser.newPage();
    try {
      pub = await startLivePublisher(server.tcpPort, 'fox', 'plain', { codec: 'vp8' });
      await page.goto(`http://127.0.0.1:${server.httpPort}/r/fox?name=Ada&watch`);
      const href = await page.waitForSelector('[data-stream-name="plain"] a.tile-link', { timeout: 10_000 });
      const url = await href?.evaluate((a) => (a as HTMLAnchorElement).href);
      assert.match(url ?? '', /\/live\/fox\/plain\.webm$/, 'VP8 is offered as WebM');
      await page.evaluate((src) => {
        const video = document.createElement('video');
        video.id = 'plain-video';
        video.muted = true;
        video.autoplay = true;
        video.src = src;
        document.body.append(video);
      }, url ?? '');
      // HAVE_CURRENT_DATA or better: Firefox has a picture to show (with .mp4 it stayed at 1 for 9 s).
      const ready = () => page.$eval('#plain-video', (v) => (v as HTMLVideoElement).readyState);
      await poll(async () => (await ready()) >= 2, 15_000, 'the <video> to have a picture');
    } finally {
      await page.close();
      await pub?.stop();
    }
  });
});
