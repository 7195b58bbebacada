import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ClientError, connect, type FramewireClient } from '../../src/client/index.js';
import {
  decodeMessage,
  encodeMessage,
  lengthPrefix,
  MessageDeframer,
  PROTOCOL_VERSION,
} from '../../src/protocol/index.js';
import type { DecoderConfig, FrameMessage } from '../../src/protocol/messages.js';
import { type RelayServer, startServer } from '../../src/server/index.js';

const config: DecoderConfig = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };

/** Resolves with the first `n` frames the client receives (rejects at the deadline). */
function collectFrames(client: FramewireClient, n: number, timeoutMs = 5000): Promise<FrameMessage[]> {
  return new Promise((resolve, reject) => {
    const frames: FrameMessage[] = [];
    const timer = setTimeout(() => {
      client.off('frame', onFrame);
      reject(new Error(`got ${frames.length} of ${n} frames within ${timeoutMs} ms`));
    }, timeoutMs);
    const onFrame = (m: FrameMessage): void => {
      // The payload is a view into the received chunk: copy to compare later.
      frames.push({ ...m, payload: Uint8Array.from(m.payload) });
      if (frames.length === n) {
        clearTimeout(timer);
        client.off('frame', onFrame);
        resolve(frames);
      }
    };
    client.on('frame', onFrame);
  });
}

function payload(i: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let j = 0; j < size; j++) p[j] = (i * 31 + j * 7) & 0xff;
  return p;
}

describe('client against the real server', () => {
  let server: RelayServer;
  const clients: FramewireClient[] = [];
  const open = async (role: 'publisher' | 'viewer'): Promise<FramewireClient> => {
    const c = await connect({ host: '127.0.0.1', port: server.tcpPort, role, agent: 'test' });
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  it('relays published frames to a subscriber byte for byte, with seq +1 per frame', async () => {
    const publisher = await open('publisher');
    const viewer = await open('viewer');
    const publication = await publisher.publish('room1', 'cam', { video: config });
    assert.ok(publication.streamId > 0);

    const added = new Promise<unknown>((resolve) => viewer.once('stream-added', resolve));
    await viewer.subscribe('room1', 'cam');
    assert.deepEqual(await added, {
      type: 'stream-added',
      streamId: publication.streamId,
      room: 'room1',
      name: 'cam',
      video: config,
    });

    const sizes = [50_000, 10, 3000, 1, 200_000, 777];
    const received = collectFrames(viewer, sizes.length);
    sizes.forEach((size, i) => {
      const sent = publication.sendFrame({
        key: i % 4 === 0,
        timestamp: i * 33_333,
        captureTime: Date.now() * 1000,
        data: payload(i, size),
      });
      assert.equal(sent, true);
    });
    const frames = await received;
    frames.forEach((f, i) => {
      assert.equal(f.streamId, publication.streamId);
      assert.equal(f.seq, i);
      assert.equal(f.key, i % 4 === 0);
      assert.equal(f.timestamp, i * 33_333);
      assert.deepEqual(f.payload, payload(i, sizes[i] ?? 0));
    });
    assert.deepEqual(publication.stats, {
      framesSent: sizes.length,
      bytesSent: sizes.reduce((a, b) => a + b, 0),
      framesDropped: 0,
      audioFramesSent: 0,
      audioBytesSent: 0,
      audioFramesDropped: 0,
    });
  });

  it('drops deltas before the first keyframe so a stream starts decodable', async () => {
    const publisher = await open('publisher');
    const publication = await publisher.publish('room2', 'cam', { video: config });
    const frame = { timestamp: 0, captureTime: 0, data: payload(0, 10) };
    assert.equal(publication.sendFrame({ ...frame, key: false }), false);
    assert.equal(publication.sendFrame({ ...frame, key: true }), true);
    assert.equal(publication.sendFrame({ ...frame, key: false }), true);
    assert.equal(publication.stats.framesDropped, 1);
  });

  it('rejects a subscribe to a stream that does not exist with FW_NO_SUCH_STREAM', async () => {
    const viewer = await open('viewer');
    await assert.rejects(viewer.subscribe('room1', 'nosuch'), (err: unknown) => {
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, 'FW_NO_SUCH_STREAM');
      return true;
    });
    // The connection stays usable after a request error.
    assert.ok((await viewer.ping()) >= 0);
  });

  it('rejects a second publish of the same name with FW_STREAM_EXISTS', async () => {
    const a = await open('publisher');
    const b = await open('publisher');
    await a.publish('room3', 'cam', { video: config });
    await assert.rejects(b.publish('room3', 'cam', { video: config }), {
      name: 'ClientError',
      code: 'FW_STREAM_EXISTS',
    });
  });

  it('a room subscription resolves with no stream yet and announces streams published later', async () => {
    const viewer = await open('viewer');
    await viewer.subscribe('room4');
    const added = new Promise<{ name: string }>((resolve) => viewer.once('stream-added', resolve));
    const publisher = await open('publisher');
    await publisher.publish('room4', 'late', { video: config });
    assert.equal((await added).name, 'late');
  });

  it('measures a round trip with ping', async () => {
    const c = await open('viewer');
    const rtt = await c.ping();
    assert.ok(rtt >= 0 && rtt < 1000, `rtt ${rtt}`);
  });

  it('emits close with the server error when the server shuts down', async () => {
    const own = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    const c = await connect({ host: '127.0.0.1', port: own.tcpPort, role: 'viewer' });
    const closed = new Promise<ClientError | null>((resolve) => c.once('close', resolve));
    await own.close();
    const err = await closed;
    assert.equal(err?.code, 'FW_SHUTDOWN');
  });
});

