// With a secret, nothing is readable without a grant (issue 17): every HTTP route called with each kind of
// token gets the status docs/security.md's table says, and no answer names a room its caller may not see.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveCommand } from '../../src/cli/serve.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { testAudioFrame, testFrame, WireClient } from '../helpers/wire-client.js';

const SECRET = 'http-access-test-secret-long-enough-for-hs256';
/** The room the table asks about, with a video stream (cam) and a sound-only one (mic). */
const ROOM = 'alpha';
/** A live room that only the admin token may see: no other answer may name it or its stream. */
const HIDDEN = 'hidden-room';
const HIDDEN_STREAM = 'spy-cam';
/** A room that does not exist: a room the caller may not see must be answered exactly like it. */
const NOWHERE = 'nosuch';

type Caller = 'none' | 'other' | 'view' | 'publish' | 'admin';
const CALLERS: readonly Caller[] = ['none', 'other', 'view', 'publish', 'admin'];

/** What a call got: the status (100 for an ingest given the go-ahead) and the body read, if any. */
interface Answer {
  status: number;
  body: string;
}

interface Row {
  what: string;
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  /** The path for a room: called for {@link ROOM}, and for {@link NOWHERE} to compare. */
  path: (room: string) => string;
  /** Expected status per caller. */
  expect: Record<Caller, number>;
  /** The path names a room (so "may not see it" must read like "it does not exist"). */
  roomScoped: boolean;
  /** Ingest: ask for the go-ahead (Expect: 100-continue) and stop there. */
  ingest?: boolean;
  /** A 200 that streams (live video): read the status only. */
  streams?: boolean;
}

const api = (room: string) => `/api/rooms/${room}`;
const ROWS: Row[] = [
  {
    what: 'the list of rooms',
    method: 'GET',
    path: () => '/api/rooms',
    expect: { none: 401, other: 200, view: 200, publish: 200, admin: 200 },
    roomScoped: false,
  },
  {
    what: 'a room',
    method: 'GET',
    path: (room) => api(room),
    expect: { none: 401, other: 404, view: 200, publish: 404, admin: 200 },
    roomScoped: true,
  },
  {
    // The sound-only stream answers 415 once the request got through: no ffmpeg needed.
    what: 'a snapshot',
    method: 'GET',
    path: (room) => `${api(room)}/streams/mic/snapshot.jpg`,
    expect: { none: 401, other: 404, view: 415, publish: 404, admin: 415 },
    roomScoped: true,
  },
  {
    what: "a stream's recording state",
    method: 'GET',
    path: (room) => `${api(room)}/streams/cam/recording`,
    expect: { none: 401, other: 404, view: 200, publish: 404, admin: 200 },
    roomScoped: true,
  },
  {
    // The server has no --record: an admin gets through to 409 FW_RECORDING_OFF.
    what: 'starting a recording',
    method: 'POST',
    path: (room) => `${api(room)}/streams/cam/recording`,
    expect: { none: 401, other: 403, view: 403, publish: 403, admin: 409 },
    roomScoped: true,
  },
  {
    what: 'stopping a recording',
    method: 'DELETE',
    path: (room) => `${api(room)}/streams/cam/recording`,
    expect: { none: 401, other: 403, view: 403, publish: 403, admin: 409 },
    roomScoped: true,
  },
  {
    what: 'live video',
    method: 'GET',
    path: (room) => `/live/${room}/cam.webm`,
    expect: { none: 401, other: 404, view: 200, publish: 404, admin: 200 },
    roomScoped: true,
    streams: true,
  },
  {
    // The admin token (no --publish) may not publish: an ingest is publishing.
    what: 'an ingest',
    method: 'PUT',
    path: (room) => `/ingest/${room}/pushed`,
    expect: { none: 401, other: 403, view: 403, publish: 100, admin: 403 },
    roomScoped: true,
    ingest: true,
  },
  {
    what: 'metrics',
    method: 'GET',
    path: () => '/metrics',
    expect: { none: 401, other: 403, view: 403, publish: 403, admin: 200 },
    roomScoped: false,
  },
  {
    what: 'the revocation list',
    method: 'GET',
    path: () => '/api/revocations',
    expect: { none: 401, other: 403, view: 403, publish: 403, admin: 200 },
    roomScoped: false,
  },
  {
    // This server is no cluster node: an admin gets through to 404.
    what: 'the cluster',
    method: 'GET',
    path: () => '/api/cluster',
    expect: { none: 401, other: 403, view: 403, publish: 403, admin: 404 },
    roomScoped: false,
  },
  {
    what: "the cluster's node addresses",
    method: 'GET',
    path: () => '/api/cluster/nodes',
    expect: { none: 401, other: 200, view: 200, publish: 200, admin: 200 },
    roomScoped: false,
  },
];

/**
 * One HTTP call with `token` as `Authorization: Bearer` (or none). An ingest asks for the go-ahead and is
 * cut once it has its answer; a streaming 200 is cut once its status is in.
 */
