import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';
import { WsWireClient } from '../helpers/ws-client.js';

describe('HTTP side: WebSocket transport, JSON API, web files', () => {
  let server: RelayServer;
  let webRoot: string;
  const closers: (() => void)[] = [];
  const base = () => `http://127.0.0.1:${server.httpPort}`;

  before(async () => {
    webRoot = await mkdtemp(path.join(tmpdir(), 'fw-web-'));
    await writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>framewire</title>');
    await mkdir(path.join(webRoot, 'assets'));
    await writeFile(path.join(webRoot, 'assets', 'app-1234.js'), 'console.log(1);\n');
    server = await startServer({ tcpPort: 0, httpPort: 0, webRoot, log: () => {} });
  });
  after(async () => {
    for (const close of closers) close();
    await server.close();
  });

  it('relays a TCP publisher to a WebSocket viewer and a WebSocket publisher to a TCP viewer, bytes identical', async () => {
    const tcpPub = await WireClient.hello(server.tcpPort, 'publisher');
    const wsPub = await WsWireClient.hello(server.httpPort);
    const tcpViewer = await WireClient.hello(server.tcpPort, 'viewer');
    const wsViewer = await WsWireClient.hello(server.httpPort);
    closers.push(
      () => tcpPub.close(),
      () => wsPub.close(),
      () => tcpViewer.close(),
      () => wsViewer.close(),
    );

    const fromTcp = await tcpPub.publish('mixed', 'cli');
    wsPub.send({
      type: 'publish',
      requestId: 3,
      room: 'mixed',
      name: 'browser',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
    });
    const published = await wsPub.until(() => wsPub.received.find((m) => m.type === 'published'));
    const fromWs = published.type === 'published' ? published.streamId : -1;

    wsViewer.send({ type: 'subscribe', requestId: 1, room: 'mixed', name: 'cli' });
    tcpViewer.send({ type: 'subscribe', requestId: 1, room: 'mixed', name: 'browser' });
    await wsViewer.until(() => wsViewer.received.some((m) => m.type === 'stream-added'));
    await tcpViewer.next((m) => m.type === 'stream-added');

    const sentTcp = Array.from({ length: 40 }, (_, i) => testFrame(fromTcp, i, i % 10 === 0, 3000));
    const sentWs = Array.from({ length: 40 }, (_, i) => testFrame(fromWs, i, i % 10 === 0, 3000));
    for (const f of sentTcp) tcpPub.send(f);
    for (const f of sentWs) wsPub.send(f);
    await wsViewer.until(() => wsViewer.frames(fromTcp).length === 40);
    await tcpViewer.until(() => tcpViewer.frames(fromWs).length === 40);
    assert.deepEqual(wsViewer.frames(fromTcp), sentTcp);
    assert.deepEqual(tcpViewer.frames(fromWs), sentWs);
  });

  it('lists rooms, streams and viewers (with transport and receiver report) in the JSON API', async () => {
    const pub = await WireClient.hello(server.tcpPort, 'publisher');
    const viewer = await WsWireClient.hello(server.httpPort);
    closers.push(
      () => pub.close(),
      () => viewer.close(),
    );
    const streamId = await pub.publish('api-room', 'cam', {
      codec: 'avc1.42e01f',
      codedWidth: 1280,
      codedHeight: 720,
    });
    viewer.send({ type: 'subscribe', requestId: 1, room: 'api-room', name: '' });
    await viewer.until(() => viewer.received.some((m) => m.type === 'stream-added'));
    for (let i = 0; i < 5; i++) pub.send(testFrame(streamId, i, i === 0));
    await viewer.until(() => viewer.frames(streamId).length === 5);
    viewer.send({
      type: 'receiver-report',
      streamId,
      framesReceived: 5,
      framesDecoded: 5,
      framesDropped: 0,
      framesLate: 1,
      fps: 30,
      latencyP50Ms: 12,
      latencyP95Ms: 20,
    });
    await viewer.until(() => server.stats().streams.find((s) => s.id === streamId)?.viewers[0]?.report);

    const rooms = (await (await fetch(`${base()}/api/rooms`)).json()) as {
      rooms: { name: string; streams: number; viewers: number }[];
    };
    assert.deepEqual(
      rooms.rooms.find((r) => r.name === 'api-room'),
      { name: 'api-room', streams: 1, viewers: 1 },
    );
    const room = (await (await fetch(`${base()}/api/rooms/api-room`)).json()) as {
      streams: {
        name: string;
        codec: string;
        width: number;
        height: number;
        framesIn: number;
        keyframes: number;
        viewers: Record<string, unknown>[];
      }[];
    };
    const stream = room.streams[0];
    assert.equal(stream?.name, 'cam');
    assert.equal(stream?.codec, 'avc1.42e01f');
    assert.equal(stream?.width, 1280);
    assert.equal(stream?.framesIn, 5);
    assert.equal(stream?.keyframes, 1);
    const v = stream?.viewers[0] as {
      transport: string;
      framesSent: number;
      framesDropped: number;
      queuedBytes: number;
      report: { latencyP50Ms: number };
    };
    assert.equal(v.transport, 'ws');
    assert.equal(v.framesSent, 5);
    assert.equal(v.framesDropped, 0);
    assert.equal(typeof v.queuedBytes, 'number');
    assert.equal(v.report.latencyP50Ms, 12);

    const missing = await fetch(`${base()}/api/rooms/nosuch`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'FW_NOT_FOUND');
  });

  it('serves the app for / and /r/<room>, refuses paths outside the web root', async () => {
    for (const p of ['/', '/r/some-room']) {
      const res = await fetch(`${base()}${p}`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<title>framewire<\/title>/);
    }
    for (const p of ['/nosuch.js', '/..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd']) {
      assert.equal((await fetch(`${base()}${p}`)).status, 404, p);
    }
  });

  it('serves files with their type and cache rules: HEAD, ETag revalidation, immutable assets, no Range', async () => {
    const asset = await fetch(`${base()}/assets/app-1234.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await asset.text(), 'console.log(1);\n');

    const page = await fetch(`${base()}/`);
    assert.equal(
      page.headers.get('cache-control'),
      'no-cache',
      'the page itself may change with every build',
    );
    const etag = page.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${base()}/r/lab`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, 'an unchanged page is revalidated, not sent again');

    const head = await fetch(`${base()}/assets/app-1234.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '16');
    assert.equal(await head.text(), '');

    // A reversed range once reached fs.createReadStream inside the file server; ranges are ignored.
    const ranged = await fetch(`${base()}/assets/app-1234.js`, { headers: { range: 'bytes=9-2' } });
    assert.equal(ranged.status, 200);
    assert.equal(await ranged.text(), 'console.log(1);\n');

    const post = await fetch(`${base()}/assets/app-1234.js`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('answers a bad escape 400, a bad name 400, a wrong method 405 with Allow, route order aside', async () => {
    const badEscape = await fetch(`${base()}/api/rooms/%ff%fe`);
    assert.equal(badEscape.status, 400);
    assert.equal(((await badEscape.json()) as { error: { code: string } }).error.code, 'FW_BAD_REQUEST');
    const name = await fetch(`${base()}/api/rooms/-lab/streams/cam/recording`);
    assert.equal(name.status, 400);
    assert.equal(((await name.json()) as { error: { code: string } }).error.code, 'FW_BAD_NAME');
    const method = await fetch(`${base()}/api/rooms/lab`, { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'GET, HEAD');
    const recording = await fetch(`${base()}/api/rooms/lab/streams/cam/recording`, { method: 'PUT' });
    assert.equal(recording.headers.get('allow'), 'GET, POST, DELETE');
  });

  it('closes a WebSocket that sends text or a malformed message, with an error code first', async () => {
    const text = await WsWireClient.hello(server.httpPort);
    text.ws.send('hello?');
    await text.until(() => text.received.find((m) => m.type === 'error' && m.code === 'FW_BAD_MESSAGE'));
    await text.closed;

    const junk = await WsWireClient.hello(server.httpPort);
    junk.ws.send(new Uint8Array([0xee, 0, 1]));
    await junk.until(() => junk.received.find((m) => m.type === 'error' && m.code === 'FW_UNKNOWN_TYPE'));
    await junk.closed;
  });
});
