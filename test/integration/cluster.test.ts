import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRAME_HEADER_BYTES, type Message } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { type NatsServer, startNats } from '../helpers/nats.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

/** Linger of the pulls in this file: short, so the test of a pull ending does not wait 5 s. */
const LINGER_MS = 300;

/** Polls `probe` until it is truthy or `ms` passes (then fails with `what`). */
async function until<T>(what: string, probe: () => T | undefined | false | null, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Connections on `server` that said hello as `peer` (node links). */
function peerLinks(server: RelayServer): number {
  let n = 0;
  for (const c of server.relay.connections) if (c.hello?.role === 'peer') n++;
  return n;
}

/** The stream-added message for `name` that `c` received, if any. */
function addedFor(c: WireClient, name: string): Extract<Message, { type: 'stream-added' }> | undefined {
  return c.received.find(
    (m): m is Extract<Message, { type: 'stream-added' }> => m.type === 'stream-added' && m.name === name,
  );
}

describe('cluster of two nodes over NATS', () => {
  let nats: NatsServer;
  let a: RelayServer;
  let b: RelayServer;
  const clients: WireClient[] = [];
  const track = (c: WireClient): WireClient => {
    clients.push(c);
    return c;
  };

  before(async () => {
    nats = await startNats();
    const cluster = (nodeName: string) => ({ servers: [nats.url], nodeName, lingerMs: LINGER_MS });
    // Keyframe requests unthrottled, so the test of one crossing the link is not waiting out the throttle.
    const options = { tcpPort: 0, httpPort: 0, log: () => {}, keyframeRequestIntervalMs: 1 };
    a = await startServer({ ...options, cluster: cluster('node-a') });
    b = await startServer({ ...options, cluster: cluster('node-b') });
    await until(
      'the nodes to see each other',
      () => a.cluster?.stats().nodes.length === 1 && b.cluster?.stats().nodes.length === 1,
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.close(), b?.close()]);
    await nats?.stop();
  });

  it('carries a stream published on A to a room viewer on B, starting with a keyframe', async () => {
    const viewer = track(await WireClient.hello(b.tcpPort, 'viewer'));
    viewer.send({ type: 'subscribe', requestId: 1, room: 'hall', name: '' });
    await viewer.barrier();
    const pub = track(await WireClient.hello(a.tcpPort, 'publisher'));
    const originId = await pub.publish('hall', 'cam');
    const added = await until('stream-added on B', () => addedFor(viewer, 'cam'));
    assert.equal(added.room, 'hall');
    assert.equal(added.video?.codec, 'vp8');
    // The room viewer on B is a viewer of the stream: B pulls it over one link to A.
    await until('the pull from B', () => peerLinks(a) === 1);
    const sent = [];
    for (let seq = 0; seq < 60; seq++) {
      const f = testFrame(originId, seq, seq % 30 === 0, 700);
      sent.push(f);
      pub.send(f);
      if (seq % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    const got = await until('60 frames on B', () => {
      const f = viewer.frames(added.streamId);
      return f.length >= 60 ? f : false;
    });
    assert.equal(got[0]?.key, true);
    // Same frames, same bytes; only the stream id is B's own.
    assert.deepEqual(
      got.map((f) => ({ ...f, streamId: originId })),
      sent,
    );
    // The HTTP API on B lists the stream (it is a stream of B's relay, fed by the pull).
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/api/rooms/hall`);
    const body = (await res.json()) as { streams?: { name: string }[] };
    assert.ok(JSON.stringify(body).includes('"cam"'), JSON.stringify(body));
    // /metrics on B shows the node it hears and the link: its 60 frames, none missed, their age.
    const metrics = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
    const series = (name: string) =>
      Number(
        new RegExp(`^${name}\\{origin="node-a",room="hall",stream="cam"\\} (\\S+)$`, 'm').exec(metrics)?.[1],
      );
    assert.match(metrics, /^framewire_cluster_nodes 1$/m);
    assert.match(metrics, /^framewire_cluster_links 1$/m);
    assert.equal(series('framewire_cluster_link_frames'), 60);
    assert.equal(
      series('framewire_cluster_link_bytes'),
      got.reduce((n, f) => n + f.payload.length, 0) + 60 * FRAME_HEADER_BYTES,
    );
    assert.equal(series('framewire_cluster_link_frames_missed'), 0);
    assert.ok(series('framewire_cluster_link_age_seconds') >= 0, 'the last frame has an age');
  });

  it('refuses the same name on B while A has it (FW_STREAM_EXISTS)', async () => {
    const pubA = track(await WireClient.hello(a.tcpPort, 'publisher'));
    await pubA.publish('names', 'one');
    await until('the entry on B', () => b.relay.findStream('names', 'one'));
    const pubB = track(await WireClient.hello(b.tcpPort, 'publisher'));
    await assert.rejects(pubB.publish('names', 'one'), /FW_STREAM_EXISTS/);
  });

  it('pulls once for three viewers, forwards keyframe requests, and drops the pull after the linger', async () => {
    const pub = track(await WireClient.hello(a.tcpPort, 'publisher'));
    const originId = await pub.publish('trio', 'cam');
    pub.send(testFrame(originId, 0, true, 500));
    const remote = await until('the stream on B', () => b.relay.findStream('trio', 'cam'));
    const before = peerLinks(a);
    const viewers = [];
    for (let i = 0; i < 3; i++) {
      const v = track(await WireClient.hello(b.tcpPort, 'viewer'));
      v.send({ type: 'subscribe', requestId: 1, room: 'trio', name: 'cam' });
      viewers.push(v);
    }
    for (const v of viewers) await v.next((m) => m.type === 'stream-added');
    await until('the pull', () => peerLinks(a) === before + 1);
    for (let seq = 1; seq <= 20; seq++) pub.send(testFrame(originId, seq, seq === 10, 500));
    for (const v of viewers) {
      await v.until(() => v.frames(remote.id).length >= 11);
      assert.equal(v.frames(remote.id)[0]?.key, true);
    }
    assert.equal(peerLinks(a), before + 1, 'one link whatever the number of viewers');
    // A keyframe request from a viewer on B reaches the publisher on A (B and A both rate-limit it).
    const asked = pub.received.filter((m) => m.type === 'keyframe-request').length;
    viewers[0]?.send({ type: 'keyframe-request', streamId: remote.id });
    await pub.until(
      () =>
        pub.received.filter((m) => m.type === 'keyframe-request' && m.streamId === originId).length > asked,
    );
    // The viewers leave: the link ends after the linger, and B keeps the stream listed.
    for (const v of viewers) v.send({ type: 'unsubscribe', requestId: 2, room: 'trio', name: 'cam' });
    await until('the pull to end', () => peerLinks(a) === before);
    assert.ok(b.relay.findStream('trio', 'cam'));
    // A new viewer starts the pull again.
    const late = track(await WireClient.hello(b.tcpPort, 'viewer'));
    late.send({ type: 'subscribe', requestId: 1, room: 'trio', name: 'cam' });
    await late.next((m) => m.type === 'stream-added');
    await until('the pull again', () => peerLinks(a) === before + 1);
    pub.send(testFrame(originId, 21, true, 500));
    await late.until(() => late.frames(remote.id).some((f) => f.seq === 21));
    assert.equal(late.frames(remote.id)[0]?.key, true);
  });

  it('tells B’s viewers stream-removed when A’s publisher unpublishes', async () => {
    const pub = track(await WireClient.hello(a.tcpPort, 'publisher'));
    const originId = await pub.publish('bye', 'cam');
    const viewer = track(await WireClient.hello(b.tcpPort, 'viewer'));
    viewer.send({ type: 'subscribe', requestId: 1, room: 'bye', name: '' });
    const added = await until('stream-added on B', () => addedFor(viewer, 'cam'));
    const idle = track(await WireClient.hello(b.tcpPort, 'viewer'));
    pub.send({ type: 'unpublish', streamId: originId });
    const removed = await viewer.next((m) => m.type === 'stream-removed' && m.streamId === added.streamId);
    assert.equal(removed.type, 'stream-removed');
    await until('the name to be free on B', () => !b.relay.findStream('bye', 'cam'));
    // And B may now publish that name itself; A's room viewers see it.
    idle.send({ type: 'subscribe', requestId: 1, room: 'bye', name: '' });
    const onA = track(await WireClient.hello(a.tcpPort, 'viewer'));
    onA.send({ type: 'subscribe', requestId: 1, room: 'bye', name: '' });
    await onA.barrier();
    const pubB = track(await WireClient.hello(b.tcpPort, 'publisher'));
    await pubB.publish('bye', 'cam');
    await until('B’s stream on A', () => addedFor(onA, 'cam'));
  });

  it('lets exactly one of two simultaneous publishers of a name keep it', async () => {
    const pubA = track(await WireClient.hello(a.tcpPort, 'publisher'));
    const pubB = track(await WireClient.hello(b.tcpPort, 'publisher'));
    // Both at once: each node opens it locally, then the directory's compare-and-set picks one.
    const results = await Promise.allSettled([pubA.publish('race', 'cam'), pubB.publish('race', 'cam')]);
    const refused = (c: WireClient, r: PromiseSettledResult<number>) =>
      r.status === 'rejected' || c.received.some((m) => m.type === 'error' && m.code === 'FW_STREAM_EXISTS');
    const [ra, rb] = results as [PromiseSettledResult<number>, PromiseSettledResult<number>];
    await until('one refusal', () => refused(pubA, ra) || refused(pubB, rb));
    await until('both nodes to agree', () => {
      const sa = a.relay.findStream('race', 'cam');
      const sb = b.relay.findStream('race', 'cam');
      // One node has the publisher's stream, the other a copy of it.
      return sa && sb && (sa.publisher.origin === undefined) !== (sb.publisher.origin === undefined);
    });
    assert.notEqual(refused(pubA, ra), refused(pubB, rb), 'exactly one publisher refused');
  });

  it('gives a peer hello no special powers: a stranger calling itself a peer is an ordinary client', async () => {
    const stranger = track(await WireClient.hello(a.tcpPort, 'peer'));
    // It may view like any viewer (open mode), and it cannot feed another node's stream or a stream it does not own.
    const remote = await until('a remote stream on A', () => a.relay.findStream('bye', 'cam'));
    stranger.send(testFrame(remote.id, 0, true, 100));
    await stranger.closed;
    const last = stranger.received.at(-1);
    assert.equal(last?.type, 'error');
    assert.equal(last?.type === 'error' ? last.code : '', 'FW_NOT_OWNER');
    assert.ok(a.relay.findStream('bye', 'cam'), 'the remote stream goes on');
  });
});
