/// <reference lib="dom" />
// Two machines on a network, out of the box: the real server runs in a network namespace at an address that
// is not loopback, and Chromium opens it from the root namespace as a second machine would. Functions passed
// to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, exited, killStarted, poll, type Served } from '../helpers/cli.js';
import { createNetNs, type NetNs } from '../helpers/netns.js';
import { cliInNamespace, serveInNamespace } from '../helpers/netns-cli.js';
import { expectLiveTile, startCamera, stats } from '../helpers/room-page.js';

let ns: NetNs | null = null;
let browser: Browser;
let stateDir = '';

/** Runs `framewire args...` inside the namespace, as a process on the other machine (ended by PID after). */
function inNamespace(args: string[]): ChildProcess {
  if (!ns) throw new Error('no namespace');
  return cliInNamespace(ns, args);
}

/** `framewire serve` on the namespace's address, on free ports, with `extra` flags. */
function serveThere(extra: string[] = []): Promise<Served> {
  if (!ns) throw new Error('no namespace');
  return serveInNamespace(ns, ['--state-dir', stateDir, ...extra]);
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  await exited(child);
}

/** A page in its own context (like a separate person), with what it logged as errors. */
async function openPage(url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForFunction(() => 'framewire' in window);
  return { page, errors };
}

before(() => {
  ensureBuilt(['dist/cli/main.js', 'dist/web/index.html']);
});

after(async () => {
  await browser?.close();
  await killStarted();
  ns?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('the web app from another machine on the network', { timeout: 120_000 }, () => {
  before(async () => {
    ns = createNetNs();
    stateDir = mkdtempSync(join(tmpdir(), 'framewire-lan-'));
    // Stands in for the person's click on "proceed" past the warning about the self-made certificate.
    browser = await launchChromium({ args: ['--ignore-certificate-errors'] });
  });

  it("over the https:// serve makes by itself, two pages each see the other's camera live", async () => {
    const server = await serveThere();
    assert.equal(server.tls, true, 'serve on an address beyond loopback speaks TLS without being asked');
    const url = `https://${ns?.nsAddr}:${server.httpPort}/r/lan`;
    const ada = await openPage(`${url}?name=ada`);
    const bob = await openPage(`${url}?name=bob`);
    for (const { page } of [ada, bob])
      assert.equal(await page.evaluate(() => window.isSecureContext), true, 'https:// is a secure context');
    assert.equal(await ada.page.locator('#insecure-notice').count(), 0, 'a secure page has no notice');
    await startCamera(ada.page);
    await startCamera(bob.page);
    const names = await poll(
      async () => {
        const a = Object.keys((await stats(bob.page)).streams).find((n) => n.startsWith('ada'));
        const b = Object.keys((await stats(ada.page)).streams).find((n) => n.startsWith('bob'));
        return a && b ? { a, b } : undefined;
      },
      5000,
      'both tiles',
    );
    await expectLiveTile(bob.page, names.a, 5000);
    await expectLiveTile(ada.page, names.b, 5000);
    assert.deepEqual([...ada.errors, ...bob.errors], []);
    await ada.page.context().close();
    await bob.page.context().close();
    await stop(server.child);
  });

  it('over plain http:// (--no-tls), the page says what is missing and where to go, and plays plain video', async () => {
    const server = await serveThere(['--no-tls']);
    assert.equal(server.tls, false);
    const host = ns?.nsAddr ?? '';
    const { page, errors } = await openPage(`http://${host}:${server.httpPort}/r/lan`);
    assert.equal(await page.evaluate(() => window.isSecureContext), false);

    // Before any click: the notice, with the exact addresses that work.
    const notice = page.locator('#insecure-notice');
    assert.ok(await notice.isVisible(), 'the notice shows at once');
    const text = (await notice.textContent()) ?? '';
    assert.match(text, /no camera, no video encoder and no video decoder/);
    assert.ok(text.includes(`http://localhost:${server.httpPort}/r/lan`), text);
    assert.ok(text.includes(`https://${host}:${server.httpPort}/r/lan`), text);
    assert.match(text, /restart the server without --no-tls .*or put it behind a TLS proxy/);
    const button = await page.$eval('#start-camera', (b) => ({
      disabled: (b as HTMLButtonElement).disabled,
      cause: (b as HTMLButtonElement).dataset.unavailable ?? null,
    }));
    assert.deepEqual(button, { disabled: true, cause: 'insecure' }, 'Start camera is off, and says why');
    assert.match((await page.textContent('#camera-note')) ?? '', /not secure/);

    // Someone publishes on the other machine: this page plays each stream as plain video.
    const publishers = (['vp8', 'h264'] as const).map((codec) =>
      inNamespace([
        'publish',
        '--server',
        `tcp://${host}:${server.port}`,
        '--room',
        'lan',
        '--name',
        `cam-${codec}`,
        '--test-pattern',
        '--codec',
        codec,
        '--size',
        '320x240',
        '--fps',
        '15',
      ]),
    );
    for (const codec of ['vp8', 'h264']) {
      const tile = `[data-stream-name="cam-${codec}"]`;
      await page.waitForSelector(`${tile} video`, { timeout: 10_000 });
      assert.equal(await page.locator(`${tile} canvas`).count(), 0, 'no canvas: nothing to decode into');
      const playback = () =>
        page.$eval(`${tile} video`, (v) => ({
          readyState: (v as HTMLVideoElement).readyState,
          time: (v as HTMLVideoElement).currentTime,
        }));
      // HAVE_CURRENT_DATA or better, and its time moves: a picture, and a live one.
      const first = await poll(
        async () => {
          const p = await playback();
          return p.readyState >= 2 ? p : undefined;
        },
        15_000,
        `the ${codec} <video> to have a picture`,
      );
      await poll(
        async () => (await playback()).time > first.time + 0.5,
        10_000,
        `the ${codec} <video> to play on`,
      );
      assert.match(
        (await page.textContent(`${tile} .tile-figures`)) ?? '',
        /^Plain video, a few seconds behind: this page is not secure/,
      );
    }
    assert.deepEqual(errors, []);
    await page.context().close();
    for (const p of publishers) await stop(p);
    await stop(server.child);
  });
});
