/// <reference lib="dom" />
// The web app's reads of the API with access tokens on (issue 17): the home page's "Live now" lists what
// the page's token may view, and without a token lists nothing and says why; a room page that lists its
// streams through the API (plain video) sends its token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt } from '../helpers/cli.js';
import { WireClient } from '../helpers/wire-client.js';

const SECRET = 'browser-home-tokens-secret-long-enough-hs256';

let server: RelayServer;
let browser: Browser;
let pub: WireClient;
const pageErrors: string[] = [];

/** Opens the home page with `query` in a fresh context and waits for its first list of rooms. */
async function home(query: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`/${query}: ${err.message}`));
  const listed = page.waitForResponse((r) => r.url().includes('/api/rooms'));
  await page.goto(`http://127.0.0.1:${server.httpPort}/${query}`);
  await listed;
  return page;
}

/** The room links "Live now" shows, with their addresses. */
function links(page: Page): Promise<{ name: string; href: string }[]> {
  return page.$$eval('.room-link', (as) =>
    as.map((a) => ({ name: a.textContent ?? '', href: a.getAttribute('href') ?? '' })),
  );
}

before(async () => {
  ensureBuilt(['dist/web/index.html']);
  server = await startServer({ tcpPort: 0, httpPort: 0, secret: SECRET, log: () => {} });
  browser = await launchChromium();
  pub = await WireClient.connect(server.tcpPort);
  const everywhere = await mintToken(SECRET, {
    room: '',
    prefix: true,
    publish: true,
    view: false,
    ttlSec: 600,
  });
  pub.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'publisher', agent: 'test', token: everywhere });
  await pub.next((m) => m.type === 'hello');
  await pub.publish('lab', 'cam');
  await pub.publish('vault', 'cam');
});

after(async () => {
  await browser?.close();
  pub?.close();
  await server?.close();
  assert.deepEqual(pageErrors, []);
});

describe('the home page with access tokens', { timeout: 60_000 }, () => {
  it('without a token: no rooms, and a line saying why', async () => {
    const page = await home('');
    await page.waitForSelector('.live-rooms-why:not([hidden])');
    assert.match((await page.textContent('.live-rooms-why')) ?? '', /only to people with an access token/);
    assert.deepEqual(await links(page), []);
    assert.ok(!(await page.content()).includes('vault'));
  });

  it("with a room's view token: that room only, and its links keep the token", async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    const page = await home(`?token=${token}`);
    await page.waitForSelector('.room-link');
    assert.deepEqual(await links(page), [{ name: 'lab', href: `/r/lab?token=${token}` }]);
    assert.ok(!(await page.content()).includes('vault'));
  });

  it('with an admin token: every live room', async () => {
    const token = await mintToken(SECRET, {
      room: '',
      prefix: true,
      publish: false,
      view: true,
      admin: true,
      ttlSec: 600,
    });
    const page = await home(`?token=${token}`);
    await page.waitForFunction(() => document.querySelectorAll('.room-link').length === 2);
    assert.deepEqual((await links(page)).map((l) => l.name).sort(), ['lab', 'vault']);
  });

  it("a room page playing plain video lists the room's streams with its token", async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`/r/lab: ${err.message}`));
    // No WebCodecs decoding: the page lists the room's streams over the API and plays them as <video>.
    await page.addInitScript('delete window.VideoDecoder;');
    await page.goto(`http://127.0.0.1:${server.httpPort}/r/lab?watch&token=${token}`);
    await page.waitForSelector('[data-plain][data-stream-name="cam"] video', { timeout: 10_000 });
    const src = await page.getAttribute('[data-plain][data-stream-name="cam"] video', 'src');
    assert.match(src ?? '', /\/live\/lab\/cam\.webm\?token=/);
    await context.close();
  });
});
