// Trickle ICE by PATCH on WHIP and WHEP session URLs (RFC 9725 §4.3.1, RFC 8840 fragments), over real
// HTTP: each status, and hostile fragments that cost nothing but a 4xx (no crash of the server or of the
// WebRTC child, no harm to another session).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { SDP_LIMITS } from '../../src/server/webrtc/sdp-offer.js';
import { OFFER, WHIP_OFFER } from '../helpers/webrtc-offers.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

const TRICKLE = 'application/trickle-ice-sdpfrag';

/** A candidate line at a TEST-NET-2 address (nothing answers there), numbered `i`. */
const candidate = (i: number, extra = ' generation 0 ufrag Ab3x network-id 1') =>
  `a=candidate:${i} 1 udp 2122260223 198.51.100.${(i % 250) + 1} ${50000 + i} typ host${extra}`;

/** An RFC 8840 fragment as a WHIP client sends it: credentials, then per section its mid and candidates. */
const fragment = (lines: string[], mid = '0', ufrag = 'Ab3x') =>
  [
    `a=ice-ufrag:${ufrag}`,
    'a=ice-pwd:Zb1tFq2yU8mR0vY5cN7sL3kQ',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    `a=mid:${mid}`,
    ...lines,
    '',
  ].join('\r\n');

