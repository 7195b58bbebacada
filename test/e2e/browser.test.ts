/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import {
  ensureBuilt,
  killStarted,
  poll,
  probe,
  publishTestPattern,
  ROOT,
  run,
  type Served,
  serve,
} from '../helpers/cli.js';
import { expectLiveTile, startCamera, stats } from '../helpers/room-page.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');

let server: Served;
let browser: Browser;
let tmp = '';
const pageErrors: string[] = [];

/** Opens a room page in its own browser context (its own storage, like a separate person). */
async function openRoom(room: string, name: string, watch = false): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}${watch ? '&watch' : ''}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

before(async () => {
  ensureBuilt(['dist/cli/main.js', 'dist/web/index.html']);
  tmp = mkdtempSync(join(tmpdir(), 'framewire-browser-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await killStarted();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('browser app in Chromium with a fake camera', { timeout: 120_000 }, () => {
  it('two pages in one room each see the other live within 3 s of joining, and the API lists both viewers', async () => {
    const room = 'call';
    const ada = await openRoom(room, 'ada');
    await startCamera(ada);
    // Bob joins while Ada is already live: the cached GOP must put her on his screen at once.
    const bob = await openRoom(room, 'bob');
    await startCamera(bob);
    const adaStream = Object.keys((await stats(bob)).streams).find((n) => n.startsWith('ada'));
    const names = await poll(
      async () => {
        const a = Object.keys((await stats(bob)).streams).find((n) => n.startsWith('ada'));
        const b = Object.keys((await stats(ada)).streams).find((n) => n.startsWith('bob'));
        return a && b ? { a, b } : undefined;
      },
      3000,
      'both tiles',
    );
    assert.ok(adaStream === undefined || adaStream === names.a);
    await expectLiveTile(bob, names.a, 3000);
    await expectLiveTile(ada, names.b, 3000);

    await ada.screenshot({ path: join(ARTIFACTS, 'room.png') });

    type Viewer = {
      transport: string;
      framesSent: number;
      report: { framesReceived: number; latencyP50Ms: number } | null;
    };
    type Api = { streams: { name: string; viewers: Viewer[] }[] };
    const api = await poll(
      async () => {
        const body = (await (
          await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/${room}`)
        ).json()) as Api;
        const reported = body.streams.every((s) =>
          s.viewers.some((v) => v.report && v.report.framesReceived > 0 && v.report.latencyP50Ms >= 0),
        );
        return body.streams.length === 2 && reported ? body : undefined;
      },
      5000,
      'receiver reports from both pages',
    );
    for (const stream of api.streams) {
      const viewer = stream.viewers[0] as Viewer;
      assert.equal(stream.viewers.length, 1, `${stream.name} has one viewer (the other page)`);
      assert.equal(viewer.transport, 'ws');
      assert.ok(viewer.framesSent > 0);
      assert.ok((viewer.report?.latencyP50Ms ?? -1) < 5000, 'a plausible latency');
    }
    await ada.context().close();
    // Ada leaves: her tile goes from Bob's page.
    await bob.waitForSelector(`[data-stream-name="${names.a}"]`, { state: 'detached', timeout: 5000 });
    await bob.context().close();
  });

  for (const codec of ['vp8', 'h264'] as const) {
    it(`a watch-only page shows a CLI --test-pattern stream (${codec})`, async () => {
      const room = `cli-${codec}`;
      const wall = await openRoom(room, 'wall', true);
      assert.equal(await wall.locator('#start-camera').count(), 0, 'a watch wall has no camera button');
      const publishing = publishTestPattern(server.port, room, 'pattern', { codec, durationSec: 8 });
      await expectLiveTile(wall, 'pattern', 8000);
      const s = (await stats(wall)).streams.pattern;
      assert.match(s?.codec ?? '', codec === 'vp8' ? /^vp8$/ : /^avc1\./);
      // The tile links to the same stream as plain video, in the container that suits its codec.
      const link = wall.locator('[data-stream-name="pattern"] a.tile-link');
      const href = await link.getAttribute('href');
      // A <video> buffers: the link says it is behind the tile, so nobody takes it for the live picture.
      assert.equal(await link.textContent(), 'plain video, a few seconds behind');
      const ext = codec === 'vp8' ? 'webm' : 'mp4';
      assert.equal(href, `http://127.0.0.1:${server.httpPort}/live/${room}/pattern.${ext}`);
      const video = await fetch(href ?? '');
      assert.equal(video.headers.get('content-type'), `video/${ext}`);
      await video.body?.cancel();
      await wall.context().close();
      const pub = await publishing;
      assert.equal(pub.code, 0, pub.stderr);
    });
  }

  it('the CLI records a stream published by a browser page, and ffprobe reads the file', async () => {
    const room = 'from-browser';
    const page = await openRoom(room, 'cam');
    await startCamera(page);
    const codec = (await stats(page)).publisher?.codec ?? '';
    const out = join(tmp, codec.startsWith('avc1') ? 'browser.mp4' : 'browser.webm');
    const watch = await run(
      ['watch', '--server', `127.0.0.1:${server.port}`, '--room', room, '--out', out, '--duration', '4'],
      30_000,
    );
    assert.equal(watch.code, 0, watch.stderr);
    const probed = await probe(out);
    assert.equal(probed.codec, codec.startsWith('avc1') ? 'h264' : codec);
    assert.ok(probed.frames >= 30, `${probed.frames} frames recorded in 4 s`);
    await page.context().close();
  });

  it('no page threw an uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
