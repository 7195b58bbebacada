import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Message } from '../../src/protocol/index.js';
import { type RelayServer, type ServerOptions, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

type ErrorMessage = Extract<Message, { type: 'error' }>;

describe('every limit, crossed', () => {
  let server: RelayServer;
  const clients: WireClient[] = [];
  async function start(limits: ServerOptions): Promise<void> {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, ...limits });
  }
  async function client(role: 'publisher' | 'viewer' = 'publisher'): Promise<WireClient> {
    const c = await WireClient.hello(server.tcpPort, role);
    clients.push(c);
    return c;
  }
  async function errorFor(c: WireClient, requestId: number): Promise<ErrorMessage> {
    return (await c.next((m) => m.type === 'error' && m.requestId === requestId)) as ErrorMessage;
  }
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  it('streams per connection: the next publish is refused with FW_LIMIT, the connection stays', async () => {
    await start({ maxStreamsPerConnection: 2 });
    const c = await client();
    await c.publish('lim', 'a');
    await c.publish('lim', 'b');
    c.send({
      type: 'publish',
      requestId: 77,
      room: 'lim',
      name: 'c',
      video: { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
    });
    assert.equal((await errorFor(c, 77)).code, 'FW_LIMIT');
    assert.equal(server.stats().streams.length, 2);
    c.send({ type: 'ping', id: 1, time: 1 });
    await c.next((m) => m.type === 'pong');
  });

  it('viewers per stream: a named subscribe past the limit gets FW_LIMIT; a room viewer is told and skipped', async () => {
    await start({ maxViewersPerStream: 1 });
    const pub = await client();
    await pub.publish('full', 'cam');
    const first = await client('viewer');
    first.send({ type: 'subscribe', requestId: 1, room: 'full', name: 'cam' });
    await first.next((m) => m.type === 'stream-added');
    const second = await client('viewer');
    second.send({ type: 'subscribe', requestId: 2, room: 'full', name: 'cam' });
    assert.equal((await errorFor(second, 2)).code, 'FW_LIMIT');
    const roomViewer = await client('viewer');
    roomViewer.send({ type: 'subscribe', requestId: 3, room: 'full', name: '' });
    const told = (await roomViewer.next((m) => m.type === 'error')) as ErrorMessage;
    assert.equal(told.code, 'FW_LIMIT');
    assert.equal(
      roomViewer.received.some((m) => m.type === 'stream-added'),
      false,
    );
  });

  it('rooms: a publish or room subscribe that would create one room too many gets FW_LIMIT', async () => {
    await start({ maxRooms: 2 });
    const c = await client();
    await c.publish('room-1', 'a');
    await c.publish('room-2', 'a');
    c.send({
      type: 'publish',
      requestId: 9,
      room: 'room-3',
      name: 'a',
      video: { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
    });
    assert.equal((await errorFor(c, 9)).code, 'FW_LIMIT');
    c.send({ type: 'subscribe', requestId: 10, room: 'room-4', name: '' });
    assert.equal((await errorFor(c, 10)).code, 'FW_LIMIT');
    // An existing room still takes more streams.
    await c.publish('room-1', 'b');
    assert.equal(server.stats().rooms.length, 2);
  });

  it('connections per IP: the one past the limit is told FW_LIMIT and closed; closing one frees a place', async () => {
    await start({ maxConnectionsPerIp: 2 });
    const a = await client();
    await client();
    const third = await WireClient.connect(server.tcpPort);
    clients.push(third);
    const err = (await third.next((m) => m.type === 'error')) as ErrorMessage;
    assert.equal(err.code, 'FW_LIMIT');
    await third.closed;
    a.close();
    await a.closed;
    await a.until(() => server.stats().connections === 1);
    await client();
  });

  it('idle timeout: a peer that answers nothing is pinged, then closed with FW_TIMEOUT; one that answers stays', async () => {
    await start({ idleTimeoutMs: 1200 });
    const silent = await client('viewer');
    const answering = await client('viewer');
    answering.socket.on('data', () => {
      for (const m of answering.received.splice(0)) {
        if (m.type === 'ping')
          answering.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
      }
    });
    await silent.next((m) => m.type === 'ping', 5000);
    const err = (await silent.next((m) => m.type === 'error', 5000)) as ErrorMessage;
    assert.equal(err.code, 'FW_TIMEOUT');
    await silent.closed;
    assert.equal(answering.socket.destroyed, false, 'the peer that answered pings is still connected');
  });

  it('bytes per second per stream: a publisher flooding past the limit is told FW_LIMIT and closed', async () => {
    await start({ maxStreamBytesPerSec: 100_000 });
    const viewer = await client('viewer');
    const pub = await client();
    const id = await pub.publish('flood', 'cam');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'flood', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    // 3 s of budget at 100 kB/s is 300 kB; 40 frames of 10 kB at once cross it.
    for (let seq = 0; seq < 40; seq++) pub.send(testFrame(id, seq, seq === 0, 10_000));
    const err = (await pub.next((m) => m.type === 'error')) as ErrorMessage;
    assert.equal(err.code, 'FW_LIMIT');
    await pub.closed;
    await viewer.next((m) => m.type === 'stream-removed');
    assert.ok(
      viewer.frames(id).length >= 25 && viewer.frames(id).length < 40,
      `${viewer.frames(id).length} frames passed`,
    );
  });
});
