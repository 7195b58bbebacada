import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { MediaError } from '../../src/media/errors.js';
import type { Stream } from '../../src/server/core/stream.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { Snapshots } from '../../src/server/recording/snapshots.js';
import { ensureBuilt, exited, poll, serve, tempDirForFile } from '../helpers/cli.js';
import { ffprobe, type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

const tmpDir = tempDirForFile('framewire-snap-');

function snapshotUrl(httpPort: number, room: string, name: string): string {
  return `http://127.0.0.1:${httpPort}/api/rooms/${room}/streams/${name}/snapshot.jpg`;
}

/** The JSON error of a non-200 answer. */
async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('snapshots (GET .../snapshot.jpg)', { timeout: 60_000 }, () => {
  let server: RelayServer;
  const publishers: LivePublisher[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    publishers.push(
      // One keyframe a minute: its JPEG stays the cached one for the whole file (see the cache test).
      await startLivePublisher(server.tcpPort, 'lab', 'vp8', {
        codec: 'vp8',
        width: 320,
        height: 240,
        keyframeIntervalSec: 60,
      }),
      await startLivePublisher(server.tcpPort, 'lab', 'h264', { codec: 'h264', width: 352, height: 288 }),
      await startLivePublisher(server.tcpPort, 'lab', 'third', { codec: 'vp8', width: 160, height: 120 }),
    );
  });
  after(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await server.close();
  });

  for (const { name, size } of [
    { name: 'vp8', size: '320x240' },
    { name: 'h264', size: '352x288' },
  ]) {
    it(`answers one JPEG of the ${name} stream's latest keyframe, at the stream's size`, async (t) => {
      const started = performance.now();
      const res = await fetch(snapshotUrl(server.httpPort, 'lab', name));
      const ms = performance.now() - started;
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const jpeg = new Uint8Array(await res.arrayBuffer());
      assert.equal(Number(res.headers.get('content-length')), jpeg.length);
      assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8], 'JPEG magic');
      const file = join(tmpDir(), `${name}.jpg`);
      writeFileSync(file, jpeg);
      const probed = await ffprobe(file);
      assert.equal(probed.codec, 'mjpeg');
      assert.equal(`${probed.width}x${probed.height}`, size);
      assert.equal(probed.errors, '');
      t.diagnostic(`${name}: ${jpeg.length} bytes in ${ms.toFixed(0)} ms`);
    });
  }

  it('answers 404 for a missing stream or room, 405 for other methods', async () => {
    const missing = await fetch(snapshotUrl(server.httpPort, 'lab', 'nope'));
    assert.equal(missing.status, 404);
    assert.equal((await errorOf(missing)).code, 'FW_NOT_FOUND');
    assert.equal((await fetch(snapshotUrl(server.httpPort, 'no-room', 'vp8'))).status, 404);
    const post = await fetch(snapshotUrl(server.httpPort, 'lab', 'vp8'), { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('answers 503 with Retry-After for a stream with no keyframe yet', async () => {
    const client = await connect({
      host: '127.0.0.1',
      port: server.tcpPort,
      role: 'publisher',
      agent: 'test',
    });
    try {
      await client.publish('lab', 'silent', { video: { codec: 'vp8', codedWidth: 320, codedHeight: 240 } });
      const res = await fetch(snapshotUrl(server.httpPort, 'lab', 'silent'));
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal((await errorOf(res)).code, 'FW_NO_KEYFRAME');
    } finally {
      await client.close();
    }
  });

  it('answers 415 FW_NO_VIDEO for an audio-only stream, even with its audio cached', async () => {
    const client = await connect({
      host: '127.0.0.1',
      port: server.tcpPort,
      role: 'publisher',
      agent: 'test',
    });
    try {
      const pub = await client.publish('lab', 'radio', {
        audio: { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 },
      });
      for (let i = 0; i < 5; i++) {
        pub.sendAudio({
          timestamp: i * 20_000,
          captureTime: Date.now() * 1000,
          data: Uint8Array.of(0xf8, 0xff, 0xfe),
        });
      }
      await poll(
        () => (server.relay.findStream('lab', 'radio')?.framesIn ?? 0) >= 5,
        5000,
        'the audio frames',
      );
      const res = await fetch(snapshotUrl(server.httpPort, 'lab', 'radio'));
      assert.equal(res.status, 415);
      assert.equal(res.headers.get('retry-after'), null, 'no point retrying: there will never be a picture');
      const error = await errorOf(res);
      assert.equal(error.code, 'FW_NO_VIDEO');
      assert.match(error.message, /no video track/);
    } finally {
      await client.close();
    }
  });

  it("answers 502 FW_FFMPEG_FAILED, not 500, when the publisher's keyframe does not decode", async () => {
    const client = await connect({
      host: '127.0.0.1',
      port: server.tcpPort,
      role: 'publisher',
      agent: 'test',
    });
    try {
      const pub = await client.publish('lab', 'garbage', {
        video: { codec: 'vp8', codedWidth: 320, codedHeight: 240 },
      });
      pub.sendFrame({ key: true, timestamp: 0, captureTime: 0, data: new Uint8Array(500).fill(7) });
      await poll(
        async () => server.relay.findStream('lab', 'garbage')?.gop.snapshot[0],
        5000,
        'the keyframe',
      );
      const res = await fetch(snapshotUrl(server.httpPort, 'lab', 'garbage'));
      assert.equal(res.status, 502);
      assert.equal((await errorOf(res)).code, 'FW_FFMPEG_FAILED');
    } finally {
      await client.close();
    }
  });

  it('decodes once per keyframe, runs at most maxJobs ffmpegs, and a new keyframe means a new JPEG', async () => {
    const stream = (name: string) => server.relay.findStream('lab', name) as Stream;
    const snapshots = new Snapshots({ maxJobs: 2, timeoutMs: 5000 });
    const vp8 = stream('vp8');
    const keyframe = vp8.gop.snapshot[0];
    const first = snapshots.take(vp8);
    assert.ok(first instanceof Promise);
    // Same keyframe: the running decode is shared, not started again.
    assert.equal(snapshots.take(vp8), first);
    const second = snapshots.take(stream('h264'));
    assert.ok(second instanceof Promise);
    // Two ffmpegs running: a third stream is refused rather than queued.
    assert.equal(snapshots.take(stream('third')), 'busy');
    await first;
    await second;
    assert.equal(vp8.gop.snapshot[0], keyframe);
    assert.equal(snapshots.take(vp8), first, 'the JPEG is kept for its keyframe');
    const third = stream('third');
    const thirdKeyframe = third.gop.snapshot[0];
    const thirdTaken = snapshots.take(third);
    assert.ok(thirdTaken instanceof Promise, 'a slot is free again');
    const thirdJpeg = await thirdTaken;
    // Keyframes of this one come every 2 s: once the GOP cache holds a new one, the next take decodes it.
    await poll(() => third.gop.snapshot[0] !== thirdKeyframe, 5000, 'the next keyframe');
    const next = snapshots.take(third);
    assert.notEqual(next, thirdTaken);
    assert.notDeepEqual(await next, thirdJpeg, 'the test pattern moved, so the picture differs');
  });

  it('kills an ffmpeg that runs past the timeout, and says how to install a missing one', async () => {
    const vp8 = server.relay.findStream('lab', 'vp8') as Stream;
    // No decode finishes within 1 ms (spawning ffmpeg alone takes tens of ms).
    const slow = new Snapshots({ maxJobs: 2, timeoutMs: 1 }).take(vp8);
    await assert.rejects(slow as Promise<Uint8Array>, (err: MediaError) => err.code === 'FW_FFMPEG_TIMEOUT');
    const missing = new Snapshots({
      maxJobs: 2,
      timeoutMs: 5000,
      ffmpegPath: join(tmpDir(), 'no-ffmpeg'),
    }).take(vp8);
    await assert.rejects(missing as Promise<Uint8Array>, (err: MediaError) => {
      assert.ok(err instanceof MediaError);
      assert.equal(err.code, 'FW_FFMPEG_MISSING');
      assert.match(err.message, /install it/);
      return true;
    });
  });
});

describe('snapshots through framewire serve', { timeout: 60_000 }, () => {
  it('answers 503 saying to install ffmpeg when the server has none', async () => {
    ensureBuilt();
    // The server process gets a PATH with no ffmpeg on it; this test process publishes with its own.
    const served = await serve({ tcp: 0, http: 0 }, { ...process.env, PATH: join(tmpDir(), 'empty-path') });
    const pub = await startLivePublisher(served.port, 'lab', 'cam', { codec: 'vp8' });
    try {
      const res = await fetch(snapshotUrl(served.httpPort, 'lab', 'cam'));
      assert.equal(res.status, 503);
      const error = await errorOf(res);
      assert.equal(error.code, 'FW_FFMPEG_MISSING');
      assert.match(error.message, /ffmpeg not found.*install it/);
    } finally {
      await pub.stop();
      served.child.kill('SIGTERM');
      await exited(served.child);
    }
  });

  it('in token mode, needs a token that may view the room', async () => {
    const secret = 'a-test-secret-that-is-long-enough-for-hs256!';
    const server = await startServer({ tcpPort: 0, httpPort: 0, secret, log: () => {} });
    const pubToken = await mintToken(secret, { room: 'lab', publish: true, view: false, ttlSec: 60 });
    const viewToken = await mintToken(secret, { room: 'lab', publish: false, view: true, ttlSec: 60 });
    const pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'vp8', token: pubToken });
    try {
      const url = snapshotUrl(server.httpPort, 'lab', 'cam');
      assert.equal((await fetch(url)).status, 401);
      // A token that may not view the room: answered as if the stream did not exist.
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${pubToken}` } })).status, 404);
      const ok = await fetch(`${url}?token=${viewToken}`);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('content-type'), 'image/jpeg');
    } finally {
      await pub.stop();
      await server.close();
    }
  });
});
