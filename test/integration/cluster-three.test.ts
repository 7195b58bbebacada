// Three nodes over one nats-server, A and B in processes of their own (so they can be killed), C in this
// one. A publisher on A; viewers on B and C with the client library, each given the other nodes as
// alternates (`--server b,c` on the CLI). Every frame arrives in order and unchanged; each node pulls once;
// a late joiner starts from C's own cache; when B dies its viewers go on at C; when A dies its stream ends
// everywhere within 3 s (node-lost) and comes back once its publisher has moved to C.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectWithReconnect, type ReconnectingClient } from '../../src/client/index.js';
import type { StreamRemovedMessage } from '../../src/protocol/messages.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { poll } from '../helpers/cli.js';
import { type ChildNode, type NatsServer, startChildNode, startNats } from '../helpers/nats.js';
import { WireClient } from '../helpers/wire-client.js';

/** A keyframe every this many frames (1 s at 50 fps): a late joiner's first frame shows whether it came from a cache. */
const GOP = 50;
const FRAME_MS = 20;
const RETRY = { minDelayMs: 100, maxDelayMs: 400 };

/** The bytes of frame `seq`: its number first, then a pattern of it. */
function payload(seq: number): Uint8Array {
  const data = new Uint8Array(300);
  new DataView(data.buffer).setUint32(0, seq);
  for (let i = 4; i < data.length; i++) data[i] = (seq * 13 + i) & 0xff;
  return data;
}

/** What a viewer received of the stream `cam`: frames (seq, key, unchanged bytes) and removals. */
interface Seen {
  client: ReconnectingClient;
  frames: { seq: number; key: boolean; intact: boolean; at: number }[];
  removed: (StreamRemovedMessage & { at: number })[];
}

/** A viewer of room `tri` on `port`, moving to `alternates` when its node goes. */
async function viewer(port: number, alternates: number[]): Promise<Seen> {
  const client = await connectWithReconnect({
    host: '127.0.0.1',
    port,
    alternates: alternates.map((p) => ({ host: '127.0.0.1', port: p })),
    role: 'viewer',
    ...RETRY,
  });
  const seen: Seen = { client, frames: [], removed: [] };
  const cam = new Set<number>();
  client.on('stream-added', (m) => {
    if (m.name === 'cam') cam.add(m.streamId);
  });
  client.on('stream-removed', (m) => {
    if (cam.delete(m.streamId)) seen.removed.push({ ...m, at: Date.now() });
  });
  client.on('frame', (m) => {
    if (!cam.has(m.streamId)) return;
    const seq = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0);
    const intact = Buffer.from(m.payload).equals(Buffer.from(payload(seq)));
    seen.frames.push({ seq, key: m.key, intact, at: Date.now() });
  });
  await client.subscribe('tri');
  return seen;
}

/** The node a client is connected to, from the server's hello. */
function nodeOf(c: ReconnectingClient): string | undefined {
  return /\(node ([^)]+)\)/.exec(c.serverAgent ?? '')?.[1];
}

/** Frames received since index `from`: they start at a keyframe and run on without a gap, all unchanged. */
function assertRun(seen: Seen, from: number, what: string): void {
  const run = seen.frames.slice(from);
  assert.ok(run.length > 10, `${what}: frames (${run.length})`);
  assert.equal(run[0]?.key, true, `${what}: starts at a keyframe`);
  for (let i = 1; i < run.length; i++) {
    assert.equal(run[i]?.seq, (run[i - 1]?.seq as number) + 1, `${what}: no frame missing or out of order`);
  }
  assert.ok(
    run.every((f) => f.intact),
    `${what}: bytes unchanged`,
  );
}

