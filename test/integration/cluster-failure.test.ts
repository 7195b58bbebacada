import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { connect as connectClient, type FramewireClient } from '../../src/client/index.js';
import { type Message, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { DIRECTORY_BUCKET, directoryKey } from '../../src/server/cluster/directory.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { type ChildNode, type NatsServer, startChildNode, startNats } from '../helpers/nats.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

/** Polls `probe` until it is truthy or `ms` passes (then fails with `what`). */
async function until<T>(
  what: string,
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function addedFor(c: WireClient, name: string): Extract<Message, { type: 'stream-added' }> | undefined {
  return c.received.find(
    (m): m is Extract<Message, { type: 'stream-added' }> => m.type === 'stream-added' && m.name === name,
  );
}

describe('cluster: a node killed with SIGKILL', () => {
  let nats: NatsServer;
  let b: RelayServer;
  let c: ChildNode;
  const clients: WireClient[] = [];

  before(async () => {
    nats = await startNats();
    b = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      cluster: { servers: [nats.url], nodeName: 'node-b' },
    });
    c = await startChildNode(nats.url, 'node-c');
    await until('B to hear C', () => b.cluster?.stats().nodes.some((n) => n.name === 'node-c'));
  });
  after(async () => {
    for (const x of clients) x.close();
    await c?.kill();
    await b?.close();
    await nats?.stop();
  });

  it('ends its streams on the other nodes (node-lost) and leaves no directory entry', async () => {
    const pub = await WireClient.hello(c.tcpPort, 'publisher');
    clients.push(pub);
    const originId = await pub.publish('crash', 'cam');
    const viewer = await WireClient.hello(b.tcpPort, 'viewer');
    clients.push(viewer);
    viewer.send({ type: 'subscribe', requestId: 1, room: 'crash', name: '' });
    const added = await until('stream-added on B', () => addedFor(viewer, 'cam'));
    pub.send(testFrame(originId, 0, true, 400));
    await viewer.until(() => viewer.frames(added.streamId).length > 0);

    const killedAt = Date.now();
    await c.kill();
    const removed = await viewer.next(
      (m) => m.type === 'stream-removed' && m.streamId === added.streamId,
      10_000,
    );
    assert.equal(removed.type === 'stream-removed' ? removed.reason : '', 'node-lost');
    process.stdout.write(`# stream-removed on B ${Date.now() - killedAt} ms after SIGKILL of its origin\n`);

    // The survivor withdrew the dead node's entry: the directory no longer holds the name.
    const nc = await connect({ servers: [nats.url] });
    try {
      const kv = await new Kvm(nc).open(DIRECTORY_BUCKET);
      await until('the entry to go', async () => {
        const e = await kv.get(directoryKey('crash', 'cam'));
        return e === null || e.operation !== 'PUT';
      });
    } finally {
      await nc.close();
    }
    // So the name is free: a publisher on B takes it.
    const again = await WireClient.hello(b.tcpPort, 'publisher');
    clients.push(again);
    await again.publish('crash', 'cam');
  });
});

