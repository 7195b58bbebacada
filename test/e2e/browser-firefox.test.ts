/// <reference lib="dom" />
// The web app in Firefox ESR beside Chromium: Firefox sends its camera (no MediaStreamTrackProcessor: the
// <video> element capture path) and its microphone (the AudioWorklet capture), and watches and hears
// Chromium. Firefox gets a null-sink PulseAudio (test/helpers/null-sound.ts): without an audio output its
// Web Audio never runs here; and a browser of its own in each test, so that one that hangs (see closeFirefox)
// costs one test. Functions passed to evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, poll } from '../helpers/cli.js';
import { closeFirefox, launchFirefox } from '../helpers/firefox.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

/**
 * How soon after joining (its room page loaded) a page must show a moving picture of a stream already live,
 * and play its sound: the product's promise, 3 s. Measured here on 2 shared cores over 6 runs of this file
 * (2026-12-03, no other browser beside it): Chromium seeing Firefox moving 1.2–1.7 s after joining and
 * hearing it 1.1–1.6 s; Firefox seeing Chromium 0.7–1.0 s, hearing it 0.6–1.6 s.
 */
const JOIN_BUDGET_MS = 3000;
/** Firefox's fake microphone is a 1 kHz tone at peak 0.1, Chromium's beeps at full scale: both pass this. */
const SOUND_PEAK = 0.03;

/** The parts of `window.framewire.stats()` this test reads. */
interface PageStats {
  audio: { state: string };
  publisher: null | {
    name: string;
    codec: string | null;
    capture: string | null;
    framesSent: number;
    audio: null | { capture: string; framesSent: number };
  };
  streams: Record<
    string,
    {
      codec: string | null;
      framesPainted: number;
      audio: null | { framesDecoded: number; playedPeakMax: number; audibleMs: number };
    }
  >;
}

/** A room page in either browser, driven the same way. */
interface RoomPage {
  /** Which browser and person, for messages. */
  readonly label: string;
  stats(): Promise<PageStats>;
  /** Whether Start camera is disabled, and why (`data-unavailable`). */
  cameraButton(): Promise<{ disabled: boolean | null; cause: string | null }>;
  /** What the page shows and plays of the first remote stream named `prefix`…, on the page's own clock. */
  view(prefix: string): Promise<StreamView>;
  click(selector: string): Promise<void>;
  /** Picks `value` in the select `selector`, as a person would (its change event fires). */
  choose(selector: string, value: string): Promise<void>;
  /** The page's message line (`p.message`), or null while it is hidden. */
  message(): Promise<string | null>;
  close(): Promise<void>;
}

