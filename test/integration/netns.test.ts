// The test network namespace (test/helpers/netns.ts) does what other tests lean on: a link between two
// addresses that are not loopback, shaped to a rate in both directions, and nothing left behind after it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { exited, poll } from '../helpers/cli.js';
import { createNetNs, type NetNs } from '../helpers/netns.js';

/**
 * Runs in the namespace: a TCP server on PORT that, per connection, either sends zeros as fast as it can
 * (the client's first byte is `d`, down) or counts what it receives and answers the count when the client
 * ends (`u`, up).
 */
const SINK_AND_SOURCE = `
  const net = require('node:net');
  const chunk = Buffer.alloc(64 * 1024);
  net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (first) => {
      if (first[0] === 100) {
        const pump = () => { while (s.write(chunk)); };
        s.on('drain', pump);
        pump();
        return;
      }
      let n = first.length - 1;
      s.on('data', (d) => { n += d.length; });
      s.on('end', () => s.end(String(n)));
    });
  }).listen(Number(process.argv[1]), process.argv[2], () => console.log('ready'));
`;

const PORT = 7999;
const SECONDS = 2;

function connectTo(host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(PORT, host, () => resolve(s));
    s.once('error', reject);
  });
}

/** kbit/s from the namespace to here, over {@link SECONDS}. */
async function downKbit(host: string): Promise<number> {
  const s = await connectTo(host);
  s.write('d');
  let bytes = 0;
  s.on('data', (d: Buffer) => {
    bytes += d.length;
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  s.destroy();
  return (bytes * 8) / 1000 / SECONDS;
}

/** kbit/s from here to the namespace: bytes the far end counted, over the time until it had them all. */
async function upKbit(host: string): Promise<number> {
  const s = await connectTo(host);
  const started = performance.now();
  const chunk = Buffer.alloc(64 * 1024);
  s.write('u');
  const until = started + SECONDS * 1000;
  while (performance.now() < until) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString();
    });
    s.on('end', () => resolve(text));
  });
  const seconds = (performance.now() - started) / 1000;
  return (Number(answer) * 8) / 1000 / seconds;
}

describe('test network namespaces', { timeout: 60_000 }, () => {
  const made: NetNs[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) {
      c.kill('SIGKILL');
      await exited(c);
    }
    for (const ns of made) ns.close();
  });

  it('joins the namespace to this one at two addresses of their own, a /30 per namespace', () => {
    const a = createNetNs();
    const b = createNetNs();
    made.push(a, b);
    assert.notEqual(a.name, b.name);
    assert.notEqual(a.nsAddr, b.nsAddr);
    for (const ns of [a, b]) {
      assert.match(ns.hostAddr, /^10\.77\.\d+\.\d+$/);
      const inside = spawnSync('ip', ['netns', 'exec', ns.name, 'ip', '-o', '-4', 'addr', 'show'], {
        encoding: 'utf8',
      }).stdout;
      assert.ok(inside.includes(`inet ${ns.nsAddr}/30`), inside);
      assert.ok(inside.includes('inet 127.0.0.1/8'), 'lo is up inside');
    }
  });

  it('shapes the link to a rate in both directions, and unshapes it', async () => {
    const ns = createNetNs();
    made.push(ns);
    const server = ns.exec(process.execPath, ['-e', SINK_AND_SOURCE, String(PORT), ns.nsAddr], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(server);
    let out = '';
    server.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await poll(() => out.includes('ready'), 5000, 'the server in the namespace');

    ns.shape(2000);
    const down = await downKbit(ns.nsAddr);
    const up = await upKbit(ns.nsAddr);
    // The cap is what shaping promises: a token bucket lets its first burst through at once, which over
    // 2 s is a few percent. Below it, a busy machine may move less; only a link that carries next to
    // nothing is wrong.
    for (const [what, kbit] of [
      ['down', down],
      ['up', up],
    ] as const)
      assert.ok(kbit > 200 && kbit < 2400, `${what}: ${Math.round(kbit)} kbit/s through a 2000 kbit/s link`);

    ns.unshape();
    ns.unshape();
    const free = await downKbit(ns.nsAddr);
    assert.ok(free > 20_000, `unshaped: ${Math.round(free)} kbit/s`);
  });

  it('close() removes the namespace and its link, and may be called again', () => {
    const ns = createNetNs();
    ns.close();
    ns.close();
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!list.split('\n').some((l) => l.startsWith(`${ns.name} `) || l === ns.name), list);
    const links = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout;
    assert.ok(!links.includes(`inet ${ns.hostAddr}/`), links);
  });
});
