/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Message } from '../../src/protocol/index.js';
import { PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, exited, killStarted, poll, run, type Served, serve } from '../helpers/cli.js';
import { WireClient } from '../helpers/wire-client.js';

const SECRET = 'e2e-ingest-secret-long-enough-for-hs256-0123';
/** The test picture as the README's commands encode it: 320x240, 30 fps, a keyframe a second. */
const SOURCE = [
  '-hide_banner',
  '-loglevel',
  'error',
  '-re',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=320x240:rate=30',
];
const H264_TS = [
  '-c:v',
  'libx264',
  '-preset',
  'ultrafast',
  '-tune',
  'zerolatency',
  '-g',
  '30',
  '-f',
  'mpegts',
];
const VP8_WEBM = ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-g', '30', '-f', 'webm'];

let server: Served;
let browser: Browser;
let tmp = '';
const pushes = new Set<ChildProcess>();

/** Runs ffmpeg pushing `seconds` of the test picture to `url`; resolves with its exit code and stderr. */
function push(
  url: string,
  seconds: number,
  encode: string[],
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('ffmpeg', [...SOURCE, '-t', String(seconds), ...encode, '-method', 'PUT', url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  pushes.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return exited(child).then((code) => {
    pushes.delete(child);
    return { code, stderr };
  });
}

function ingestUrl(srv: Served, room: string, name: string, query = ''): string {
  return `http://127.0.0.1:${srv.httpPort}/ingest/${room}/${name}${query}`;
}

/** A finite PUT with `fetch`: status and JSON body. */
async function put(
  url: string,
  body: Uint8Array<ArrayBuffer> | string,
): Promise<{ status: number; error: { code: string; message: string } }> {
  const res = await fetch(url, { method: 'PUT', body });
  const json = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, error: json.error };
}

/** A raw viewer of a whole room, subscribed before anything is published there. */
async function roomViewer(room: string): Promise<WireClient> {
  const viewer = await WireClient.hello(server.port, 'viewer');
  viewer.send({ type: 'subscribe', requestId: 1, room, name: '' });
  return viewer;
}

function frames(viewer: WireClient): Extract<Message, { type: 'frame' }>[] {
  return viewer.frames();
}

const CLUSTER_ID = Buffer.from([0x1f, 0x43, 0xb6, 0x75]);
/** The test picture as fast as it encodes (no -re), for bodies made ahead of time. */
const SOURCE_NOW = SOURCE.filter((a) => a !== '-re');

/** The head of a live WebM from ffmpeg (EBML header, segment of unknown size, tracks): up to its first cluster. */
function webmHead(): Buffer {
  const webm = execFileSync('ffmpeg', [...SOURCE_NOW, '-t', '0.2', ...VP8_WEBM, '-']);
  return webm.subarray(0, webm.indexOf(CLUSTER_ID));
}

/** The header of a Matroska cluster that says it holds `bytes` (8-byte size), and a Timestamp of 0. */
function clusterHeader(bytes: number): Buffer {
  const size = [
    0x01,
    0,
    0,
    Math.floor(bytes / 2 ** 32) & 0xff,
    bytes >>> 24,
    (bytes >>> 16) & 0xff,
    (bytes >>> 8) & 0xff,
    bytes & 0xff,
  ];
  return Buffer.from([...CLUSTER_ID, ...size, 0xe7, 0x81, 0x00]);
}

/** PUTs `head`, then zeros until the server answers (a live stream gone bad); resolves with the answer. */
function pushForever(
  url: string,
  head: Uint8Array,
): Promise<{ status: number; error: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT' });
    const zeros = Buffer.alloc(64 * 1024);
    const timer = setInterval(() => req.write(zeros), 5);
    req.on('response', (res) => {
      clearInterval(timer);
      let text = '';
      res.setEncoding('utf8').on('data', (s: string) => {
        text += s;
      });
      res.on('end', () => {
        req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          error: (JSON.parse(text) as { error: { code: string; message: string } }).error,
        });
      });
    });
    req.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    req.write(head);
  });
}

