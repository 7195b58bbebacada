/// <reference lib="dom" />
// The web app on a phone-sized screen (360x740 CSS px): every control of the top bar and camera bar on
// screen, uncovered, apart and big enough to tap; no sideways scroll; tiles in one column; long names cut
// with an ellipsis inside their tile; every <video> plays inline and muted. In Chromium (phone emulation:
// scale 2, touch) with the camera on, in Chromium playing plain video, on the home page, and in Firefox
// watching. Screenshots go to test-artifacts/ for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { startAudioPublisher } from '../helpers/audio-publisher.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, ROOT } from '../helpers/cli.js';
import { launchFirefox } from '../helpers/firefox.js';
import { startLivePublisher } from '../helpers/live-publisher.js';
import { startCamera } from '../helpers/room-page.js';

const WIDTH = 360;
const HEIGHT = 740;
/** A finger needs about this much (CSS px) in height; Apple says 44, Material 48, WCAG's minimum 24. */
const MIN_TARGET_PX = 40;
const ARTIFACTS = join(ROOT, 'test-artifacts');
/** Long enough that the top bar must cut it (64 is the longest a name may be). */
const ROOM = 'phone-layout-room-with-a-name-too-long-for-a-small-screen';
/**
 * A stream name no phone tile can show whole: its tile must ellipsise it, not spill it. It has sound, so its
 * tile also has a level meter and a speaker button (a control to reach), and the page a "Click to hear".
 */
const LONG_STREAM = 'front-door-camera-with-a-stream-name-far-too-long-for-any-phone';

/** The controls a person must be able to reach: the top bar's, the camera bar's, and the room's buttons. */
const ROOM_CONTROLS = [
  '.topbar a[href]',
  '.topbar button',
  '.topbar select',
  '.topbar input',
  '.camera-bar button',
  '.camera-bar select',
  '.camera-bar input',
  '#click-to-hear',
  '.tile-speaker',
].join(', ');
/** The home page's controls: the form's fields and buttons, and each live room's links. */
const HOME_CONTROLS = '.home a[href], .home button, .home input, .home select';
/** Text that may be too long for its box: it must stay inside the screen, and be ellipsised when cut. */
const TEXTS = [
  '.topbar .room-title strong',
  '.tile-name',
  '.tile-figures',
  '.tile-audio-figures',
  '.tile-link-state',
  '.tile-badge',
  '.room-link',
].join(', ');
/** Names that must stay on one line (cut with an ellipsis), not wrap into a column of fragments. */
const ONE_LINE = '.topbar .room-title strong, .tile-name, .room-link';

/** What {@link LAYOUT_CHECK} returns. */
interface LayoutReport {
  problems: string[];
  controls: number;
  tiles: number;
  scrollWidth: number;
  videos: number;
}

/**
 * Runs in the page (Chromium or Firefox) with `opts` = { width, minTarget, controls, texts, oneLine }: every
 * control shown (unless the page hid it with the hidden attribute), inside 0..width, at least minTarget
 * tall, the topmost element at its centre (scrolled into view first), and not overlapping another control;
 * no horizontal scroll; the grid's tiles in one column, each below the last; each text inside the screen
 * (and inside its tile), ellipsised when its box cuts it; each name on one line; every <video> muted,
 * autoplay and playsinline. A string, not a function: tsx would wrap the helpers in a
 * `__name` call the page does not have.
 */