describe('cluster with a secret: links take tokens, strangers get nothing', () => {
  const secret = 'cluster-test-secret-0123456789-abcdefghijklmnop';
  let nats: NatsServer;
  let a: RelayServer;
  let b: RelayServer;
  const clients: WireClient[] = [];

  /** Connects and says hello as `role` with `token`; resolves once the server answered (hello or error). */
  async function hello(
    port: number,
    token: string,
    role: 'peer' | 'viewer' | 'publisher' = 'peer',
  ): Promise<WireClient> {
    const x = await WireClient.connect(port);
    clients.push(x);
    x.send({ type: 'hello', version: PROTOCOL_VERSION, role, agent: 'test', token });
    await x.next((m) => m.type === 'hello' || m.type === 'error');
    return x;
  }

  before(async () => {
    nats = await startNats();
    const cluster = (nodeName: string) => ({ servers: [nats.url], nodeName, lingerMs: 200 });
    a = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, secret, cluster: cluster('sec-a') });
    b = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, secret, cluster: cluster('sec-b') });
  });
  after(async () => {
    for (const x of clients) x.close();
    await Promise.all([a?.close(), b?.close()]);
    await nats?.stop();
  });

  it('pulls with a token minted from the shared secret', async () => {
    const pub = await hello(
      a.tcpPort,
      await mintToken(secret, { room: 'vault', publish: true, view: false, ttlSec: 60 }),
      'publisher',
    );
    const originId = await pub.publish('vault', 'cam');
    const viewer = await hello(
      b.tcpPort,
      await mintToken(secret, { room: 'vault', publish: false, view: true, ttlSec: 60 }),
      'viewer',
    );
    await until('the stream on B', () => b.relay.findStream('vault', 'cam'));
    viewer.send({ type: 'subscribe', requestId: 1, room: 'vault', name: 'cam' });
    const added = await until('stream-added on B', () => addedFor(viewer, 'cam'));
    pub.send(testFrame(originId, 0, true, 300));
    await viewer.until(() => viewer.frames(added.streamId).length > 0);
  });

  it('closes a peer hello without a token, and a peer token is only what it grants', async () => {
    const bare = await hello(a.tcpPort, '');
    await bare.closed;
    const refused = bare.received.find((m) => m.type === 'error');
    assert.equal(refused?.type === 'error' ? refused.code : '', 'FW_UNAUTHORIZED');
    // A role of `peer` adds nothing: a view token for another room cannot watch this one.
    const other = await hello(
      a.tcpPort,
      await mintToken(secret, { room: 'lobby', publish: false, view: true, ttlSec: 60 }),
    );
    other.send({ type: 'subscribe', requestId: 7, room: 'vault', name: 'cam' });
    const answer = await other.next((m) => m.type === 'error' && m.requestId === 7);
    assert.equal(answer.type === 'error' ? answer.code : '', 'FW_UNAUTHORIZED');
  });
});

describe('cluster: NATS killed and restarted', () => {
  let nats: NatsServer;
  let a: RelayServer;
  let b: RelayServer;
  const clients: WireClient[] = [];
  const track = (x: WireClient): WireClient => {
    clients.push(x);
    return x;
  };

  before(async () => {
    nats = await startNats();
    const cluster = (nodeName: string) => ({ servers: [nats.url], nodeName });
    a = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, cluster: cluster('n-a') });
    b = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, cluster: cluster('n-b') });
  });
  after(async () => {
    for (const x of clients) x.close();
    await Promise.all([a?.close(), b?.close()]);
    await nats?.stop();
  });

  it('keeps local and linked streams going through the outage, and the cluster works after it', async () => {
    const pub = track(await WireClient.hello(a.tcpPort, 'publisher'));
    const originId = await pub.publish('outage', 'cam');
    const local = track(await WireClient.hello(a.tcpPort, 'viewer'));
    local.send({ type: 'subscribe', requestId: 1, room: 'outage', name: 'cam' });
    await until('the stream on B', () => b.relay.findStream('outage', 'cam'));
    const remote = track(await WireClient.hello(b.tcpPort, 'viewer'));
    remote.send({ type: 'subscribe', requestId: 1, room: 'outage', name: 'cam' });
    const added = await until('stream-added on B', () => addedFor(remote, 'cam'));
    await local.next((m) => m.type === 'stream-added');
    pub.send(testFrame(originId, 0, true, 300));
    await remote.until(() => remote.frames(added.streamId).length > 0);

    await nats.kill();
    // Longer than the node timeout: nobody may be declared lost for NATS's silence.
    for (let seq = 1; seq <= 20; seq++) {
      pub.send(testFrame(originId, seq, seq === 10, 300));
      await new Promise((r) => setTimeout(r, 200));
    }
    await local.until(() => local.frames(originId).some((f) => f.seq === 20));
    await remote.until(() => remote.frames(added.streamId).some((f) => f.seq === 20));
    assert.ok(!remote.received.some((m) => m.type === 'stream-removed'), 'the copy on B went on');

    await nats.restart();
    // After the outage a new stream on B reaches A's room viewers: the directory works again.
    const watcher = track(await WireClient.hello(a.tcpPort, 'viewer'));
    watcher.send({ type: 'subscribe', requestId: 1, room: 'after', name: '' });
    await watcher.barrier();
    const pubB = track(await WireClient.hello(b.tcpPort, 'publisher'));
    await pubB.publish('after', 'cam');
    await until('B’s new stream on A', () => addedFor(watcher, 'cam'), 20_000);
    assert.ok(b.relay.findStream('outage', 'cam'), 'the stream published before the outage is still on B');
  });
});