describe('client without a server', () => {
  it('fails with FW_CONNECT_FAILED and says how to fix it when nothing listens', async () => {
    const port = await freePort();
    await assert.rejects(connect({ host: '127.0.0.1', port, role: 'publisher' }), (err: unknown) => {
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, 'FW_CONNECT_FAILED');
      assert.equal(
        err.message,
        `cannot reach the server at 127.0.0.1:${port}: connection refused — is \`framewire serve\` running?`,
      );
      return true;
    });
  });
});

describe('client send buffer bound', () => {
  // A stand-in server that completes hello and publish, then never reads: the only way to make the
  // socket backlog grow deterministically.
  it('drops frames until the next keyframe once the socket backlog passes maxWriteBufferBytes', async () => {
    const sockets: net.Socket[] = [];
    const stub = net.createServer((socket) => {
      sockets.push(socket);
      const deframer = new MessageDeframer();
      const send = (m: Parameters<typeof encodeMessage>[0]): void => {
        const body = encodeMessage(m);
        socket.write(lengthPrefix(body.length));
        socket.write(body);
      };
      socket.on('data', (chunk) =>
        deframer.push(chunk, (bytes) => {
          const m = decodeMessage(bytes);
          if (m.type === 'hello')
            send({ type: 'hello', version: PROTOCOL_VERSION, role: 'server', agent: 'stub', token: '' });
          if (m.type === 'publish') {
            send({ type: 'published', requestId: m.requestId, streamId: 7 });
            socket.pause();
          }
        }),
      );
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const port = (stub.address() as net.AddressInfo).port;
    const bound = 256 * 1024;
    const c = await connect({ host: '127.0.0.1', port, role: 'publisher', maxWriteBufferBytes: bound });
    try {
      const publication = await c.publish('r', 'n', { video: config });
      const big = new Uint8Array(100_000);
      let sent = 0;
      for (let i = 0; i < 200; i++) {
        if (publication.sendFrame({ key: i % 50 === 0, timestamp: i, captureTime: 0, data: big })) sent++;
      }
      assert.ok(c.writableLength <= bound + 2 * big.length, `backlog ${c.writableLength} stays bounded`);
      assert.ok(publication.stats.framesDropped > 0);
      assert.equal(publication.stats.framesSent, sent);
      assert.equal(sent + publication.stats.framesDropped, 200);
    } finally {
      for (const s of sockets) s.destroy();
      await c.close();
      await new Promise((resolve) => stub.close(resolve));
    }
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