const LAYOUT_CHECK = `async (opts) => {
  const problems = [];
  const W = opts.width;
  const px = (n) => Math.round(n * 10) / 10;
  const label = (e) => {
    const text = (e.getAttribute('aria-label') || e.textContent || e.getAttribute('placeholder') || '').trim();
    const cls = typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '';
    return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls + (text ? ' "' + text.slice(0, 24) + '"' : '');
  };
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && Number(s.opacity) > 0;
  };
  const all = [...document.querySelectorAll(opts.controls)];
  // A control the page did not hide on purpose (the hidden attribute) but the phone layout does: unreachable.
  for (const c of all) if (!shown(c) && !c.closest('[hidden]')) problems.push(label(c) + ' is not shown on a ' + W + ' px screen');
  const controls = all.filter(shown);
  const boxes = [];
  for (const c of controls) {
    c.scrollIntoView({ block: 'center', inline: 'nearest' });
    await new Promise((r) => setTimeout(r, 0));
    const r = c.getBoundingClientRect();
    boxes.push({ c, left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY, bottom: r.bottom + scrollY });
    if (r.left < -0.5 || r.right > W + 0.5) problems.push(label(c) + ' spans x ' + px(r.left) + '..' + px(r.right) + ', off a ' + W + ' px screen');
    if (r.height < opts.minTarget - 0.5) problems.push(label(c) + ' is ' + px(r.height) + ' px tall, under ' + opts.minTarget + ' for a finger');
    const x = Math.min(Math.max(r.left + r.width / 2, 0), W - 1);
    const y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (hit !== c && !(hit && c.contains(hit))) problems.push(label(c) + ' is covered at its centre by ' + (hit ? label(hit) : 'nothing (off screen)'));
  }
  window.scrollTo(0, 0);
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 0.5 && h > 0.5) problems.push(label(a.c) + ' overlaps ' + label(b.c) + ' by ' + px(w) + 'x' + px(h));
    }
  const scrollWidth = document.scrollingElement.scrollWidth;
  if (scrollWidth > W) problems.push('the page scrolls sideways: scrollWidth ' + scrollWidth + ' > ' + W);
  const tiles = [...document.querySelectorAll('#grid > .tile')].filter(shown);
  let previous = null;
  for (const t of tiles) {
    const r = t.getBoundingClientRect();
    if (r.left < -0.5 || r.right > W + 0.5) problems.push('tile ' + label(t) + ' spans x ' + px(r.left) + '..' + px(r.right));
    if (previous && Math.abs(r.left - previous.left) > 0.5) problems.push('tile ' + label(t) + ' starts at x ' + px(r.left) + ', not ' + px(previous.left) + ' like the one before: not one column');
    if (previous && r.top < previous.bottom - 0.5) problems.push('tile ' + label(t) + ' starts at y ' + px(r.top) + ', above the end of the one before (' + px(previous.bottom) + ')');
    previous = r;
  }
  for (const e of [...document.querySelectorAll(opts.texts)].filter(shown)) {
    const r = e.getBoundingClientRect();
    const tile = e.closest('.tile');
    const box = tile ? tile.getBoundingClientRect() : { left: 0, right: W };
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5) problems.push(label(e) + ' spans x ' + px(r.left) + '..' + px(r.right) + ', outside ' + (tile ? 'its tile' : 'the screen') + ' (' + px(box.left) + '..' + px(box.right) + ')');
    const s = getComputedStyle(e);
    if (e.scrollWidth > e.clientWidth + 1 && (s.textOverflow !== 'ellipsis' || s.overflowX === 'visible')) problems.push(label(e) + ' is cut (' + e.scrollWidth + ' px in ' + e.clientWidth + ') with no ellipsis');
  }
  for (const e of [...document.querySelectorAll(opts.oneLine)].filter(shown)) {
    const range = document.createRange();
    range.selectNodeContents(e);
    const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom)));
    if (lines.size > 1) problems.push(label(e) + ' wraps onto ' + lines.size + ' lines instead of being cut with an ellipsis');
  }
  const videos = [...document.querySelectorAll('video')];
  for (const v of videos)
    if (!v.playsInline || !v.muted || !v.autoplay) problems.push(label(v) + ' has playsInline ' + v.playsInline + ', muted ' + v.muted + ', autoplay ' + v.autoplay + ' (a phone needs all three)');
  return { problems, controls: controls.length, tiles: tiles.length, scrollWidth, videos: videos.length };
}`;

/** The check's options for a page whose controls are `controls`. */
function checkOptions(controls: string) {
  return { width: WIDTH, minTarget: MIN_TARGET_PX, controls, texts: TEXTS, oneLine: ONE_LINE };
}

/** Runs {@link LAYOUT_CHECK} in a Playwright page. */
function checkLayout(page: Page, controls: string): Promise<LayoutReport> {
  return page.evaluate(
    `(${LAYOUT_CHECK})(${JSON.stringify(checkOptions(controls))})`,
  ) as Promise<LayoutReport>;
}