describe('trickle ICE: PATCH on a WHIP or WHEP session', () => {
  let server: RelayServer;
  let publisher: WireClient;
  let viewer: WireClient;
  let seq = 0;
  let ticker: NodeJS.Timeout;
  /** A WHEP session nobody PATCHes except at the end: it must not notice the others' hostile PATCHes. */
  let bystander = '';

  before(async () => {
    // Long timeouts: these sessions never connect (no peer), and must outlive the test.
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      webrtcPort: 0,
      helloTimeoutMs: 120_000,
      idleTimeoutMs: 120_000,
      log: () => {},
    });
    publisher = await WireClient.hello(server.tcpPort, 'publisher');
    const id = await publisher.publish('lab', 'cam', { codec: 'vp8', codedWidth: 64, codedHeight: 48 });
    viewer = await WireClient.hello(server.tcpPort, 'viewer');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name: 'cam' });
    ticker = setInterval(() => publisher.send(testFrame(id, seq, seq++ % 30 === 0, 500)), 33);
    bystander = (await post('/whep/lab/cam', OFFER)).location ?? '';
  });

  after(async () => {
    clearInterval(ticker);
    publisher?.close();
    viewer?.close();
    await server?.close();
  });

  const post = async (path: string, body: string) => {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body,
    });
    assert.equal(res.status, 201, await res.clone().text());
    return { location: res.headers.get('location'), acceptPatch: res.headers.get('accept-patch') };
  };

  const patch = async (path: string, body: string | Buffer, type = TRICKLE, token?: string) => {
    const headers: Record<string, string> = { 'content-type': type };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${server.httpUrl}${path}`, {
      method: 'PATCH',
      headers,
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    const text = await res.text();
    const code = text ? (JSON.parse(text) as { error?: { code?: string } }).error?.code : undefined;
    return { status: res.status, code, text };
  };

  const state = async (path: string) =>
    ((await (await fetch(`${server.httpUrl}${path}`)).json()) as { state: string }).state;

  it('advertises PATCH in both 201 answers and takes a fragment with 204', async () => {
    const whip = await post('/whip/lab/pushed', WHIP_OFFER);
    const whep = await post('/whep/lab/cam', OFFER);
    assert.equal(whip.acceptPatch, TRICKLE);
    assert.equal(whep.acceptPatch, TRICKLE);
    for (const url of [whip.location ?? '', whep.location ?? '']) {
      const ok = await patch(url, fragment([candidate(1), candidate(2), 'a=end-of-candidates']));
      assert.equal(ok.status, 204, ok.text);
      assert.equal(ok.text, '');
      // The last PATCH of a gathering often holds only the end marker.
      assert.equal((await patch(url, 'a=end-of-candidates\r\n')).status, 204);
      assert.notEqual(await state(url), 'ended');
    }
    await fetch(`${server.httpUrl}${whip.location}`, { method: 'DELETE' });
  });

  it('answers 415, 404, 422 and 400 as RFC 9725 and our error shape say', async () => {
    const { location } = await post('/whep/lab/cam', OFFER);
    const url = location ?? '';
    const body = fragment([candidate(1)]);
    assert.equal((await patch(url, body, 'application/sdp')).status, 415);
    assert.equal((await patch(url, body, 'text/plain')).code, 'FW_BAD_SDP');
    // Unknown session, a session of another stream, and the stream's own session once ended.
    assert.equal((await patch('/whep/lab/cam/0123456789abcdef0123456789abcdef', body)).status, 404);
    assert.equal((await patch(url.replace('/whep/lab/cam/', '/whep/lab/other/'), body)).status, 404);
    assert.equal((await patch(url.replace('/whep/', '/whip/'), body)).status, 404);
    // An ICE restart (another ufrag, in the fragment or in a candidate) is not supported: 422.
    const restart = await patch(url, fragment([candidate(1)], '0', 'Zz9y'));
    assert.equal(restart.status, 422, restart.text);
    assert.equal(restart.code, 'FW_ICE_RESTART');
    assert.equal((await patch(url, fragment([candidate(1, ' ufrag Zz9y')]))).status, 422);
    const malformed: [string, string][] = [
      ['a line without =', 'hello world\r\n'],
      ['a candidate before any mid', `${candidate(1)}\r\n`],
      ['a mid not in the offer', fragment([candidate(1)], '7')],
      ['a mid with spaces', fragment([candidate(1)], '0 1')],
      ['a truncated candidate', fragment(['a=candidate:1 1 udp 2122260223 198.51.100.1'])],
      ['port 70000', fragment([candidate(1).replace('50001', '70000')])],
      ['a DNS host name', fragment([candidate(1).replace('198.51.100.2', 'example.com')])],
      ['an unknown type', fragment([candidate(1).replace('typ host', 'typ evil')])],
      ['a malformed ufrag', fragment([], '0', 'a b')],
      ['a huge line', fragment([`a=candidate:1 1 udp 1 198.51.100.1 1 typ host x ${'y'.repeat(3000)}`])],
      ['non-ASCII', fragment([candidate(1).replace('host', 'h\u00f6st')])],
    ];
    for (const [what, bad] of malformed) {
      const res = await patch(url, bad);
      assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
      assert.equal(res.code, 'FW_BAD_SDP', what);
    }
    // An mDNS host candidate, as a browser without camera permission sends it, is taken.
    const mdns = candidate(3).replace('198.51.100.4', '5b1c4e2a-9f0d-4a7b-8c3e-2d1f0a9b8c7d.local');
    assert.equal((await patch(url, fragment([mdns]))).status, 204);
    await fetch(`${server.httpUrl}${url}`, { method: 'DELETE' });
    assert.equal((await patch(url, body)).status, 404);
  });

  it('counts offer and trickled candidates together against the offer limit', async () => {
    // Two candidates in the offer leave room for SDP_LIMITS.candidates - 2 trickled ones.
    const offer = OFFER.replace('a=mid:1\r\n', `a=mid:1\r\n${candidate(100)}\r\n${candidate(101)}\r\n`);
    const { location } = await post('/whep/lab/cam', offer);
    const url = location ?? '';
    // All or nothing: a fragment that would cross the limit adds none of its candidates.
    const tooMany = Array.from({ length: SDP_LIMITS.candidates }, (_, i) => candidate(i));
    assert.equal((await patch(url, fragment(tooMany))).status, 400);
    for (let i = 0; i < SDP_LIMITS.candidates - 2; i++) {
      const res = await patch(url, fragment([candidate(i)], i % 2 === 0 ? '0' : '1'));
      assert.equal(res.status, 204, `candidate ${i}: ${res.text}`);
    }
    const over = await patch(url, fragment([candidate(99)]));
    assert.equal(over.status, 400);
    assert.match(over.text, new RegExp(`over ${SDP_LIMITS.candidates} candidates`));
    // The end marker alone adds nothing, so it is still taken.
    assert.equal((await patch(url, 'a=end-of-candidates\r\n')).status, 204);
    await fetch(`${server.httpUrl}${url}`, { method: 'DELETE' });
  });

  it('stays up after hostile PATCH bodies, and another session goes on untouched', async () => {
    const pid = server.webrtc?.host.pid;
    const { location } = await post('/whip/lab/hostile', WHIP_OFFER);
    const url = location ?? '';
    const hostile: [string, string | Buffer, number][] = [
      ['a megabyte', 'a=x:'.padEnd(1024 * 1024, 'z'), 413],
      ['thousands of candidates', fragment(Array.from({ length: 3000 }, (_, i) => candidate(i))), 413],
      ['binary', randomBytes(8000), 400],
      ['binary under a valid head', Buffer.concat([Buffer.from(fragment([])), randomBytes(2000)]), 400],
      ['a NUL in a candidate', fragment([`${candidate(1)}\u0000`]), 400],
      ['a wrong mid', fragment([candidate(1)], 'x'.repeat(40)), 400],
      ['an empty body', '', 204],
    ];
    for (const [what, body, status] of hostile) {
      const res = await patch(url, body);
      assert.equal(res.status, status, `${what}: ${res.status} ${res.text}`);
    }
    // Hostile bodies on a session that is not there cost a 404 without being read.
    assert.equal((await patch(`${url}0`, randomBytes(100_000))).status, 404);
    assert.notEqual(await state(url), 'ended');
    assert.equal(server.webrtc?.host.pid, pid, 'the WebRTC child did not restart');
    assert.equal(await state(bystander), 'connecting');
    assert.equal((await patch(bystander, fragment([candidate(5)]))).status, 204);
    const before = viewer.frames().length;
    await viewer.until(() => viewer.frames().length > before + 5, 5000);
    await fetch(`${server.httpUrl}${url}`, { method: 'DELETE' });
  });
});

describe('trickle ICE with a secret: PATCH takes the session URL grant', () => {
  const SECRET = 'webrtc-trickle-test-secret-long-enough-for-hs256';
  let server: RelayServer;

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, secret: SECRET, log: () => {} });
  });

  after(async () => {
    await server?.close();
  });

  it('WHIP: no token 401, a view-only token 403, the publish token 204', async () => {
    const publish = await mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 300 });
    const view = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 300 });
    const res = await fetch(`${server.httpUrl}/whip/lab/phone`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${publish}` },
      body: WHIP_OFFER,
    });
    assert.equal(res.status, 201);
    const url = `${server.httpUrl}${res.headers.get('location')}`;
    const send = (token?: string) =>
      fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': TRICKLE, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: fragment([candidate(1)]),
      });
    assert.equal((await send()).status, 401);
    assert.equal((await send(view)).status, 403);
    assert.equal((await send(publish)).status, 204);
    await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${publish}` } });
  });
});
