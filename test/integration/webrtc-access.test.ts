// WHIP and WHEP take the same tokens as every HTTP route (docs/security.md): WHEP a view grant for the
// room (a room the token may not see answers as a missing one), WHIP a publish grant (403 otherwise).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { OFFER, WHIP_OFFER } from '../helpers/webrtc-offers.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

const SECRET = 'webrtc-access-test-secret-long-enough-for-hs256';

describe('WHIP and WHEP with a secret', () => {
  let server: RelayServer;
  let pub: WireClient;
  const tokens: Record<string, string> = {};

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, secret: SECRET, log: () => {} });
    const mint = (grant: Parameters<typeof mintToken>[1]) => mintToken(SECRET, grant);
    tokens.view = await mint({ room: 'lab', publish: false, view: true, ttlSec: 300 });
    tokens.publish = await mint({ room: 'lab', publish: true, view: false, ttlSec: 300 });
    tokens.other = await mint({ room: 'beta', publish: true, view: true, ttlSec: 300 });
    pub = await WireClient.connect(server.tcpPort);
    pub.send({
      type: 'hello',
      version: PROTOCOL_VERSION,
      role: 'peer',
      agent: 'test',
      token: await mint({ room: 'lab', publish: true, view: true, ttlSec: 300 }),
    });
    await pub.next((m) => m.type === 'hello');
    const id = await pub.publish('lab', 'cam', { codec: 'vp8', codedWidth: 64, codedHeight: 48 });
    pub.send(testFrame(id, 0, true, 200));
  });

  after(async () => {
    pub?.close();
    await server?.close();
  });

  const post = async (path: string, body: string, token?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/sdp' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${server.httpUrl}${path}`, { method: 'POST', headers, body });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };

  it('WHEP: no token 401, a token for another room 404 as a missing stream, a view token 201', async () => {
    const none = await post('/whep/lab/cam', OFFER);
    assert.equal(none.status, 401);
    const other = await post('/whep/lab/cam', OFFER, tokens.other);
    const missing = await post('/whep/lab/nothing', OFFER, tokens.view);
    assert.equal(other.status, 404);
    assert.equal(missing.status, 404);
    // Word for word what a missing stream answers: nothing tells the caller the stream exists.
    const notFound = (name: string) =>
      JSON.stringify({ error: { code: 'FW_NOT_FOUND', message: `stream ${name} in room lab not found` } });
    assert.equal(other.text, notFound('cam'));
    assert.equal(missing.text, notFound('nothing'));
    const ok = await post('/whep/lab/cam', OFFER, tokens.view);
    assert.equal(ok.status, 201, ok.text);
    // The session URL takes the same token.
    const url = `${server.httpUrl}${ok.location}`;
    assert.equal((await fetch(url, { method: 'DELETE' })).status, 401);
    const del = await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.view}` } });
    assert.equal(del.status, 200);
  });

  it('WHIP: no token 401, a view-only token 403, a publish token 201', async () => {
    assert.equal((await post('/whip/lab/phone', WHIP_OFFER)).status, 401);
    assert.equal((await post('/whip/lab/phone', WHIP_OFFER, tokens.view)).status, 403);
    assert.equal((await post('/whip/lab/phone', WHIP_OFFER, tokens.other)).status, 403);
    const ok = await post('/whip/lab/phone', WHIP_OFFER, tokens.publish);
    assert.equal(ok.status, 201, ok.text);
    // A name in use answers 409 before any WebRTC work.
    assert.equal((await post('/whip/lab/cam', WHIP_OFFER, tokens.publish)).status, 409);
    const del = await fetch(`${server.httpUrl}${ok.location}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${tokens.publish}` },
    });
    assert.equal(del.status, 200);
  });
});