/** A phone: 360x740 CSS px at scale 2, touch, with the viewport meta tag honoured (isMobile). */
function phoneContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: WIDTH, height: HEIGHT },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
}

/** Where a screenshot goes, said in the test's output. */
function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** Fails with the report's problems, one a line, after checking there was something to look at. */
function assertLayout(report: LayoutReport, expect: { controls: number; tiles: number }): void {
  assert.deepEqual(
    report.problems,
    [],
    `layout problems at ${WIDTH}x${HEIGHT}:\n${report.problems.join('\n')}`,
  );
  assert.ok(
    report.controls >= expect.controls,
    `${report.controls} controls checked, ${expect.controls} expected`,
  );
  assert.ok(report.tiles >= expect.tiles, `${report.tiles} tiles checked, ${expect.tiles} expected`);
}

/** True once every stream in `names` has painted a frame on the page (framewire.stats()). */
function painted(names: string[]): boolean {
  type Debug = { framewire: { stats(): { streams: Record<string, { framesPainted: number }> } } };
  const { streams } = (window as unknown as Debug).framewire.stats();
  return names.every((n) => (streams[n]?.framesPainted ?? 0) > 0);
}

/** True once no tile is still in its entry animation (it scales the tile: measure tiles at rest). */
function settled(): boolean {
  return document.getAnimations().every((a) => !('animationName' in a));
}

/** A wait for pictures that timed out is said, not failed (the layout does not depend on them); any other error is. */
function noPicture(err: unknown, t: { diagnostic(text: string): void }): void {
  if (!(err instanceof Error) || err.name !== 'TimeoutError') throw err;
  t.diagnostic('no remote picture painted within 10 s: the screenshot shows empty tiles');
}

