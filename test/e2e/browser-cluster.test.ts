/// <reference lib="dom" />
// The web app in a cluster: a page served by node A watches a stream published on node B; when A goes away
// the page goes on at B, which A had listed to it (`/api/cluster/nodes`), and shows the stream again.
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, poll } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';
import { type NatsServer, startNats } from '../helpers/nats.js';
import { expectLiveTile } from '../helpers/room-page.js';

/** The page's connection, as `window.framewire.stats()` shows it. */
function connection(page: import('playwright-core').Page): Promise<{ state: string; url: string }> {
  return page.evaluate(
    () =>
      (
        window as unknown as { framewire: { stats(): { connection: { state: string; url: string } } } }
      ).framewire.stats().connection,
  );
}

describe('web app in a cluster', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let a: RelayServer;
  let b: RelayServer;
  let browser: Browser;
  let publisher: LivePublisher;

  before(async () => {
    ensureBuilt(['dist/web/index.html']);
    nats = await startNats();
    const node = (nodeName: string) =>
      startServer({ tcpPort: 0, httpPort: 0, log: () => {}, cluster: { servers: [nats.url], nodeName } });
    a = await node('a');
    b = await node('b');
    await poll(async () => a.cluster?.nodeUrls().length === 2, 10_000, 'A to hear B and its address');
    publisher = await startLivePublisher(b.tcpPort, 'hall', 'cam', { codec: 'vp8', keyframeIntervalSec: 1 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await publisher?.stop();
    await Promise.all([a?.close(), b?.close()]);
    await nats?.stop();
  });

  it('lists the nodes to a page, which goes on at B when its own node A stops', async () => {
    const nodes = (await (await fetch(`http://127.0.0.1:${a.httpPort}/api/cluster/nodes`)).json()) as {
      nodes: { name: string; url: string }[];
    };
    assert.deepEqual(nodes.nodes, [
      { name: 'a', url: `http://127.0.0.1:${a.httpPort}` },
      { name: 'b', url: `http://127.0.0.1:${b.httpPort}` },
    ]);

    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${a.httpPort}/r/hall?watch`);
    await expectLiveTile(page, 'cam', 15_000);
    assert.equal((await connection(page)).url, `ws://127.0.0.1:${a.httpPort}/ws`);

    await a.close();
    const moved = await poll(
      async () => {
        const c = await connection(page);
        return c.state === 'online' ? c : undefined;
      },
      15_000,
      'the page online again',
    );
    assert.equal(moved.url, `ws://127.0.0.1:${b.httpPort}/ws`, 'the first retry went to B');
    // The picture moves again: frames from B (the copy on A ended with A).
    await expectLiveTile(page, 'cam', 15_000);
  });
});
