import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Message } from '../../src/protocol/index.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';
type ErrorMessage = Extract<Message, { type: 'error' }>;

describe('access tokens, enforced by the relay', () => {
  let server: RelayServer;
  let pub: WireClient;
  let viewer: WireClient;
  let streamId: number;
  let seq = 0;
  let timer: NodeJS.Timeout;

  /** Connects and says hello with `token`; resolves once the server answered (hello or error). */
  async function connectWith(token: string): Promise<WireClient> {
    const c = await WireClient.connect(server.tcpPort);
    c.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test', token });
    await c.next((m) => m.type === 'hello' || m.type === 'error');
    return c;
  }

  async function refused(c: WireClient, reason: RegExp): Promise<void> {
    const err = (await c.next((m) => m.type === 'error')) as ErrorMessage;
    assert.equal(err.code, 'FW_UNAUTHORIZED');
    assert.match(err.message, reason);
    await c.closed;
  }

  /**
   * Asserts that request `requestId` was answered with FW_UNAUTHORIZED matching `reason`, and that the
   * connection was kept: it still answers a ping, and it is not closed.
   */
  async function requestRefused(c: WireClient, requestId: number, reason: RegExp): Promise<void> {
    const err = (await c.next((m) => m.type === 'error' && m.requestId === requestId)) as ErrorMessage;
    assert.equal(err.code, 'FW_UNAUTHORIZED');
    assert.match(err.message, reason);
    const id = requestId + 1000;
    c.send({ type: 'ping', id, time: Date.now() * 1000 });
    await c.next((m) => m.type === 'pong' && m.id === id);
    assert.equal(c.socket.destroyed, false);
  }

  const token = (
    room: string,
    rights: { publish?: boolean; view?: boolean; prefix?: boolean },
    ttlSec = 60,
  ) =>
    mintToken(SECRET, {
      room,
      publish: rights.publish ?? false,
      view: rights.view ?? false,
      prefix: rights.prefix,
      ttlSec,
    });

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {}, secret: SECRET });
    pub = await connectWith(await token('lab', { publish: true }));
    viewer = await connectWith(await token('lab', { view: true }));
    streamId = await pub.publish('lab', 'cam');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name: 'cam' });
    await viewer.next((m) => m.type === 'stream-added');
    timer = setInterval(() => pub.send(testFrame(streamId, seq++, seq % 10 === 1)), 10);
  });
  after(async () => {
    clearInterval(timer);
    pub.close();
    viewer.close();
    await server.close();
  });

  it('refuses a hello without a token', async () => {
    await refused(await connectWith(''), /missing/);
  });

  it('refuses an expired token', async () => {
    // Signed like mintToken does, but an hour in the past (mintToken refuses a ttl that is not positive).
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    const expired = await new SignJWT({ room: 'lab', prefix: false, pub: false, view: true })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('framewire')
      .setIssuedAt(hourAgo - 60)
      .setExpirationTime(hourAgo)
      .sign(new TextEncoder().encode(SECRET));
    await refused(await connectWith(expired), /expired/);
  });

  it('refuses a token signed with another secret', async () => {
    const forged = await mintToken('another-secret-of-at-least-thirty-two-bytes', {
      room: 'lab',
      publish: true,
      view: true,
      ttlSec: 60,
    });
    await refused(await connectWith(forged), /bad-signature/);
  });

  it('refuses garbage', async () => {
    await refused(await connectWith('not.a.jwt'), /malformed/);
  });

  it('refuses a publish into another room, and a view the token does not grant', async () => {
    const other = await connectWith(await token('lab', { publish: true }));
    other.send({
      type: 'publish',
      requestId: 5,
      room: 'elsewhere',
      name: 'x',
      video: { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
    });
    await requestRefused(other, 5, /wrong-room/);
    // The refusal cost only that request: the same connection still publishes where its token allows.
    await other.publish('lab', 'other-cam');
    const publishOnly = await connectWith(await token('lab', { publish: true }));
    publishOnly.send({ type: 'subscribe', requestId: 6, room: 'lab', name: 'cam' });
    await requestRefused(publishOnly, 6, /not-allowed/);
    assert.equal(publishOnly.frames().length, 0);
    other.close();
    publishOnly.close();
  });

  it("refuses a viewer's publish but keeps it watching, and allows a prefix token's rooms", async () => {
    const watcher = await connectWith(await token('lab', { view: true }));
    watcher.send({ type: 'subscribe', requestId: 9, room: 'lab', name: 'cam' });
    await watcher.until(() => watcher.frames().length > 0);
    watcher.send({
      type: 'publish',
      requestId: 7,
      room: 'lab',
      name: 'sneaky',
      video: { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
    });
    await requestRefused(watcher, 7, /not-allowed/);
    assert.ok(!server.stats().streams.some((s) => s.room === 'lab' && s.name === 'sneaky'));
    // Still watching: frames keep arriving after the refusal.
    const seen = watcher.frames().length;
    await watcher.until(() => watcher.frames().length > seen + 3);
    watcher.close();
    const cams = await connectWith(await token('cams-', { publish: true, view: true, prefix: true }));
    await cams.publish('cams-door', 'cam');
    cams.send({ type: 'subscribe', requestId: 8, room: 'lab', name: 'cam' });
    await requestRefused(cams, 8, /wrong-room/);
    cams.close();
  });

  it('checks live video over HTTP: a view token for the room, by ?token= or Bearer; a 404 for others', async () => {
    const url = `http://127.0.0.1:${server.httpPort}/live/lab/cam.webm`;
    const status = async (init: { query?: string; bearer?: string }) => {
      const controller = new AbortController();
      const headers: Record<string, string> = init.bearer ? { authorization: `Bearer ${init.bearer}` } : {};
      const res = await fetch(`${url}${init.query ?? ''}`, { headers, signal: controller.signal });
      const body = res.status === 200 ? null : ((await res.json()) as { error: { code: string } });
      controller.abort(); // a 200 is a live stream that never ends
      return { status: res.status, code: body?.error.code };
    };
    assert.deepEqual(await status({}), { status: 401, code: 'FW_UNAUTHORIZED' });
    // A genuine token that may not view the room gets what a room that does not exist gets (issue 17).
    assert.deepEqual(await status({ query: `?token=${await token('lab', { publish: true })}` }), {
      status: 404,
      code: 'FW_NOT_FOUND',
    });
    assert.deepEqual(await status({ query: `?token=${await token('other', { view: true })}` }), {
      status: 404,
      code: 'FW_NOT_FOUND',
    });
    assert.equal((await status({ query: `?token=${await token('lab', { view: true })}` })).status, 200);
    assert.equal((await status({ bearer: await token('lab', { view: true }) })).status, 200);
  });

  it('left the authorised stream untouched: every frame, in order', async () => {
    const before = seq;
    await viewer.until(() => viewer.frames(streamId).some((f) => f.seq >= before + 5));
    const seqs = viewer.frames(streamId).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i),
    );
    assert.ok(server.stats().streams.some((s) => s.id === streamId && s.viewers.length === 1));
  });
});