const readMessage = () => {
  const p = document.querySelector<HTMLElement>('p.message');
  return p && !p.hidden ? p.textContent : null;
};
const readStats = () => (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats();

const readCameraButton = () => {
  const b = document.querySelector<HTMLButtonElement>('#start-camera');
  return { disabled: b?.disabled ?? null, cause: b?.dataset.unavailable ?? null };
};

/** One look at a remote stream from inside the page. */
interface StreamView {
  /** The page's performance.now(): ms since its navigation started. */
  pageMs: number;
  /** When the page's load event ended, on the same clock (0 until it has). */
  loadedMs: number;
  name: string | null;
  stream: PageStats['streams'][string] | null;
  audioState: string;
  /** Red, green and blue of about 1000 pixels of the tile's canvas; empty without a picture. */
  pixels: number[];
}

/**
 * Runs in the page (the same function for both browsers). All three colours are sampled: Firefox's fake
 * camera is one flat colour drifting slowly (green to cyan…), and its red stays 0 for seconds.
 */
const readView = (prefix: string): StreamView => {
  const stats = (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats();
  const name = Object.keys(stats.streams).find((n) => n.startsWith(prefix)) ?? null;
  const pixels: number[] = [];
  const canvas = document.querySelector<HTMLCanvasElement>(`[data-stream-name="${name}"] canvas`);
  const ctx = name && canvas && canvas.width > 0 ? canvas.getContext('2d') : null;
  if (canvas && ctx) {
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const step = Math.max(4, Math.floor(data.length / 1024 / 4) * 4);
    for (let i = 0; i + 2 < data.length; i += step)
      pixels.push(data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0);
  }
  const stream = name ? (stats.streams[name] ?? null) : null;
  const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
  const loadedMs = nav?.loadEventEnd ?? 0;
  return { pageMs: performance.now(), loadedMs, name, stream, audioState: stats.audio.state, pixels };
};

let server: RelayServer;
let chromium: ChromiumBrowser;
const pageErrors: string[] = [];

function roomUrl(room: string, name: string, query = ''): string {
  return `http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}${query}`;
}

async function openChromium(room: string, name: string): Promise<RoomPage> {
  const context = await chromium.newContext({ viewport: { width: 960, height: 640 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`Chromium ${name}: ${err.message}`));
  await page.goto(roomUrl(room, name));
  await page.waitForFunction(() => 'framewire' in window);
  return {
    label: `Chromium ${name}`,
    stats: () => page.evaluate(readStats),
    cameraButton: () => page.evaluate(readCameraButton),
    view: (prefix) => page.evaluate(readView, prefix),
    message: () => page.evaluate(readMessage),
    click: (selector) => page.click(selector),
    choose: async (selector, value) => {
      await page.selectOption(selector, value);
    },
    close: () => context.close(),
  };
}

async function openFirefox(firefox: FirefoxBrowser, room: string, name: string): Promise<RoomPage> {
  const page = await firefox.newPage();
  page.on('pageerror', (err) => pageErrors.push(`Firefox ${name}: ${String(err)}`));
  // The selected tab: a tab in the background renders (and so presents camera frames) about once a second.
  await page.bringToFront();
  await page.goto(roomUrl(room, name));
  // Polled on a timer: puppeteer's default waits for animation frames.
  await page.waitForFunction(() => 'framewire' in window, { polling: 100 });
  return {
    label: `Firefox ${name}`,
    stats: () => page.evaluate(readStats),
    cameraButton: () => page.evaluate(readCameraButton),
    view: (prefix) => page.evaluate(readView, prefix),
    message: () => page.evaluate(readMessage),
    // A click dispatched in the page: all the app needs (the autoplay pref lets sound start without a
    // gesture), in one call, where puppeteer's click makes several (scroll into view, pointer actions).
    click: (selector) => page.$eval(selector, (e) => (e as HTMLElement).click()),
    choose: async (selector, value) => {
      await page.select(selector, value);
    },
    // Its browser is closed (or killed) with it: see closeFirefox.
    close: () => page.close().catch(() => {}),
  };
}

/** Clicks Start camera (the Auto codec: the best one the room's viewers decode) and waits until the page sends video and sound. */
async function startCamera(page: RoomPage): Promise<void> {
  // 320x240, the app's smallest size: these tests are about each browser's capture, codecs and sound, and
  // two or three pages encoding and decoding 640x480 in software saturate this 2-core machine (a CI run on
  // 2026-12-03: Firefox heard Chromium 3.07 s after joining, where 0.6-1.6 s was measured before).
  await page.choose('#resolution', '320x240');
  await page.click('#start-camera');
  await poll(
    async () => {
      const p = (await page.stats()).publisher;
      // poll() takes null as an answer: say false until both are sent.
      return (p?.framesSent ?? 0) > 0 && (p?.audio?.framesSent ?? 0) > 0;
    },
    15_000,
    `${page.label} sending video and sound`,
  );
}

/**
 * When a page first showed and played a remote stream, in ms on the page's own clock (performance.now():
 * since its navigation started); `loadedMs` is when its load event ended.
 */
interface Joined {
  name: string;
  loadedMs: number;
  firstPaintMs: number;
  movingMs: number;
  soundMs: number;
}

/**
 * Watches `page` (every ~50 ms) until the remote stream whose name starts with `prefix` has painted a
 * picture, then one that differs from it (a moving picture, not a frozen or black frame), and has played
 * sound (louder than {@link SOUND_PEAK}). Each moment is the page's clock at the look that first saw it:
 * a little late (a look every 50 ms, and the round trip to the page), never early.
 */
async function watchStream(page: RoomPage, prefix: string, withinMs: number): Promise<Joined> {
  const deadline = performance.now() + withinMs;
  let firstPaintMs = Number.NaN;
  let movingMs = Number.NaN;
  let soundMs = Number.NaN;
  let first: number[] = [];
  for (;;) {
    const v = await page.view(prefix);
    const { stream, pixels } = v;
    if (stream && stream.framesPainted > 0 && pixels.length > 0 && Number.isNaN(movingMs)) {
      if (Number.isNaN(firstPaintMs)) firstPaintMs = v.pageMs;
      if (first.length === 0) first = pixels;
      else if (pixels.some((x, i) => x !== first[i]) && pixels.some((x) => x !== 0)) movingMs = v.pageMs;
    }
    const audio = stream?.audio;
    if (audio && audio.audibleMs > 0 && audio.playedPeakMax >= SOUND_PEAK && Number.isNaN(soundMs))
      soundMs = v.pageMs;
    if (v.name && v.loadedMs > 0 && !Number.isNaN(movingMs) && !Number.isNaN(soundMs))
      return { name: v.name, loadedMs: v.loadedMs, firstPaintMs, movingMs, soundMs };
    if (performance.now() > deadline) {
      throw new Error(
        `${page.label}: after ${withinMs} ms, ${prefix}… ${v.name ? `painted ${stream?.framesPainted ?? 0} frames` : 'has no tile'}, ` +
          `moving at ${movingMs} ms, sound at ${soundMs} ms (audio ${JSON.stringify(audio)}, page audio ${v.audioState})`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * How long after joining: from the end of the room page's load event (the app's code has run; what follows
 * is the app's own work: its WebSocket, hello, subscribe, the relay's cached GOP, decoding, painting, and
 * the sound's jitter buffer) to the first moving picture and the first sound.
 */
function sinceJoin(j: Joined): { movingMs: number; soundMs: number } {
  return { movingMs: j.movingMs - j.loadedMs, soundMs: j.soundMs - j.loadedMs };
}

function describeJoin(viewer: RoomPage, j: Joined): string {
  const r = (ms: number) => Math.round(ms);
  const after = sinceJoin(j);
  return (
    `${viewer.label} joined (its room page loaded) at ${r(j.loadedMs)} ms after its navigation started; ` +
    `then ${j.name} moved on it after ${r(after.movingMs)} ms (first picture at ${r(j.firstPaintMs - j.loadedMs)} ms) ` +
    `and sounded after ${r(after.soundMs)} ms; from the navigation's start: moving at ${r(j.movingMs)} ms, ` +
    `sound at ${r(j.soundMs)} ms`
  );
}

describe('the web app in Firefox ESR beside Chromium', { timeout: 240_000 }, () => {
  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    chromium = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
    // A person's browser is already running when they join: one room page first, in a context of its own
    // (no shared HTTP cache), so that the joins timed below do not also count starting Chromium's renderer,
    // GPU and media processes.
    const warm = await openChromium('warm-up', 'warm');
    await warm.close();
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  it('Firefox sends its camera and microphone; a Chromium page that joins sees it move and hears it within 3 s', async (t) => {
    const firefox = await launchFirefox({ sound: true });
    let viewer: RoomPage | null = null;
    try {
      const fox = await openFirefox(firefox, 'ff-to-cr', 'fox');
      assert.deepEqual(
        await fox.cameraButton(),
        { disabled: false, cause: null },
        'Start camera is offered in Firefox, with no note saying it cannot send',
      );
      // Firefox's own Auto codec: it encodes H.264 there, which Chromium decodes.
      await startCamera(fox);
      const pub = (await fox.stats()).publisher;
      assert.equal(pub?.capture, 'element', 'Firefox reads its camera through a <video>');
      assert.equal(pub?.audio?.capture, 'worklet', 'and its microphone through the AudioWorklet');
      t.diagnostic(`Firefox publishes ${pub?.codec} with ${pub?.capture} capture`);

      viewer = await openChromium('ff-to-cr', 'cr');
      const joined = await watchStream(viewer, 'fox', 15_000);
      t.diagnostic(describeJoin(viewer, joined));
      assert.ok(sinceJoin(joined).movingMs <= JOIN_BUDGET_MS, describeJoin(viewer, joined));
      assert.ok(sinceJoin(joined).soundMs <= JOIN_BUDGET_MS, describeJoin(viewer, joined));
      assert.deepEqual(pageErrors, []);
    } finally {
      await viewer?.close();
      await closeFirefox(firefox);
    }
  });

  it('Chromium sends; a Firefox page that joins sees it move and hears it within 3 s', async (t) => {
    const firefox = await launchFirefox({ sound: true });
    const cr = await openChromium('cr-to-ff', 'cr');
    try {
      await startCamera(cr);
      const pub = (await cr.stats()).publisher;
      assert.equal(pub?.capture, 'processor');
      // No viewer yet restricts the room: Auto takes H.264, which Firefox decodes too.
      assert.match(pub?.codec ?? '', /^avc1/);

      const fox = await openFirefox(firefox, 'cr-to-ff', 'fox');
      const joined = await watchStream(fox, 'cr', 15_000);
      t.diagnostic(describeJoin(fox, joined));
      assert.ok(sinceJoin(joined).movingMs <= JOIN_BUDGET_MS, describeJoin(fox, joined));
      assert.ok(sinceJoin(joined).soundMs <= JOIN_BUDGET_MS, describeJoin(fox, joined));
      assert.equal((await fox.stats()).audio.state, 'running', "Firefox's Web Audio runs");
      assert.deepEqual(pageErrors, []);
    } finally {
      await closeFirefox(firefox);
      await cr.close();
    }
  });

  // Once a todo: one call into the Firefox page took over 30 s in 1 run of 3. Firefox hung on reading
  // AudioContext.outputLatency or getOutputTimestamp() while sound played; the app reads neither in Firefox
  // (web/src/audio-output.ts).
  it('a room of two Chromium pages and one Firefox page, all sending: every page sees the other two move', async (t) => {
    const room = 'three';
    const firefox = await launchFirefox({ sound: true });
    const pages: RoomPage[] = [];
    try {
      pages.push(await openChromium(room, 'ada'));
      await startCamera(pages[0] as RoomPage);
      pages.push(await openChromium(room, 'bob'));
      await startCamera(pages[1] as RoomPage);
      pages.push(await openFirefox(firefox, room, 'fox'));
      await startCamera(pages[2] as RoomPage);
      const prefixes = ['ada', 'bob', 'fox'];
      for (const [i, page] of pages.entries()) {
        for (const prefix of prefixes.filter((_, j) => j !== i)) {
          const seen = await watchStream(page, prefix, 20_000);
          t.diagnostic(
            `${page.label} shows ${seen.name} moving (${Math.round(seen.movingMs)} ms into its page) and plays its sound`,
          );
        }
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      await closeFirefox(firefox);
      for (const page of pages) await page.close();
    }
  });

  it('Firefox with no sound device (its Web Audio never starts) still sends its camera, video only, and says so', async (t) => {
    // No PulseAudio: the AudioWorklet that reads the microphone never runs, so the microphone gives no samples.
    const firefox = await launchFirefox();
    let viewer: RoomPage | null = null;
    try {
      const fox = await openFirefox(firefox, 'ff-mute', 'fox');
      await fox.click('#start-camera');
      await poll(
        async () => ((await fox.stats()).publisher?.framesSent ?? 0) > 0,
        15_000,
        'Firefox sending video',
      );
      const pub = (await fox.stats()).publisher;
      assert.equal(pub?.audio?.framesSent, 0, 'no sound was sent');
      const said = await fox.message();
      t.diagnostic(`Firefox page says: ${said}`);
      assert.match(said ?? '', /video only/);

      viewer = await openChromium('ff-mute', 'cr');
      const seen = viewer;
      await poll(
        async () =>
          Object.entries((await seen.stats()).streams).some(
            ([n, s]) => n.startsWith('fox') && s.framesPainted > 0,
          ),
        15_000,
        'the Chromium viewer painting the video-only stream',
      );
      assert.deepEqual(pageErrors, []);
    } finally {
      await viewer?.close();
      await closeFirefox(firefox);
    }
  });

  it("plays the tile's plain-video link for VP8 (.webm) in a <video>, which .mp4 never starts in Firefox", async () => {
    let pub: LivePublisher | null = null;
    const firefox = await launchFirefox();
    try {
      const page = await firefox.newPage();
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
      await closeFirefox(firefox);
      await pub?.stop();
    }
  });
});
