// `framewire serve --workers 2`, the real CLI: two relay processes sharing the ports, each a cluster node of
// the other through a nats-server the primary starts itself. Viewers that land on either worker get the
// streams published on either; a worker killed is replaced and serves the room again; Ctrl-C (SIGTERM)
// stops the workers and the nats-server.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Message } from '../../src/protocol/index.js';
import { ensureBuilt, exited, killStarted, poll, type Served, serve } from '../helpers/cli.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

type StreamAdded = Extract<Message, { type: 'stream-added' }>;

/** The node a client landed on, from the server's hello (`framewire/0.1.0 (node NAME)`). */
function nodeOf(c: WireClient): string {
  const hello = c.received.find((m) => m.type === 'hello');
  const m = hello?.type === 'hello' ? /\(node ([^)]+)\)/.exec(hello.agent) : null;
  assert.ok(m, `the server's hello names its node: ${JSON.stringify(hello)}`);
  return m[1] as string;
}

/** What `serve` logged of worker `index` listening: its node and process id (latest first). */
function workersLogged(stderr: string): { worker: number; node: string; pid: number }[] {
  return [...stderr.matchAll(/worker-listening worker=(\d+) node=(\S+) pid=(\d+)/g)]
    .map((m) => ({ worker: Number(m[1]), node: m[2] as string, pid: Number(m[3]) }))
    .reverse();
}

/** Connects clients until one lands on a node that `want` accepts (connections go to workers in turn). */
async function helloOn(
  port: number,
  role: 'publisher' | 'viewer',
  want: (node: string) => boolean,
  keep: WireClient[],
): Promise<WireClient> {
  for (let i = 0; i < 8; i++) {
    const c = await WireClient.hello(port, role);
    keep.push(c);
    if (want(nodeOf(c))) return c;
  }
  throw new Error('no connection landed on the worker wanted in 8 tries');
}

/** Sends `count` frames of `streamId` (a keyframe every 30), a few ms apart; returns them. */
async function sendFrames(pub: WireClient, streamId: number, count: number) {
  const sent = [];
  for (let seq = 0; seq < count; seq++) {
    const f = testFrame(streamId, seq, seq % 30 === 0, 600);
    sent.push(f);
    pub.send(f);
    if (seq % 10 === 9) await new Promise((r) => setTimeout(r, 5));
  }
  return sent;
}

describe('serve --workers 2', { timeout: 90_000 }, () => {
  let served: Served;
  const clients: WireClient[] = [];

  before(async () => {
    ensureBuilt();
    served = await serve({ tcp: 0, http: 0 }, process.env, ['--workers', '2', '--metrics-port', '0']);
    await poll(
      async () => new Set(workersLogged(served.stderr()).map((w) => w.worker)).size === 2,
      10_000,
      'two workers',
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await killStarted();
  });

  it('gives viewers on either worker the streams published on either, every frame and byte', async () => {
    const viewers: WireClient[] = [];
    for (let i = 0; i < 6; i++) viewers.push(await WireClient.hello(served.port, 'viewer'));
    clients.push(...viewers);
    const nodes = new Set(viewers.map(nodeOf));
    assert.equal(nodes.size, 2, `six viewers land on both workers: ${[...nodes]}`);
    for (const v of viewers) v.send({ type: 'subscribe', requestId: 1, room: 'hall', name: '' });
    await Promise.all(viewers.map((v) => v.barrier()));

    const pubA = await helloOn(served.port, 'publisher', () => true, clients);
    const pubB = await helloOn(served.port, 'publisher', (n) => n !== nodeOf(pubA), clients);
    const idA = await pubA.publish('hall', 'cam-a');
    const idB = await pubB.publish('hall', 'cam-b');
    // Every viewer has both streams (one local to its worker, one pulled from the other) before frames flow.
    const added = (v: WireClient, name: string) =>
      v.received.find((m): m is StreamAdded => m.type === 'stream-added' && m.name === name);
    await poll(
      async () => viewers.every((v) => added(v, 'cam-a') && added(v, 'cam-b')),
      10_000,
      'both streams',
    );
    // A pull starts with the first viewer's subscription; give the links a moment to be up.
    await new Promise((r) => setTimeout(r, 300));
    const sentA = await sendFrames(pubA, idA, 90);
    const sentB = await sendFrames(pubB, idB, 90);

    for (const v of viewers) {
      for (const [name, sent, originId] of [
        ['cam-a', sentA, idA],
        ['cam-b', sentB, idB],
      ] as const) {
        const streamId = (added(v, name) as StreamAdded).streamId;
        const got = await v.until(() => {
          const f = v.frames(streamId);
          return f.length >= sent.length ? f : false;
        }, 10_000);
        // The same frames in order with the same bytes; only the stream id is the viewer's worker's own.
        assert.deepEqual(
          got.map((f) => ({ ...f, streamId: originId })),
          sent,
          `${name} on a viewer of ${nodeOf(v)}`,
        );
      }
    }

    // The primary's metrics listener sums the workers: all six viewers and both publishers are counted,
    // which no one worker holds, and the streams are the two published plus one copy on each worker.
    const url = await poll(
      async () => /^framewire metrics \(no token\) on (\S+)$/m.exec(served.stdout())?.[1],
      5000,
      'the metrics address',
    );
    const text = await (await fetch(url)).text();
    const value = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.ok(value('framewire_connections\\{transport="tcp"\\}') >= 8, 'connections of both workers');
    assert.equal(value('framewire_streams'), 4);
    assert.equal(value('framewire_cluster_nodes'), 1, 'each worker hears the other: the maximum, not a sum');
  });

  it('replaces a worker killed with SIGKILL under a new name; a viewer on the replacement gets the survivor’s stream', async () => {
    const pub = await helloOn(served.port, 'publisher', () => true, clients);
    const survivor = nodeOf(pub);
    const victim = workersLogged(served.stderr()).find((w) => w.node !== survivor);
    assert.ok(victim, 'the other worker was logged');
    const id = await pub.publish('after', 'cam');
    process.kill(victim.pid, 'SIGKILL');
    // The primary replaces it under a new name (the old one's streams end as node-lost).
    const replaced = await poll(
      async () =>
        workersLogged(served.stderr()).find((w) => w.worker === victim.worker && w.pid !== victim.pid),
      15_000,
      'a replacement worker',
    );
    assert.notEqual(replaced.node, victim.node);
    const viewer = await helloOn(served.port, 'viewer', (n) => n === replaced.node, clients);
    viewer.send({ type: 'subscribe', requestId: 1, room: 'after', name: 'cam' });
    const m = (await viewer.next((x) => x.type === 'stream-added', 10_000)) as StreamAdded;
    await new Promise((r) => setTimeout(r, 300));
    const sent = await sendFrames(pub, id, 30);
    const got = await viewer.until(() => {
      const f = viewer.frames(m.streamId);
      return f.length >= sent.length ? f : false;
    }, 10_000);
    assert.equal(got[0]?.key, true);
  });

  it('stops the workers and its nats-server on SIGTERM, and exits 0', async () => {
    const nats = /nats-started url=\S+ pid=(\d+)/.exec(served.stderr());
    assert.ok(nats, 'the primary logged the nats-server it started');
    const pids = [Number(nats[1]), ...workersLogged(served.stderr()).map((w) => w.pid)];
    const child = served.child as ChildProcess;
    const code = exited(child);
    child.kill('SIGTERM');
    assert.equal(await code, 0);
    for (const pid of pids) {
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} is gone`);
    }
  });
});
