import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { encodeMessage, lengthPrefix, type Message, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

/** Waits for the error the server sends before closing, then for the close itself. */
async function expectClosedWith(c: WireClient, code: string): Promise<void> {
  const err = await c.next((m) => m.type === 'error');
  assert.equal((err as Extract<Message, { type: 'error' }>).code, code);
  await c.closed;
}

function withPrefix(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out.set(lengthPrefix(body.length));
  out.set(body, 4);
  return out;
}

describe('bad input closes only the offending connection', () => {
  let server: RelayServer;
  let pub: WireClient;
  let viewer: WireClient;
  let streamId: number;
  let seq = 0;
  let timer: NodeJS.Timeout;

  before(async () => {
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      log: () => {},
      maxMessageBytes: 64 * 1024,
      helloTimeoutMs: 500,
    });
    pub = await WireClient.hello(server.tcpPort, 'publisher');
    viewer = await WireClient.hello(server.tcpPort, 'viewer');
    streamId = await pub.publish('safe', 'cam');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'safe', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    // A live stream runs through every case below; it must never notice them.
    timer = setInterval(() => pub.send(testFrame(streamId, seq++, seq % 10 === 1)), 10);
  });
  after(async () => {
    clearInterval(timer);
    pub.close();
    viewer.close();
    await server.close();
  });

  it('unknown message type → FW_UNKNOWN_TYPE', async () => {
    const c = await WireClient.connect(server.tcpPort);
    c.sendRaw(withPrefix(new Uint8Array([0xee, 1, 2, 3])));
    await expectClosedWith(c, 'FW_UNKNOWN_TYPE');
  });

  it('truncated message → FW_TRUNCATED', async () => {
    const c = await WireClient.connect(server.tcpPort);
    const hello = encodeMessage({
      type: 'hello',
      version: PROTOCOL_VERSION,
      role: 'viewer',
      agent: 'x',
      token: 'secret',
    });
    c.sendRaw(withPrefix(hello.subarray(0, hello.length - 3)));
    await expectClosedWith(c, 'FW_TRUNCATED');
  });

  it('oversized length prefix → FW_TOO_LARGE, before any body arrives', async () => {
    const c = await WireClient.connect(server.tcpPort);
    c.sendRaw(lengthPrefix(0x7fffffff));
    await expectClosedWith(c, 'FW_TOO_LARGE');
  });

  it('a message just over the configured limit → FW_TOO_LARGE', async () => {
    const c = await WireClient.hello(server.tcpPort);
    const id = await c.publish('safe', 'big');
    c.send(testFrame(id, 0, true, 64 * 1024));
    await expectClosedWith(c, 'FW_TOO_LARGE');
  });

  it('frame before hello → FW_NOT_HELLO', async () => {
    const c = await WireClient.connect(server.tcpPort);
    c.send(testFrame(1, 0, true));
    await expectClosedWith(c, 'FW_NOT_HELLO');
  });

  it('no hello within the handshake timeout → FW_NOT_HELLO', async () => {
    const c = await WireClient.connect(server.tcpPort);
    await expectClosedWith(c, 'FW_NOT_HELLO');
  });

  it('another protocol version → FW_BAD_VERSION', async () => {
    const c = await WireClient.connect(server.tcpPort);
    c.send({ type: 'hello', version: 9, role: 'viewer', agent: 'future', token: '' });
    await expectClosedWith(c, 'FW_BAD_VERSION');
  });

  it("frames into another client's stream → FW_NOT_OWNER", async () => {
    const c = await WireClient.hello(server.tcpPort);
    c.send(testFrame(streamId, 999_999, true));
    await expectClosedWith(c, 'FW_NOT_OWNER');
  });

  it("unpublishing another client's stream → FW_NOT_OWNER, and the stream lives on", async () => {
    const c = await WireClient.hello(server.tcpPort);
    c.send({ type: 'unpublish', streamId });
    await expectClosedWith(c, 'FW_NOT_OWNER');
    assert.ok(server.stats().streams.some((s) => s.id === streamId));
  });

  it('server-only messages from a client → FW_BAD_MESSAGE', async () => {
    const c = await WireClient.hello(server.tcpPort);
    c.send({ type: 'stream-removed', streamId, reason: 'forged' });
    await expectClosedWith(c, 'FW_BAD_MESSAGE');
  });

  it('random junk → an error code, then closed', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await WireClient.connect(server.tcpPort);
      c.sendRaw(randomBytes(1 + Math.floor(Math.random() * 4096)));
      // Junk may also be an incomplete message that never ends; the hello timeout closes those.
      await c.closed;
      const err = c.received.find((m) => m.type === 'error');
      assert.ok(err && err.type === 'error' && err.code.startsWith('FW_'), 'told why');
    }
  });

  it('the live stream and the server were untouched throughout', async () => {
    const before = viewer.frames(streamId).length;
    await viewer.until(() => viewer.frames(streamId).length >= before + 20);
    const seqs = viewer.frames(streamId).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i),
    );
    await viewer.until(() => server.stats().connections === 2);
    assert.equal(server.stats().streams.length, 1);
    assert.equal(server.stats().rooms.length, 1);
  });
});
