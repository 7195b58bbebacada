import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { OFFER, WHIP_OFFER } from '../helpers/webrtc-offers.js';
import { testFrame, WireClient } from '../helpers/wire-client.js';

// Replay a failing run with FUZZ_SEED=<seed>; every failure message names the seed.
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Hand-made hostile bodies, each with why it is hostile. */
const HOSTILE: [string, string | Buffer][] = [
  ['empty', ''],
  ['garbage bytes', randomBytes(2000)],
  ['not SDP', 'hello world'],
  ['no media', OFFER.slice(0, OFFER.indexOf('m=video'))],
  ['unknown codecs only', OFFER.replace(/VP8|H264|opus/g, 'XYZ9')],
  [
    'a datachannel only',
    OFFER.replace(/m=video[\s\S]*$/, 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n'),
  ],
  [
    'thousands of candidates',
    OFFER + 'a=candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host\r\n'.repeat(3000),
  ],
  ['a huge attribute', OFFER.replace('a=rtcp-mux', `a=x-junk:${'A'.repeat(20_000)}`)],
  ['over the size limit', `${OFFER}a=x:${'B'.repeat(40_000)}\r\n`],
  ['non-ASCII', OFFER.replace('s=-', 's=\u00e9\u0000\u202e')],
  ['duplicate mids', OFFER.replace('a=mid:1', 'a=mid:0')],
  ['a mid with spaces', OFFER.replace('a=mid:0', 'a=mid:0 1 2')],
  ['no fingerprint', OFFER.replace(/a=fingerprint:.*\r\n/g, '')],
  ['no ICE credentials', OFFER.replace(/a=ice-(ufrag|pwd):.*\r\n/g, '')],
  ['300 payload types', OFFER.replace('96 102', Array.from({ length: 300 }, (_, i) => i % 128).join(' '))],
  ['payload type 999', OFFER.replace('a=rtpmap:96 VP8', 'a=rtpmap:999 VP8')],
  ['contradictory direction (WHEP offer that only sends)', WHIP_OFFER],
  ['truncated inside a line', OFFER.slice(0, OFFER.indexOf('a=ice-pwd') + 14)],
  ['twenty media sections', OFFER + OFFER.slice(OFFER.indexOf('m=audio')).repeat(20)],
  ['lines without =', OFFER.replace('a=rtcp-mux', 'rtcp-mux')],
];

/** Mutates the valid offer: drops, repeats or changes lines and characters (what reaches libdatachannel). */
const mutatedOffer = (base: string): fc.Arbitrary<string> =>
  fc
    .array(
      fc.record({
        kind: fc.constantFrom('drop', 'dup', 'flip', 'swap', 'insert'),
        at: fc.nat(),
        ch: fc.constantFrom(' ', ':', '/', '0', 'a', '=', '-', '9'),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let lines = base.split('\r\n');
      for (const e of edits) {
        const i = e.at % lines.length;
        const line = lines[i] as string;
        if (e.kind === 'drop') lines.splice(i, 1);
        else if (e.kind === 'dup') lines.splice(i, 0, line);
        else if (e.kind === 'swap')
          lines = [...lines.slice(0, i), ...lines.slice(i + 1, i + 2), line, ...lines.slice(i + 2)];
        else if (e.kind === 'flip' && line.length > 2) {
          const j = 2 + (e.at % (line.length - 2));
          lines[i] = line.slice(0, j) + e.ch + line.slice(j + 1);
        } else lines[i] = line + e.ch;
      }
      return lines.join('\r\n');
    });

describe('WHIP and WHEP take hostile SDP and stay up', () => {
  let server: RelayServer;
  let publisher: WireClient;
  let viewer: WireClient;
  let streamId = 0;
  let seq = 0;
  let ticker: NodeJS.Timeout;

  before(async () => {
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      webrtcPort: 0,
      helloTimeoutMs: 2000,
      log: () => {},
    });
    publisher = await WireClient.hello(server.tcpPort, 'publisher');
    streamId = await publisher.publish('lab', 'cam', { codec: 'vp8', codedWidth: 64, codedHeight: 48 });
    viewer = await WireClient.hello(server.tcpPort, 'viewer');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name: 'cam' });
    // Another stream going on throughout: it must not notice anything.
    ticker = setInterval(() => publisher.send(testFrame(streamId, seq, seq++ % 30 === 0, 500)), 33);
  });

  after(async () => {
    clearInterval(ticker);
    publisher?.close();
    viewer?.close();
    await server?.close();
  });

  const post = async (path: string, body: string | Buffer, type = 'application/sdp') => {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };

  /** The other stream still flows: its viewer gets new frames. */
  const stillFlowing = async () => {
    const before = viewer.frames().length;
    await viewer.until(() => viewer.frames().length > before + 5, 5000);
  };

  it('answers a valid offer with 201, an SDP answer and a Location', async () => {
    const res = await post('/whep/lab/cam', OFFER);
    assert.equal(res.status, 201, res.text);
    assert.match(res.text, /^v=0\r?\n/);
    assert.match(res.text, /a=candidate:/);
    assert.match(res.location ?? '', /^\/whep\/lab\/cam\/[0-9a-f]{32}$/);
    const whip = await post('/whip/lab/pushed', WHIP_OFFER);
    assert.equal(whip.status, 201, whip.text);
    assert.equal((await fetch(`${server.httpUrl}${whip.location}`, { method: 'DELETE' })).status, 200);
  });

  it('refuses each hand-made hostile body with a 4xx, for WHIP and WHEP', async () => {
    for (const [what, body] of HOSTILE) {
      for (const path of ['/whep/lab/cam', '/whip/lab/other']) {
        const res = await post(path, body);
        // The WHIP form of the sendonly offer is a valid one: skip it there.
        if (path.startsWith('/whip') && body === WHIP_OFFER) continue;
        assert.ok(res.status >= 400 && res.status < 500, `${what} on ${path}: ${res.status} ${res.text}`);
      }
    }
    assert.equal((await post('/whep/lab/cam', OFFER, 'text/plain')).status, 415);
    assert.equal((await post('/whep/lab/nothing', OFFER)).status, 404);
    await stillFlowing();
  });

  it(`survives mutated offers (seed ${SEED}) and a crash of the WebRTC side`, async () => {
    const offers = fc.sample(mutatedOffer(OFFER), { seed: SEED, numRuns: 40 });
    const statuses = new Map<number, number>();
    for (const offer of offers) {
      for (const path of ['/whep/lab/cam', '/whip/lab/mutant']) {
        const body = path.startsWith('/whip') ? offer.replaceAll('a=recvonly', 'a=sendonly') : offer;
        const res = await post(path, body);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500 || res.status === 504, `seed ${SEED}: ${res.status} ${res.text}\n${body}`);
        if (res.location) await fetch(`${server.httpUrl}${res.location}`, { method: 'DELETE' });
      }
    }
    console.log(`mutated offers (seed ${SEED}): ${JSON.stringify(Object.fromEntries(statuses))}`);
    // A native abort in the child (what a libdatachannel logic_error does) costs only the WebRTC side.
    const pid = server.webrtc?.host.pid;
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    await stillFlowing();
    const again = await post('/whep/lab/cam', OFFER);
    assert.equal(again.status, 201, again.text);
    assert.notEqual(server.webrtc?.host.pid, pid);
    await stillFlowing();
  });
});