type PageStats = { streams: Record<string, { framesPainted: number; codec: string }> };
const pageStats = (page: Page) =>
  page.evaluate(() => (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats());

before(async () => {
  ensureBuilt(['dist/cli/main.js', 'dist/server/ingest-worker.js', 'dist/web/index.html']);
  tmp = mkdtempSync(join(tmpdir(), 'framewire-ingest-'));
  server = await serve();
  browser = await launchChromium();
});

after(async () => {
  for (const child of pushes) child.kill('SIGKILL');
  await browser?.close();
  await killStarted();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('HTTP ingest from plain ffmpeg', { timeout: 120_000 }, () => {
  it('H.264 in MPEG-TS: the CLI watch gets it live and a Chromium page decodes and paints it', async () => {
    const room = 'ts';
    const context = await browser.newContext();
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=wall&watch`);
    await page.waitForFunction(() => 'framewire' in window);
    const watching = run([
      'watch',
      '--server',
      `127.0.0.1:${server.port}`,
      '--room',
      room,
      '--stats',
      '--duration',
      '7',
    ]);
    const pushing = push(ingestUrl(server, room, 'cam'), 5, H264_TS);

    const painted = await poll(
      async () => {
        const s = (await pageStats(page)).streams.cam;
        return s && s.framesPainted >= 30 ? s : undefined;
      },
      10_000,
      'the page to paint 30 frames of the pushed stream',
    );
    assert.match(painted.codec, /^avc1\./);
    const pushed = await pushing;
    assert.equal(pushed.code, 0, pushed.stderr);
    const watch = await watching;
    assert.equal(watch.code, 0, watch.stderr);
    assert.match(watch.stderr, /stream ts\/cam \(avc1\.\w+ 320x240\)/);
    const fps = [
      ...watch.stdout.matchAll(/^ts\/cam: ([\d.]+) fps, \d+ kbit\/s, latency \d+ ms, drops 0$/gm),
    ].map((m) => Number(m[1]));
    assert.ok(
      fps.some((f) => f >= 20),
      `watch --stats shows the stream live:\n${watch.stdout}`,
    );
    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  it('VP8 in WebM: a raw viewer gets every frame in order, a keyframe first, then "ended"', async () => {
    const room = 'webm';
    const viewer = await roomViewer(room);
    const pushed = await push(ingestUrl(server, room, 'cam'), 4, [...VP8_WEBM, '-cluster_time_limit', '0']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const removed = await viewer.next((m) => m.type === 'stream-removed', 5000);
    assert.equal(removed.type === 'stream-removed' && removed.reason, 'ended');
    const added = viewer.received.find((m) => m.type === 'stream-added');
    assert.equal(added?.type === 'stream-added' && added.video?.codec, 'vp8');
    const got = frames(viewer);
    assert.equal(got.length, 120, '4 s at 30 fps, none lost');
    assert.equal(got[0]?.key, true);
    assert.deepEqual(
      got.map((f) => f.seq),
      got.map((_, i) => i),
    );
    assert.equal(got.filter((f) => f.key).length, 4, 'a keyframe a second (-g 30)');
    viewer.close();
  });

  it('H.264 in Matroska: AVCC frames go out as Annex B with SPS and PPS in each keyframe', async () => {
    const room = 'mkv';
    const viewer = await roomViewer(room);
    const h264Mkv = [...H264_TS.slice(0, -2), '-f', 'matroska', '-cluster_time_limit', '0'];
    const pushed = await push(ingestUrl(server, room, 'cam'), 2, h264Mkv);
    assert.equal(pushed.code, 0, pushed.stderr);
    await viewer.next((m) => m.type === 'stream-removed', 5000);
    const added = viewer.received.find((m) => m.type === 'stream-added');
    assert.ok(added?.type === 'stream-added' && added.video?.description === undefined, 'Annex B: no avcC');
    const got = frames(viewer);
    assert.equal(got.length, 60);
    for (const frame of got) {
      assert.deepEqual([...frame.payload.subarray(0, 4)], [0, 0, 0, 1], 'a start code, not a length');
      // NAL type in the byte after the first start code: 7 (SPS) on keyframes.
      if (frame.key) assert.equal((frame.payload[4] ?? 0) & 0x1f, 7);
    }
    viewer.close();
  });
});

describe('HTTP ingest refusals', { timeout: 60_000 }, () => {
  it('a bad name is 400 FW_BAD_NAME, and only PUT and POST are allowed', async () => {
    for (const path of ['room/b%20ad', 'room', 'room/cam/extra', '-room/cam']) {
      const r = await put(`http://127.0.0.1:${server.httpPort}/ingest/${path}`, 'x');
      assert.equal(r.status, 400, path);
      assert.equal(r.error.code, 'FW_BAD_NAME');
    }
    const get = await fetch(ingestUrl(server, 'room', 'cam'));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'PUT, POST');
  });

  it('random bytes and an audio-only stream are 415 naming what is accepted, and leave no stream', async () => {
    const random = new Uint8Array(64 * 1024).map(() => Math.floor(Math.random() * 256));
    const audioOnly = join(tmp, 'audio.ts');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine',
      '-t',
      '1',
      '-f',
      'mpegts',
      audioOnly,
    ]);
    for (const [name, body, why] of [
      ['noise', random, /not MPEG-TS or WebM\/Matroska/],
      ['audio', new Uint8Array(readFileSync(audioOnly)), /has no video/],
    ] as const) {
      const r = await put(ingestUrl(server, 'refused', name), body);
      assert.equal(r.status, 415, name);
      assert.equal(r.error.code, 'FW_UNSUPPORTED_MEDIA');
      assert.match(r.error.message, why);
      assert.match(r.error.message, /MPEG-TS with H\.264, or WebM\/Matroska with VP8, VP9, AV1 or H\.264/);
    }
    const api = await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/refused`);
    assert.equal(api.status, 404, 'no stream was opened, so the room does not exist');
  });

  it('a cluster larger than the read limit is 413 FW_LIMIT, before anything that large is allocated', async () => {
    const body = Buffer.concat([webmHead(), clusterHeader(100 * 2 ** 20), Buffer.alloc(4096)]);
    const r = await put(ingestUrl(server, 'huge', 'cam'), new Uint8Array(body));
    assert.equal(r.status, 413);
    assert.equal(r.error.code, 'FW_LIMIT');
    assert.match(r.error.message, /100\.0 MiB or more exceeds the 8\.0 MiB limit/);
  });

  it('input that sends the demuxer into a loop is cut after 5 s, and the server answers all along', async () => {
    // One good frame, then zeros for as long as the server reads: mediabunny's resync over 10 MiB of junk
    // never ends (an infinite loop in its Matroska reader); its worker thread is terminated instead.
    const webm = execFileSync('ffmpeg', [
      ...SOURCE_NOW,
      '-t',
      '0.2',
      ...VP8_WEBM,
      '-cluster_time_limit',
      '0',
      '-',
    ]);
    const secondCluster = webm.indexOf(CLUSTER_ID, webm.indexOf(CLUSTER_ID) + 4);
    const started = Date.now();
    const answer = pushForever(ingestUrl(server, 'stuck', 'cam'), webm.subarray(0, secondCluster));
    let slowest = 0;
    let settled = false;
    void answer.finally(() => {
      settled = true;
    });
    while (!settled) {
      const t = performance.now();
      assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms`)).status, 200);
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await answer;
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'FW_BAD_MEDIA');
    assert.match(r.error.message, /stopped responding for 5 s/);
    assert.ok(Date.now() - started < 10_000);
    assert.ok(slowest < 500, `the API answered within ${Math.round(slowest)} ms while the demuxer was stuck`);
    assert.equal(
      (await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/stuck`)).status,
      404,
      'stream gone',
    );
  });

  it('a name already published is 409 FW_STREAM_EXISTS, which ffmpeg prints with -send_expect_100 1', async () => {
    const publisher = await WireClient.hello(server.port, 'publisher');
    await publisher.publish('busy', 'cam');
    const r = await put(ingestUrl(server, 'busy', 'cam'), 'x');
    assert.equal(r.status, 409);
    assert.equal(r.error.code, 'FW_STREAM_EXISTS');
    // With Expect: 100-continue the server answers before the body, and ffmpeg reports the status.
    const pushed = await push(ingestUrl(server, 'busy', 'cam'), 1, [...H264_TS, '-send_expect_100', '1']);
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /Server returned 4XX Client Error/);
    publisher.close();
  });

  it('with a secret: no token is 401, a view token 403; a publish token in ?token= publishes', async () => {
    const secured = await serve({ tcp: 0, http: 0 }, { ...process.env, FRAMEWIRE_SECRET: SECRET });
    const none = await put(ingestUrl(secured, 'lab', 'cam'), 'x');
    assert.equal(none.status, 401);
    assert.equal(none.error.code, 'FW_UNAUTHORIZED');
    const viewOnly = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 60 });
    assert.equal((await put(ingestUrl(secured, 'lab', 'cam', `?token=${viewOnly}`), 'x')).status, 403);
    const token = await mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 60 });
    const viewer = await WireClient.connect(secured.port);
    viewer.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', agent: 'test', token: viewOnly });
    await viewer.next((m) => m.type === 'hello');
    viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name: '' });
    const pushed = await push(ingestUrl(secured, 'lab', 'cam', `?token=${token}`), 1, H264_TS);
    assert.equal(pushed.code, 0, pushed.stderr);
    await viewer.next((m) => m.type === 'stream-removed', 5000);
    assert.equal(frames(viewer).length, 30);
    viewer.close();
  });

  it('config limits: a second push is 429, a silent one 408 after idleTimeoutMs, a frame over maxMessageBytes 413', async () => {
    const config = join(tmp, 'limits.json');
    // 320x240 keyframes are ~9 KB, 640x480 ones ~19 KB.
    writeFileSync(
      config,
      JSON.stringify({ maxIngestsPerIp: 1, idleTimeoutMs: 1500, maxMessageBytes: 12_000 }),
    );
    const limited = await serve({ tcp: 0, http: 0 }, process.env, ['--config', config]);
    const ts = execFileSync('ffmpeg', [...SOURCE_NOW, '-t', '0.5', ...H264_TS, '-']);
    // Half a second of video, then nothing, with the connection left open.
    const silent = new Promise<{ status: number; code: string; ms: number }>((resolve, reject) => {
      const started = Date.now();
      const req = http.request(ingestUrl(limited, 'lab', 'quiet'), { method: 'PUT' });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => {
          text += s;
        });
        res.on('end', () => {
          const { code } = (JSON.parse(text) as { error: { code: string } }).error;
          resolve({ status: res.statusCode ?? 0, code, ms: Date.now() - started });
        });
      });
      req.on('error', reject);
      req.write(ts);
    });
    await poll(
      async () => (await fetch(`http://127.0.0.1:${limited.httpPort}/api/rooms/lab`)).ok || undefined,
      5000,
      'the pushed stream to appear',
    );
    const second = await put(ingestUrl(limited, 'lab', 'cam2'), 'x');
    assert.equal(second.status, 429, 'one push per address in this config');
    assert.equal(second.error.code, 'FW_LIMIT');
    const quiet = await silent;
    assert.deepEqual([quiet.status, quiet.code], [408, 'FW_TIMEOUT']);
    assert.ok(quiet.ms >= 1500 && quiet.ms < 5000, `timed out after ${quiet.ms} ms`);
    const large = execFileSync('ffmpeg', [
      ...SOURCE_NOW.map((a) => a.replace('320x240', '640x480')),
      '-t',
      '0.5',
      ...H264_TS,
      '-',
    ]);
    const tooLarge = await put(ingestUrl(limited, 'lab', 'large'), new Uint8Array(large));
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.error.code, 'FW_LIMIT');
    assert.match(tooLarge.error.message, /exceeds the 12 KiB message limit/);
  });
});