describe('cluster: NATS with a password', () => {
  let nats: NatsServer;
  const servers: RelayServer[] = [];

  before(async () => {
    nats = await startNats(['--user', 'relay', '--pass', 'correct horse']);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await nats?.stop();
  });

  it('joins with the credentials, and says which to set when they are wrong or missing', async () => {
    const options = { tcpPort: 0, httpPort: 0, log: () => {} };
    const cluster = { servers: [nats.url], nodeName: 'with-password' };
    servers.push(
      await startServer({
        ...options,
        cluster: { ...cluster, natsAuth: { user: 'relay', pass: 'correct horse' } },
      }),
    );
    assert.equal(servers[0]?.cluster?.nodeName, 'with-password');
    for (const natsAuth of [undefined, { user: 'relay', pass: 'wrong' }]) {
      await assert.rejects(
        startServer({ ...options, cluster: { ...cluster, nodeName: 'stranger', natsAuth } }),
        (err: Error & { code?: string }) =>
          err.code === 'FW_CLUSTER_UNREACHABLE' &&
          /FRAMEWIRE_NATS_USER and FRAMEWIRE_NATS_PASSWORD/.test(err.message),
      );
    }
  });
});

describe('cluster: nodes whose protocol port speaks TLS', () => {
  let nats: NatsServer;
  let pki: TestPki;
  const servers: RelayServer[] = [];
  const clients: FramewireClient[] = [];

  before(async () => {
    nats = await startNats();
    pki = makeTestPki();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
    await nats?.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  /** A node with TLS on its protocol port, trusting `linkCaFile` for its links (the system's CAs without). */
  async function tlsNode(nodeName: string, logs: string[], linkCaFile?: string): Promise<RelayServer> {
    const server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      tlsCert: pki.certFile,
      tlsKey: pki.keyFile,
      log: (line) => logs.push(line),
      cluster: { servers: [nats.url], nodeName, ...(linkCaFile ? { linkCaFile } : {}) },
    });
    servers.push(server);
    return server;
  }

  /** A client of `server`'s TLS port, trusting the test CA. */
  async function client(server: RelayServer, role: 'publisher' | 'viewer'): Promise<FramewireClient> {
    const c = await connectClient({ host: '127.0.0.1', port: server.tcpPort, tls: { ca: pki.ca }, role });
    clients.push(c);
    return c;
  }

  it('pulls over TLS to a node that trusts the CA, and not to one that does not', async () => {
    const strangerLog: string[] = [];
    const origin = await tlsNode('tls-origin', [], pki.caFile);
    const trusting = await tlsNode('tls-trusting', [], pki.caFile);
    const stranger = await tlsNode('tls-stranger', strangerLog);
    const pub = await client(origin, 'publisher');
    const publication = await pub.publish('secure', 'cam', {
      video: { codec: 'vp8', codedWidth: 64, codedHeight: 48 },
    });
    const frames = new Map<FramewireClient, number>();
    const watch = async (server: RelayServer) => {
      const v = await client(server, 'viewer');
      frames.set(v, 0);
      v.on('frame', () => frames.set(v, (frames.get(v) ?? 0) + 1));
      await v.subscribe('secure', 'cam');
      return v;
    };
    const good = await watch(trusting);
    const bad = await watch(stranger);
    await until('the TLS pull', () => trusting.cluster?.stats().links === 1);
    for (let i = 0; i < 30; i++) {
      publication.sendFrame({
        key: i === 0,
        timestamp: i * 33_000,
        captureTime: Date.now() * 1000,
        data: new Uint8Array(500).fill(i),
      });
    }
    await until('30 frames over the TLS link', () => frames.get(good) === 30);
    // The origin's certificate is signed by a CA the stranger does not trust: its link never comes up.
    const refused = await until('the stranger logging its refused link', () =>
      strangerLog.find((l) => l.includes('cluster-link-lost')),
    );
    assert.match(refused, /origin=tls-origin/);
    assert.match(refused, /CERT|SIGNATURE|certificate|self.signed|issuer/i);
    assert.equal(frames.get(bad), 0);
  });
});
