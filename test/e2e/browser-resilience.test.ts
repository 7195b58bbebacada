/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import {
  ensureBuilt,
  exited,
  killStarted,
  poll,
  publishTestPattern,
  type Served,
  serve,
} from '../helpers/cli.js';

interface PageStats {
  connection: { state: string };
  publisher: { framesSent: number; streamId: number | null } | null;
  streams: Record<string, { framesPainted: number }>;
}

function stats(page: Page): Promise<PageStats> {
  return page.evaluate(() => (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats());
}

/** Frames painted so far for the first stream whose name starts with `prefix`, or -1 without one. */
async function painted(page: Page, prefix: string): Promise<number> {
  const s = await stats(page);
  const name = Object.keys(s.streams).find((n) => n.startsWith(prefix));
  return name === undefined ? -1 : (s.streams[name]?.framesPainted ?? -1);
}

let browser: Browser;
const browsers: Browser[] = [];

before(async () => {
  ensureBuilt(['dist/cli/main.js', 'dist/web/index.html']);
  browser = await launchChromium();
  browsers.push(browser);
});

after(async () => {
  for (const b of browsers) await b.close();
  await killStarted();
});

describe('browser app survives', { timeout: 120_000 }, () => {
  it('a server restart: both pages reconnect, the publisher publishes again, the viewer sees it again', async () => {
    let server: Served = await serve();
    const ports = { tcp: server.port, http: server.httpPort };
    const base = `http://127.0.0.1:${ports.http}/r/restart`;
    const pub = await (await browser.newContext()).newPage();
    const wall = await (await browser.newContext()).newPage();
    await pub.goto(`${base}?name=cam`);
    await wall.goto(`${base}?watch`);
    await pub.click('#start-camera');
    await poll(async () => (await painted(wall, 'cam')) > 5, 10_000, 'the wall to show the camera');

    server.child.kill('SIGTERM');
    assert.equal(await exited(server.child), 0);
    await poll(async () => (await stats(wall)).connection.state !== 'online', 5000, 'the wall to notice');
    server = await serve(ports);

    await poll(
      async () => (await stats(pub)).connection.state === 'online',
      15_000,
      'the publisher to reconnect',
    );
    await poll(
      async () => (await stats(wall)).connection.state === 'online',
      15_000,
      'the wall to reconnect',
    );
    // After the restart the stream is new (new id): its tile must paint fresh frames.
    const before = await painted(wall, 'cam');
    await poll(
      async () => (await painted(wall, 'cam')) > Math.max(before, 0) + 5,
      15_000,
      'frames after the restart',
    );
    server.child.kill('SIGTERM');
    await exited(server.child);
  });

  it('a refused camera: a clear message, and watching still works', async () => {
    const server = await serve();
    const refusing = await launchChromium({ grantCamera: false });
    browsers.push(refusing);
    const page = await (await refusing.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${server.httpPort}/r/refused?name=shy`);
    await page.click('#start-camera');
    const message = page.locator('.message');
    await message.waitFor({ state: 'visible', timeout: 10_000 });
    assert.match((await message.textContent()) ?? '', /refused|denied|not allowed/i);

    const publishing = publishTestPattern(server.port, 'refused', 'pattern', { durationSec: 5 });
    await poll(async () => (await painted(page, 'pattern')) > 5, 10_000, 'the CLI stream on the page');
    assert.equal((await publishing).code, 0);
    server.child.kill('SIGTERM');
    await exited(server.child);
  });
});
