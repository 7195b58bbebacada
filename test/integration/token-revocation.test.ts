// Revoked tokens (issue 17): refused at hello and over HTTP from the moment they are revoked, the live
// connections that used them closed, and still refused after a restart with the same state folder.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { tokenCommand } from '../../src/cli/token.js';
import { decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken, readTokenId } from '../../src/server/ops/auth.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

const SECRET = 'token-revocation-test-secret-long-enough-hs256';
const ROOM = 'lab';

/** Polls `probe` every 20 ms until it is true; fails after `ms`. */
async function until(what: string, probe: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (!probe()) {
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

/** A protocol connection that said hello with `token`; `welcomed` is false when the server refused it. */
async function hello(
  port: number,
  token: string,
): Promise<{ client: WireClient; welcomed: boolean; m: Message }> {
  const client = await WireClient.connect(port);
  client.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test', token });
  const m = await client.next((x) => x.type === 'hello' || x.type === 'error');
  return { client, welcomed: m.type === 'hello', m };
}

/** A viewer of lab/cam over TCP with `token`, receiving frames. */
async function tcpViewer(port: number, token: string): Promise<WireClient> {
  const { client, welcomed } = await hello(port, token);
  assert.ok(welcomed);
  client.send({ type: 'subscribe', requestId: 1, room: ROOM, name: 'cam' });
  await client.until(() => client.frames().length > 0);
  return client;
}

/** A viewer of lab/cam over WebSocket with `token`: whether it is still open, and what it received. */
async function wsViewer(port: number, token: string): Promise<{ ws: WebSocket; received: Message[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const received: Message[] = [];
  ws.on('error', () => {});
  ws.on('message', (data: Buffer) => {
    const m = decodeMessage(new Uint8Array(data));
    if (m.type === 'ping' && m.id !== 0)
      ws.send(encodeMessage({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 }));
    received.push(m);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(
    encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', agent: 'test-ws', token }),
  );
  // Nothing may follow a hello until the server has checked its token and answered.
  await until('ws hello', () => received.some((m) => m.type === 'hello'), 5000);
  ws.send(encodeMessage({ type: 'subscribe', requestId: 1, room: ROOM, name: 'cam' }));
  await until('ws frames', () => received.some((m) => m.type === 'frame'), 5000);
  return { ws, received };
}

/** Live video of lab/cam over HTTP with `token`; `ended` is set once the server closes it. */
function liveTap(port: number, token: string): Promise<{ ended: () => boolean; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    let ended = false;
    const req = http.get(
      { host: '127.0.0.1', port, path: `/live/${ROOM}/cam.webm?token=${token}` },
      (res) => {
        assert.equal(res.statusCode, 200);
        res.on('data', () => {});
        res.on('error', () => {});
        res.on('close', () => {
          ended = true;
        });
        resolve({ ended: () => ended, req });
      },
    );
    req.on('error', (err) => (ended ? undefined : reject(err)));
  });
}

/** GET `path` with `token` as Bearer: the status and the error message, if any. */
async function get(
  server: RelayServer,
  path: string,
  token: string,
): Promise<{ status: number; message?: string }> {
  const res = await fetch(`${server.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json().catch(() => null)) as { error?: { message: string } } | null;
  return { status: res.status, message: body?.error?.message };
}

describe('revoked tokens', { timeout: 90_000 }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'fw-revocation-'));
  let server: RelayServer;
  let pub: WireClient;
  let timer: NodeJS.Timeout;
  let admin: string;
  const mint = (rights: { publish?: boolean; view?: boolean }) =>
    mintToken(SECRET, {
      room: ROOM,
      publish: rights.publish ?? false,
      view: rights.view ?? false,
      ttlSec: 600,
    });
  const idOf = (token: string) => readTokenId(token)?.id ?? assert.fail('no id');

  const start = () => startServer({ tcpPort: 0, httpPort: 0, secret: SECRET, stateDir, log: () => {} });
  /** Publishes lab/cam (with a token never revoked) and keeps frames flowing. */
  async function publish(): Promise<void> {
    const { client, welcomed } = await hello(server.tcpPort, await mint({ publish: true }));
    assert.ok(welcomed);
    pub = client;
    const cam = await pub.publish(ROOM, 'cam');
    let seq = 0;
    timer = setInterval(() => {
      seq++;
      pub.send(testFrame(cam, seq, seq % 10 === 1, 300));
    }, 20);
  }
  const unpublish = () => {
    clearInterval(timer);
    pub.close();
  };

  before(async () => {
    admin = await mintToken(SECRET, {
      room: '',
      prefix: true,
      publish: false,
      view: true,
      admin: true,
      ttlSec: 600,
    });
    server = await start();
    await publish();
  });

  after(async () => {
    unpublish();
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('revoked by the admin API: refused at once, its TCP, WebSocket and live HTTP viewers closed within a second; others untouched', async () => {
    const doomed = await mint({ view: true });
    const spared = await mint({ view: true });
    const tcp = await tcpViewer(server.tcpPort, doomed);
    const ws = await wsViewer(server.httpPort, doomed);
    const live = await liveTap(server.httpPort, doomed);
    const other = await tcpViewer(server.tcpPort, spared);
    let wsClosed = false;
    ws.ws.on('close', () => {
      wsClosed = true;
    });
    let tcpClosed = false;
    void tcp.closed.then(() => {
      tcpClosed = true;
    });

    const res = await fetch(`${server.httpUrl}/api/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: idOf(doomed) }),
    });
    assert.equal(res.status, 201);
    const answer = (await res.json()) as { id: string; expiresAt: number };
    assert.equal(answer.id, idOf(doomed));

    // Closed within a second (polled; the close is made before the API answers).
    await until('TCP viewer closed', () => tcpClosed, 1000);
    await until('WebSocket viewer closed', () => wsClosed, 1000);
    await until('live video ended', live.ended, 1000);
    const told = tcp.received.find((m) => m.type === 'error');
    assert.equal(told?.type === 'error' && told.code, 'FW_UNAUTHORIZED');
    assert.match(told?.type === 'error' ? told.message : '', /revoked/);

    // Refused from now on: at hello and over HTTP.
    const again = await hello(server.tcpPort, doomed);
    assert.equal(again.welcomed, false);
    assert.match(again.m.type === 'error' ? again.m.message : '', /\(revoked\)/);
    again.client.close();
    const api = await get(server, `/api/rooms/${ROOM}`, doomed);
    assert.equal(api.status, 401);
    assert.match(api.message ?? '', /revoked/);
    assert.equal((await get(server, '/api/rooms', doomed)).status, 401);

    // The other token's viewer goes on receiving frames.
    const seen = other.frames().length;
    await other.until(() => other.frames().length > seen + 3);
    assert.equal(other.socket.destroyed, false);
    assert.equal((await get(server, `/api/rooms/${ROOM}`, spared)).status, 200);

    // Revoking it again is no error; the list shows it.
    const twice = await fetch(`${server.httpUrl}/api/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
      body: JSON.stringify({ token: doomed }),
    });
    assert.equal(twice.status, 200);
    const listed = (await (await fetch(`${server.httpUrl}/api/revocations?token=${admin}`)).json()) as {
      revoked: { id: string }[];
    };
    assert.ok(listed.revoked.some((r) => r.id === idOf(doomed)));
    other.close();
  });

  it('revoked by `framewire token --revoke` (the state folder): its viewer closed, and refused', async () => {
    const doomed = await mint({ view: true });
    const tcp = await tcpViewer(server.tcpPort, doomed);
    let closed = false;
    void tcp.closed.then(() => {
      closed = true;
    });
    const code = await tokenCommand.run(['--revoke', idOf(doomed), '--state-dir', stateDir], {
      stdout: { write: () => true },
      stderr: { write: () => true },
      signal: new AbortController().signal,
    });
    assert.equal(code, 0);
    // The server polls the file every 250 ms: a second is the promise; the bound is kept loose for a
    // loaded machine.
    await until('TCP viewer closed after the CLI revoked its token', () => closed, 3000);
    assert.equal((await hello(server.tcpPort, doomed)).welcomed, false);
    assert.equal((await get(server, `/live/${ROOM}/cam.webm`, doomed)).status, 401);
  });

  it('refuses a bad revocation, and anyone but an admin', async () => {
    const post = (token: string, body: string) =>
      fetch(`${server.httpUrl}/api/revocations`, {
        method: 'POST',
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body,
      });
    assert.equal((await post('', '{"id":"abcdefghij"}')).status, 401);
    assert.equal((await post(await mint({ view: true, publish: true }), '{"id":"abcdefghij"}')).status, 403);
    for (const body of ['not json', '{}', '{"id":"bad id"}', '{"token":"a.b.c"}']) {
      const res = await post(admin, body);
      assert.equal(res.status, 400, body);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FW_BAD_REQUEST');
    }
    // Too large: answered (and the connection closed) once 16 KiB have come, without waiting for the rest.
    const tooLarge = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: server.httpPort,
        method: 'POST',
        path: '/api/revocations',
        headers: { authorization: `Bearer ${admin}`, 'content-length': '100000' },
      });
      req.on('response', (r) => {
        resolve(r.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('x'.repeat(17_000));
    });
    assert.equal(tooLarge, 413);
  });

  it('after a restart with the same state folder, revoked tokens are still refused; new ones work', async () => {
    const doomed = await mint({ view: true });
    const res = await fetch(`${server.httpUrl}/api/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
      body: JSON.stringify({ token: doomed }),
    });
    assert.equal(res.status, 201);
    unpublish();
    await server.close();

    server = await start();
    await publish();
    const refused = await hello(server.tcpPort, doomed);
    assert.equal(refused.welcomed, false);
    assert.match(refused.m.type === 'error' ? refused.m.message : '', /\(revoked\)/);
    refused.client.close();
    assert.equal((await get(server, `/api/rooms/${ROOM}`, doomed)).status, 401);
    const fresh = await mint({ view: true });
    const viewer = await tcpViewer(server.tcpPort, fresh);
    assert.equal((await get(server, `/api/rooms/${ROOM}`, fresh)).status, 200);
    viewer.close();
  });
});
