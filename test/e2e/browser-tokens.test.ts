/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
// The room page with access tokens on (issue 11, "Tokens in the browser"): what a link's token lets the
// person do, what they are told when it does not, and which link "Copy link" hands on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

const SECRET = 'browser-tokens-secret-long-enough-for-hs256!';
const ROOM = 'lab';

/** What `window.framewire.stats()` returns, as far as these tests read it. */
interface PageStats {
  connection: { state: string };
  publisher: { framesSent: number } | null;
  streams: Record<string, { framesPainted: number }>;
}

let server: RelayServer;
let browser: Browser;
let cam: LivePublisher;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

const token = (rights: { publish?: boolean; view?: boolean }, ttlSec = 600) =>
  mintToken(SECRET, { room: ROOM, publish: rights.publish ?? false, view: rights.view ?? false, ttlSec });

function stats(page: Page): Promise<PageStats> {
  return page.evaluate(() => (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats());
}

/** Opens `url` (a path on the server) in a fresh context, like a separate person, with the clipboard allowed. */
async function open(path: string): Promise<Page> {
  const origin = `http://127.0.0.1:${server.httpPort}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${path}: ${err.message}`));
  await page.goto(path.startsWith('http') ? path : `${origin}${path}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

/** Waits until the page has painted `more` frames of stream `cam` beyond what it had painted now. */
async function paintsMore(page: Page, more: number, timeout = 10_000): Promise<void> {
  const now = (await stats(page)).streams.cam?.framesPainted ?? 0;
  await page.waitForFunction(
    ([base, n]) =>
      ((window as unknown as { framewire: { stats(): PageStats } }).framewire.stats().streams.cam
        ?.framesPainted ?? 0) >=
      base + n,
    [now, more] as const,
    { timeout },
  );
}

/** Clicks a copy button; returns what reached the clipboard, which link the page says it was, and the note. */
async function copy(page: Page, selector: string): Promise<{ text: string; copied: string; note: string }> {
  await page.click(selector);
  await page.waitForFunction(
    (s) => document.querySelector<HTMLElement>(s)?.dataset.copied !== undefined,
    selector,
  );
  return {
    text: await page.evaluate(() => navigator.clipboard.readText()),
    copied: (await page.getAttribute(selector, 'data-copied')) ?? '',
    note: (await page.textContent('#copy-note')) ?? '',
  };
}

before(async () => {
  ensureBuilt(['dist/web/index.html']);
  server = await startServer({ tcpPort: 0, httpPort: 0, secret: SECRET, log: () => {} });
  browser = await launchChromium();
  cam = await startLivePublisher(server.tcpPort, ROOM, 'cam', {
    codec: 'vp8',
    token: await token({ publish: true }),
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await cam?.stop();
  await server?.close();
  assert.deepEqual(pageErrors, []);
});

describe('a room page with access tokens', { timeout: 90_000 }, () => {
  it('a view-only link watches, says before any click that it cannot send and which link to ask for', async () => {
    const page = await open(`/r/${ROOM}?name=viewer&token=${await token({ view: true })}`);
    await paintsMore(page, 10);
    const button = page.locator('#start-camera');
    assert.equal(await button.isDisabled(), true);
    const note = (await page.textContent('#camera-note')) ?? '';
    assert.match(note, /lets you watch this room, not send/);
    assert.match(note, /framewire token --room lab --publish/);
    // A click on the disabled button (as a script could make) starts nothing and costs nothing.
    await page.evaluate(() => document.querySelector<HTMLButtonElement>('#start-camera')?.click());
    const s = await stats(page);
    assert.equal(s.publisher, null);
    assert.equal(s.connection.state, 'online');
    await paintsMore(page, 5);
  });

  it('a publish the server refuses (token expired since the page joined): camera off, still watching, told what to ask for', async () => {
    // Valid for 1 s (plus the server's 5 s of clock tolerance): the page joins and subscribes in time, and
    // its publish comes after, so the server refuses that one request. Before the fix it closed the
    // connection: the page went "not allowed" and the stream froze.
    const shortLived = await token({ publish: true, view: true }, 1);
    const page = await open(`/r/${ROOM}?name=late&token=${shortLived}`);
    await paintsMore(page, 5);
    assert.equal(await page.locator('#start-camera').isDisabled(), false);
    await new Promise((r) => setTimeout(r, 7_000));
    await page.click('#start-camera');
    await page.waitForFunction(
      () => /expired/.test(document.querySelector('.message')?.textContent ?? ''),
      undefined,
      {
        timeout: 15_000,
      },
    );
    const message = (await page.textContent('.message')) ?? '';
    assert.match(
      message,
      /Your link's access has expired: ask .* for a link with publish access \(framewire token --room lab --publish\)/,
    );
    const s = await stats(page);
    assert.equal(s.connection.state, 'online');
    assert.equal(s.publisher, null, 'the camera is stopped');
    assert.equal(await page.locator('#start-camera').isDisabled(), true);
    assert.equal(await page.textContent('#start-camera'), 'Start camera');
    await paintsMore(page, 10);
    assert.ok(!server.stats().streams.some((x) => x.room === ROOM && x.name.startsWith('late')));
  });

  it('a view-only link copies "with access": the link carries the view token, and it works for whoever opens it', async () => {
    const viewToken = await token({ view: true });
    const page = await open(`/r/${ROOM}?name=sharer&token=${viewToken}`);
    assert.equal(await page.textContent('#copy-link'), 'Copy link with access');
    assert.equal(await page.locator('#copy-link-token').count(), 0);
    const got = await copy(page, '#copy-link');
    assert.equal(got.text, `http://127.0.0.1:${server.httpPort}/r/${ROOM}?token=${viewToken}`);
    assert.equal(got.copied, 'view');
    assert.match(got.note, /with your view access: whoever opens it can watch this room, not send/);
    const friend = await open(got.text);
    await paintsMore(friend, 5);
    assert.equal((await stats(friend)).connection.state, 'online');
  });

  it('a publish link copies without its token by default, and with it only on the explicit second button', async () => {
    const pubToken = await token({ publish: true, view: true });
    const page = await open(`/r/${ROOM}?name=host&token=${pubToken}`);
    assert.equal(await page.textContent('#copy-link'), 'Copy link');
    const plain = await copy(page, '#copy-link');
    assert.equal(plain.text, `http://127.0.0.1:${server.httpPort}/r/${ROOM}`);
    assert.equal(plain.copied, 'none');
    assert.match(plain.note, /without your token \(your link also lets its holder publish\)/);
    assert.match(plain.note, /framewire token --room lab`/);
    assert.equal(await page.textContent('#copy-link-token'), 'Copy link with my token');
    const mine = await copy(page, '#copy-link-token');
    assert.equal(mine.text, `http://127.0.0.1:${server.httpPort}/r/${ROOM}?token=${pubToken}`);
    assert.equal(mine.copied, 'token');
    assert.match(mine.note, /your own token: .*publishing included/);
    // The wall link keeps the token too: without it the wall would only meet a token error.
    const wall = await page.getAttribute('a[href*="watch"]', 'href');
    assert.equal(wall, `/r/${ROOM}?watch&token=${pubToken}`);
  });
});