describe(`the web app on a ${WIDTH}x${HEIGHT} phone screen`, { timeout: 180_000 }, () => {
  let server: RelayServer;
  let chromium: Browser;
  const pubs: { stop(): Promise<void> }[] = [];
  const remotes = ['cam', LONG_STREAM];

  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    chromium = await launchChromium();
    pubs.push(await startLivePublisher(server.tcpPort, ROOM, 'cam', { codec: 'vp8' }));
    pubs.push(await startAudioPublisher(server.tcpPort, ROOM, LONG_STREAM));
  });
  after(async () => {
    for (const p of pubs) await p.stop();
    await chromium?.close();
    await server?.close();
  });

  it('Chromium, camera on: controls reachable, tiles in one column, long names ellipsised', async (t) => {
    const context = await phoneContext(chromium);
    try {
      const page = await context.newPage();
      // No clipboard, as on a phone opening the room over plain http:// on the LAN: a copy then puts the
      // whole link in the top bar's note, the longest text the bar ever holds.
      await page.addInitScript("Object.defineProperty(navigator, 'clipboard', { value: undefined });");
      await page.goto(`http://127.0.0.1:${server.httpPort}/r/${ROOM}?name=Ada`);
      await startCamera(page);
      for (const name of remotes)
        await page.waitForSelector(`[data-stream-name="${name}"] canvas`, { timeout: 10_000 });
      // Pictures only make the screenshot worth looking at: the layout checks do not need them.
      await page.waitForFunction(painted, remotes, { timeout: 10_000 }).catch((err) => noPicture(err, t));
      await page.waitForFunction(settled, undefined, { timeout: 5000 });
      const path = artifact('phone-room.png');
      await page.screenshot({ path, fullPage: true });
      t.diagnostic(`screenshot: ${path}`);
      const report = await checkLayout(page, ROOM_CONTROLS);
      t.diagnostic(JSON.stringify({ ...report, problems: report.problems.length }));
      // Top bar: brand, copy link, open wall; camera bar: name, 4 menus, stop, mute.
      assertLayout(report, { controls: 10, tiles: 3 });
      assert.ok(report.videos >= 1, 'the local tile has a <video>');

      await page.click('#copy-link');
      await page.waitForSelector('#copy-note:not([hidden])', { timeout: 5000 });
      assert.match((await page.textContent('#copy-note')) ?? '', new RegExp(`http://\\S+/r/${ROOM}`));
      const withNote = await checkLayout(page, ROOM_CONTROLS);
      t.diagnostic(
        `with the copy note: ${JSON.stringify({ ...withNote, problems: withNote.problems.length })}`,
      );
      assertLayout(withNote, { controls: 10, tiles: 3 });

      // A camera with a long name (a phone's labels run past 40 characters): its menu cuts it.
      await page.evaluate(() => {
        const select = document.querySelector('#camera') as HTMLSelectElement;
        select.append(new Option('Back Triple Camera, facing back, with a long device label', 'long'));
      });
      const longLabel = await checkLayout(page, ROOM_CONTROLS);
      t.diagnostic(
        `with a long camera name: ${JSON.stringify({ ...longLabel, problems: longLabel.problems.length })}`,
      );
      assertLayout(longLabel, { controls: 10, tiles: 3 });
    } finally {
      await context.close();
    }
  });

  it('Chromium playing plain video (no VideoDecoder): the <video> tiles play inline, muted', async (t) => {
    const context = await phoneContext(chromium);
    try {
      const page = await context.newPage();
      // A browser without WebCodecs decoding (an older Safari): the page falls back to plain video tiles.
      await page.addInitScript('delete window.VideoDecoder;');
      await page.goto(`http://127.0.0.1:${server.httpPort}/r/${ROOM}?watch`);
      for (const name of remotes)
        await page.waitForSelector(`[data-plain][data-stream-name="${name}"] video`, { timeout: 10_000 });
      // Muted autoplay with no click: each video reaches a picture on its own.
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll('video')).every((v) => v.readyState >= 2),
        undefined,
        { timeout: 15_000 },
      );
      await page.waitForFunction(settled, undefined, { timeout: 5000 });
      const path = artifact('phone-room-plain.png');
      await page.screenshot({ path, fullPage: true });
      t.diagnostic(`screenshot: ${path}`);
      const report = await checkLayout(page, ROOM_CONTROLS);
      t.diagnostic(JSON.stringify({ ...report, problems: report.problems.length }));
      // Top bar of the wall: brand, copy link, join with camera.
      assertLayout(report, { controls: 3, tiles: 2 });
      assert.ok(report.videos >= 2, `${report.videos} <video> checked, 2 expected`);
    } finally {
      await context.close();
    }
  });

  it('Chromium, home page: form and live rooms fit, uncovered, tall enough', async (t) => {
    const context = await phoneContext(chromium);
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${server.httpPort}/`);
      // The live rooms list (with the long room name) is the widest thing on the page.
      await page.waitForSelector('.live-rooms:not([hidden]) .room-link', { timeout: 10_000 });
      const path = artifact('phone-home.png');
      await page.screenshot({ path, fullPage: true });
      t.diagnostic(`screenshot: ${path}`);
      const report = await checkLayout(page, HOME_CONTROLS);
      t.diagnostic(JSON.stringify({ ...report, problems: report.problems.length }));
      // Name, room, join, create, and the live room's link and Watch button.
      assertLayout(report, { controls: 6, tiles: 0 });
    } finally {
      await context.close();
    }
  });

  it('Firefox, before Start camera: controls reachable, remote tiles in one column', async (t) => {
    const firefox = await launchFirefox();
    try {
      const page = await firefox.newPage();
      await page.setViewport({ width: WIDTH, height: HEIGHT, deviceScaleFactor: 2 });
      await page.goto(`http://127.0.0.1:${server.httpPort}/r/${ROOM}?name=Ada`);
      for (const name of remotes)
        await page.waitForSelector(`[data-stream-name="${name}"] canvas`, { timeout: 15_000 });
      await page.waitForFunction(painted, { timeout: 10_000 }, remotes).catch((err) => noPicture(err, t));
      await page.waitForFunction(settled, { timeout: 5000 });
      const path = artifact('phone-room-firefox.png');
      await page.screenshot({ path, fullPage: true });
      t.diagnostic(`screenshot: ${path}`);
      const report = (await page.evaluate(
        `(${LAYOUT_CHECK})(${JSON.stringify(checkOptions(ROOM_CONTROLS))})`,
      )) as LayoutReport;
      t.diagnostic(JSON.stringify({ ...report, problems: report.problems.length }));
      // Top bar: brand, copy link, open wall; camera bar: name, 4 menus, start.
      assertLayout(report, { controls: 9, tiles: 2 });
    } finally {
      await firefox.close();
    }
  });
});