describe('cluster of three nodes', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let a: ChildNode;
  let b: ChildNode;
  let c: RelayServer;
  let publisher: ReconnectingClient;
  let seq = 0;
  let ticker: NodeJS.Timeout | undefined;
  const viewers: Seen[] = [];

  before(async () => {
    nats = await startNats();
    a = await startChildNode(nats.url, 'a');
    b = await startChildNode(nats.url, 'b');
    c = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      cluster: { servers: [nats.url], nodeName: 'c' },
    });
    await poll(async () => c.cluster?.stats().nodes.length === 2, 10_000, 'C to see A and B');
    publisher = await connectWithReconnect({
      host: '127.0.0.1',
      port: a.tcpPort,
      alternates: [b.tcpPort, c.tcpPort].map((port) => ({ host: '127.0.0.1', port })),
      role: 'publisher',
      ...RETRY,
    });
    const publication = await publisher.publish('tri', 'cam', {
      video: { codec: 'vp8', codedWidth: 64, codedHeight: 48 },
    });
    ticker = setInterval(() => {
      publication.sendFrame({
        key: seq % GOP === 0,
        timestamp: seq * FRAME_MS * 1000,
        captureTime: Date.now() * 1000,
        data: payload(seq),
      });
      seq++;
    }, FRAME_MS);
  });
  after(async () => {
    clearInterval(ticker);
    await Promise.all([publisher?.close(), ...viewers.map((v) => v.client.close())]);
    await c?.close();
    await Promise.all([a?.kill(), b?.kill()]);
    await nats?.stop();
  });

  it('gives viewers on B and C every frame in order, unchanged, over one pull per node', async () => {
    viewers.push(await viewer(b.tcpPort, [c.tcpPort]), await viewer(b.tcpPort, [c.tcpPort]));
    viewers.push(await viewer(c.tcpPort, [b.tcpPort]), await viewer(c.tcpPort, [b.tcpPort]));
    await poll(async () => viewers.every((v) => v.frames.length >= 60), 15_000, '60 frames on every viewer');
    for (const [i, v] of viewers.entries()) assertRun(v, 0, `viewer ${i} on ${nodeOf(v.client)}`);
    assert.deepEqual(viewers.map((v) => nodeOf(v.client)).sort(), ['b', 'b', 'c', 'c']);
    // One link per node for the stream, whatever its number of viewers there.
    assert.equal(c.cluster?.stats().links, 1);
    const onB = (await (await fetch(`http://127.0.0.1:${b.httpPort}/api/cluster`)).json()) as {
      links: number;
    };
    assert.equal(onB.links, 1);
  });

  it('starts a late joiner on C at once, from C’s own cache', async () => {
    const late = await WireClient.hello(c.tcpPort, 'viewer');
    try {
      const subscribedAt = Date.now();
      const seqThen = seq;
      late.send({ type: 'subscribe', requestId: 1, room: 'tri', name: 'cam' });
      const first = await late.next((m) => m.type === 'frame', 5000);
      assert.ok(first.type === 'frame' && first.key, 'the first frame is a keyframe');
      const firstSeq = new DataView(first.payload.buffer, first.payload.byteOffset).getUint32(0);
      // A keyframe sent before the subscription: from the cache, not the next one (up to a GOP later).
      assert.ok(firstSeq < seqThen, `keyframe ${firstSeq} was sent before the join (at ${seqThen})`);
      assert.ok(
        Date.now() - subscribedAt < 1000,
        `first frame ${Date.now() - subscribedAt} ms after joining`,
      );
    } finally {
      late.close();
    }
  });

  it('moves B’s viewers to C when B is killed, and they go on from a keyframe', async () => {
    const onB = viewers.slice(0, 2);
    const marks = onB.map((v) => v.frames.length);
    await b.kill();
    await poll(
      async () =>
        onB.every((v, i) => nodeOf(v.client) === 'c' && v.frames.length >= (marks[i] as number) + 30),
      15_000,
      "B's viewers receiving on C",
    );
    for (const [i, v] of onB.entries()) {
      // Frames from C start with the one after the reconnect's stream-added: find where they begin.
      const from = v.frames.findIndex((f, j) => j >= (marks[i] as number) && f.key);
      assertRun(v, from, `B's viewer ${i} after the move`);
    }
  });

  it('ends A’s stream everywhere within 3 s when A is killed; its publisher moves and viewers get it back', async (t) => {
    const onC = viewers.slice(2);
    const killedAt = Date.now();
    await a.kill();
    await poll(async () => onC.every((v) => v.removed.length > 0), 10_000, 'stream-removed on C');
    for (const v of onC) {
      const removal = v.removed[0] as StreamRemovedMessage & { at: number };
      assert.equal(removal.reason, 'node-lost');
      assert.ok(removal.at - killedAt <= 3000, `removed ${removal.at - killedAt} ms after the kill`);
      t.diagnostic(`a viewer on C told node-lost ${removal.at - killedAt} ms after A was killed`);
    }
    const marks = viewers.map((v) => v.frames.length);
    await poll(async () => nodeOf(publisher) === 'c', 15_000, 'the publisher on C');
    await poll(
      async () => viewers.every((v, i) => v.frames.length >= (marks[i] as number) + 30),
      15_000,
      'every viewer receiving the stream again',
    );
    t.diagnostic(
      `every viewer had 30 frames of the stream again ${Date.now() - killedAt} ms after A was killed`,
    );
    for (const [i, v] of viewers.entries()) assertRun(v, marks[i] as number, `viewer ${i} after A's death`);
  });
});