function call(port: number, row: Row, path: string, token: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (row.ingest) Object.assign(headers, { expect: '100-continue', 'content-length': '1000' });
    const req = http.request({ host: '127.0.0.1', port, method: row.method, path, headers });
    req.on('error', reject);
    req.on('continue', () => {
      resolve({ status: 100, body: '' });
      req.destroy();
    });
    req.on('response', (res) => {
      if (row.streams && res.statusCode === 200) {
        resolve({ status: 200, body: '' });
        req.destroy();
        return;
      }
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => {
        body += s;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    if (!row.ingest) req.end();
  });
}

/** A protocol connection that said hello with `token`: the client, and whether the server welcomed it. */
async function hello(port: number, token: string): Promise<{ client: WireClient; welcomed: boolean }> {
  const client = await WireClient.connect(port);
  client.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test', token });
  const m = await client.next((x) => x.type === 'hello' || x.type === 'error');
  return { client, welcomed: m.type === 'hello' };
}

describe('with a secret, every HTTP route takes the grant docs/security.md names', {
  timeout: 60_000,
}, () => {
  let server: RelayServer;
  let pub: WireClient;
  let watcher: WireClient;
  let timer: NodeJS.Timeout;
  const tokens = {} as Record<Caller, string>;

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, secret: SECRET, log: () => {} });
    const mint = (grant: Parameters<typeof mintToken>[1]) => mintToken(SECRET, grant);
    tokens.none = '';
    tokens.other = await mint({ room: 'beta', publish: true, view: true, ttlSec: 300 });
    tokens.view = await mint({ room: ROOM, publish: false, view: true, ttlSec: 300 });
    tokens.publish = await mint({ room: ROOM, publish: true, view: false, ttlSec: 300 });
    tokens.admin = await mint({
      room: '',
      prefix: true,
      publish: false,
      view: true,
      admin: true,
      ttlSec: 300,
    });
    const everything = await mint({ room: '', prefix: true, publish: true, view: true, ttlSec: 300 });
    ({ client: pub } = await hello(server.tcpPort, everything));
    const cam = await pub.publish(ROOM, 'cam');
    const mic = await pub.publishTracks(ROOM, 'mic', {
      audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 },
    });
    const spy = await pub.publish(HIDDEN, HIDDEN_STREAM);
    let seq = 0;
    timer = setInterval(() => {
      seq++;
      pub.send(testFrame(cam, seq, seq % 10 === 1, 200));
      pub.send(testFrame(spy, seq, seq % 10 === 1, 200));
      pub.send(testAudioFrame(mic, seq));
    }, 20);
    // Someone watching the room, whose address only the admin may read.
    ({ client: watcher } = await hello(server.tcpPort, tokens.view));
    watcher.send({ type: 'subscribe', requestId: 1, room: ROOM, name: 'cam' });
    await watcher.next((m) => m.type === 'stream-added');
  });

  after(async () => {
    clearInterval(timer);
    pub.close();
    watcher.close();
    await server.close();
  });

  for (const row of ROWS) {
    it(`${row.method} ${row.path(ROOM)} (${row.what})`, async () => {
      for (const caller of CALLERS) {
        const answer = await call(server.httpPort, row, row.path(ROOM), tokens[caller]);
        assert.equal(answer.status, row.expect[caller], `${caller}: ${answer.status} ${answer.body}`);
        if (answer.status >= 400) {
          const parsed = JSON.parse(answer.body) as { error: { code: string; message: string } };
          assert.equal(typeof parsed.error.code, 'string', answer.body);
          assert.equal(typeof parsed.error.message, 'string', answer.body);
        }
        if (caller !== 'admin') {
          for (const secret of [HIDDEN, HIDDEN_STREAM]) {
            assert.ok(!answer.body.includes(secret), `${caller} was told about ${secret}: ${answer.body}`);
          }
        }
        // A refusal about a room the caller may not see reads exactly like one about a room that does not
        // exist. (A publish token's ingest is let through: publishing needs no sight of the room.)
        const maySee = caller === 'view' || caller === 'admin';
        if (row.roomScoped && !maySee && answer.status >= 400) {
          const nowhere = await call(server.httpPort, row, row.path(NOWHERE), tokens[caller]);
          assert.deepEqual(
            { status: nowhere.status, body: nowhere.body.replaceAll(NOWHERE, ROOM) },
            answer,
            `${caller}: ${row.path(ROOM)} answers unlike a room that does not exist`,
          );
        }
      }
    });
  }

  it('lists to each token the rooms it may view: all to the admin, none without view', async () => {
    const rooms = async (caller: Caller) => {
      const answer = await call(server.httpPort, ROWS[0] as Row, '/api/rooms', tokens[caller]);
      return (JSON.parse(answer.body) as { rooms: { name: string }[] }).rooms.map((r) => r.name).sort();
    };
    assert.deepEqual(await rooms('admin'), [ROOM, HIDDEN].sort());
    assert.deepEqual(await rooms('view'), [ROOM]);
    assert.deepEqual(await rooms('other'), []);
    assert.deepEqual(await rooms('publish'), []);
  });

  it('shows viewers by id and figures, and their network address only to the admin', async () => {
    const viewers = async (caller: Caller) => {
      const row = ROWS[1] as Row;
      const answer = await call(server.httpPort, row, row.path(ROOM), tokens[caller]);
      const body = JSON.parse(answer.body) as {
        streams: { name: string; viewers: Record<string, unknown>[] }[];
      };
      return body.streams.find((s) => s.name === 'cam')?.viewers ?? [];
    };
    const seen = await viewers('view');
    assert.equal(seen.length, 1);
    assert.equal(typeof seen[0]?.connection, 'number');
    assert.equal(typeof seen[0]?.framesSent, 'number');
    assert.equal('address' in (seen[0] ?? {}), false);
    assert.ok(!JSON.stringify(seen).includes('127.0.0.1'));
    const [admin] = await viewers('admin');
    assert.equal(admin?.address, '127.0.0.1');
  });

  it('takes the token as ?token= too, and says why a token is refused', async () => {
    const res = await fetch(`${server.httpUrl}${api(ROOM)}?token=${tokens.view}`);
    assert.equal(res.status, 200);
    const bad = await fetch(`${server.httpUrl}/metrics`, {
      headers: { authorization: 'Bearer not.a.token' },
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get('www-authenticate'), 'Bearer realm="framewire"');
    const body = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FW_UNAUTHORIZED');
    assert.match(body.error.message, /\(malformed\)$/);
    const notAdmin = (await (
      await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${tokens.view}` } })
    ).json()) as { error: { message: string } };
    assert.match(notAdmin.error.message, /framewire token --admin.*\(not-admin\)$/);
  });

  it('over the protocol: hello takes any token; subscribe needs view, publish needs publish', async () => {
    const expect: Record<Caller, { hello: boolean; subscribe?: boolean; publish?: boolean }> = {
      none: { hello: false },
      other: { hello: true, subscribe: false, publish: false },
      view: { hello: true, subscribe: true, publish: false },
      publish: { hello: true, subscribe: false, publish: true },
      admin: { hello: true, subscribe: true, publish: false },
    };
    for (const caller of CALLERS) {
      const { client, welcomed } = await hello(server.tcpPort, tokens[caller]);
      try {
        assert.equal(welcomed, expect[caller].hello, caller);
        if (!welcomed) continue;
        client.send({ type: 'subscribe', requestId: 11, room: ROOM, name: 'cam' });
        const sub = await client.next(
          (m) => (m.type === 'error' && m.requestId === 11) || m.type === 'stream-added',
        );
        assert.equal(sub.type === 'stream-added', expect[caller].subscribe, `${caller} subscribe`);
        client.send({
          type: 'publish',
          requestId: 12,
          room: ROOM,
          name: `by-${caller}`,
          video: { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
        });
        const published = await client.next(
          (m) => (m.type === 'error' || m.type === 'published') && m.requestId === 12,
        );
        assert.equal(published.type === 'published', expect[caller].publish, `${caller} publish`);
        for (const m of client.received) {
          if (caller === 'admin') continue;
          assert.ok(!JSON.stringify(m).includes(HIDDEN), `${caller} was told about ${HIDDEN}`);
        }
      } finally {
        client.close();
      }
    }
  });
});

describe('serve --metrics-host', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-metrics-host-'));
  const saved = process.env.FRAMEWIRE_SECRET;
  const stop = new AbortController();
  let serving: Promise<number>;
  let out = '';

  before(async () => {
    process.env.FRAMEWIRE_SECRET = SECRET;
    serving = serveCommand.run(
      [
        '--tcp-port',
        '0',
        '--http-port',
        '0',
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        '0',
        '--state-dir',
        dir,
      ],
      {
        stdout: { write: (t: string) => (out += t) },
        stderr: { write: () => true },
        signal: stop.signal,
      },
    );
    const deadline = Date.now() + 20_000;
    while (!out.includes('framewire metrics')) {
      if (Date.now() > deadline) assert.fail(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  after(async () => {
    stop.abort();
    await serving;
    if (saved === undefined) delete process.env.FRAMEWIRE_SECRET;
    else process.env.FRAMEWIRE_SECRET = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves /metrics on its own listener with no token, and only that; the HTTP port takes an admin token', async () => {
    const metricsUrl = /framewire metrics \(no token\) on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(
      out,
    )?.[1];
    const httpUrl = /framewire web app and API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(metricsUrl && httpUrl, out);
    const open = await fetch(metricsUrl);
    assert.equal(open.status, 200);
    assert.match(await open.text(), /^framewire_connections\{transport="tcp"\} \d+$/m);
    // Nothing else is served there: no API, no web app.
    const base = metricsUrl.replace(/\/metrics$/, '');
    for (const path of ['/api/rooms', '/', '/api/revocations']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
    const refused = await fetch(`${httpUrl}/metrics`);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const admin = await mintToken(SECRET, {
      room: '',
      prefix: true,
      publish: false,
      view: true,
      admin: true,
      ttlSec: 60,
    });
    const allowed = await fetch(`${httpUrl}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(allowed.status, 200);
    assert.match(await allowed.text(), /^framewire_streams \d+$/m);
  });
});
