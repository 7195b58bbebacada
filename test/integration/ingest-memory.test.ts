// A pushed stream must not grow the server with its length: a camera pushes for days. Each test pushes
// 6600 frames of H.264 + AAC (a keyframe every second, ~1 Mbit/s) through /ingest, as MPEG-TS and as
// Matroska, faster than real time. It measures what the ingest holds once the stream has passed 2000
// frames and again once the whole file is in: the server thread's heap and its worker's heap, each with
// the ArrayBuffers it holds (where frame data lives), after full collections. The second may not exceed
// the first by more than a small bound: thousands of frames more must cost no more memory.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { runningIngests } from '../../src/server/ingest/running.js';
import { heapAfterGc } from '../helpers/heap.js';

const FPS = 30;
const FRAMES = 6600;
const FIRST_MARK = 2000;
/** Frames the two measurements must lie apart, at least: 100 keyframe intervals. */
const MIN_FRAMES_BETWEEN = 3000;
/**
 * What the ingest may gain between the two measurements. Before the fix (src/media/demux-indexes.ts) it
 * gained 2.5-3.4 MB over these ~4600 frames as MPEG-TS (mediabunny's seek points, each holding a PES
 * packet); since, -0.6 to +0.35 MB (JIT code and buffers as full as the chunk boundaries leave them).
 * Matroska grew by 48 bytes a cluster before, too little to show here.
 */
const BOUND_BYTES = 1024 * 1024;
/** How long the ingest may take to show a frame count that no longer changes once we stop sending. */
const SETTLE_MS = 20_000;

let dir: string;
let server: RelayServer;
/** The server's log lines. */
const logged: string[] = [];

/** Writes what ffmpeg sends to its stdout (a pipe to it: a live stream, not a seekable file) into `file`. */
function ffmpegTo(file: string, args: string[]): void {
  const fd = openSync(file, 'w');
  try {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args, 'pipe:1'], {
      stdio: ['ignore', fd, 'pipe'],
    });
  } finally {
    closeSync(fd);
  }
}

/** Video frames the server has taken in on the one ingest stream (a keyframe every FPS frames). */
function framesIn(): number {
  return (server.stats().streams[0]?.keyframes ?? 0) * FPS;
}

/** Polls until `probe` is true, or fails after `ms`. */
async function until(probe: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the ingest has taken in `atLeast` frames and then none for 500 ms: it has demuxed all it was sent. */
async function settled(atLeast: number): Promise<number> {
  let last = -1;
  let stillSince = Date.now();
  await until(
    () => {
      const n = framesIn();
      if (n !== last) {
        last = n;
        stillSince = Date.now();
      }
      return n >= atLeast && Date.now() - stillSince >= 500;
    },
    SETTLE_MS,
    `the ingest to take in ${atLeast} frames and settle`,
  );
  return last;
}

/**
 * Bytes the ingest holds: this thread's heap and external memory, less the stream's GOP cache (one GOP
 * whatever the stream's length: 1 to 30 frames, by where in its GOP the stream was stopped), plus the
 * worker's heap and external memory, after full collections.
 */
async function ingestMemory(): Promise<{ main: number; worker: number }> {
  const [ingest] = runningIngests(server.relay);
  assert.ok(ingest, 'the ingest is running');
  const worker = await ingest.measureWorker(true);
  assert.ok(worker, 'the worker answered');
  const heap = heapAfterGc();
  const gop = server.stats().streams[0]?.gopCacheBytes ?? 0;
  return { main: heap + process.memoryUsage().external - gop, worker: worker.heapUsed + worker.external };
}

/** What the ingest held at one moment, and how many video frames it had taken in by then. */
interface Measured {
  frames: number;
  main: number;
  worker: number;
}

/**
 * PUTs `file` to /ingest/mem/<name>, measuring once the part of the file that holds the first `mark` frames
 * is in (by its share of the bytes: the sockets hold megabytes, so the frame count runs late) and again
 * once the whole file is in (the body still open, so the ingest still runs); then ends the body. Resolves
 * with both measurements and the answer to the push.
 */
async function pushMeasuring(
  file: string,
  name: string,
  mark: number,
): Promise<{ first: Measured; second: Measured; gauge: number | null; response: string }> {
  const body = readFileSync(file);
  const req = http.request({
    host: '127.0.0.1',
    port: server.httpPort,
    method: 'PUT',
    path: `/ingest/mem/${name}`,
  });
  const response = new Promise<string>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.once('end', () => resolve(`${res.statusCode} ${text}`));
    });
  });
  // One listener for the whole push (a race per write would pile reactions onto the pending answer).
  let answered: string | null = null;
  let wakeWriter = () => {};
  response.then(
    (r) => {
      answered = r;
      wakeWriter();
    },
    (err: unknown) => {
      answered = String(err);
      wakeWriter();
    },
  );
  const CHUNK = 64 * 1024;
  let offset = 0;
  /** Sends the file up to byte `end`, waits for the ingest to have demuxed `frames` of it, measures. */
  const measureAt = async (end: number, frames: number): Promise<Measured> => {
    while (offset < end) {
      const chunk = body.subarray(offset, Math.min(end, offset + CHUNK));
      offset += chunk.length;
      if (!req.write(chunk)) {
        await new Promise<void>((resolve) => {
          wakeWriter = resolve;
          req.once('drain', resolve);
        });
      }
      // An answer before the end of the body is a refusal: fail with it rather than wait for a drain.
      if (answered !== null) assert.fail(`the server answered mid-body: ${answered}`);
    }
    return { frames: await settled(frames), ...(await ingestMemory()) };
  };
  // The share of the bytes is not quite the share of the frames (keyframes are larger): a little slack.
  const first = await measureAt(Math.round((body.length * mark) / FRAMES), mark * 0.9);
  const second = await measureAt(body.length, FRAMES);
  const gauge = await workerGauge(name);
  req.end();
  return { first, second, gauge, response: await response };
}

/** The ingest worker's memory as /metrics shows it for stream `name` of room mem; null when absent. */
async function workerGauge(name: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`framewire_ingest_worker_heap_bytes{room="mem",stream="${name}"}`));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('ingest memory', { timeout: 300_000 }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fw-ingest-memory-'));
    // ~1 Mbit/s, 4.5 KB a frame: what a camera pushes. Encoded once; the MPEG-TS file is the same stream
    // remuxed (the Matroska muxer needs the AAC config up front, which a remux from MPEG-TS lacks).
    ffmpegTo(path.join(dir, 'clip.mkv'), [
      ...['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${FPS}`],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
      ...['-frames:v', String(FRAMES), '-shortest'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(FPS)],
      ...['-b:v', '1M', '-c:a', 'aac', '-b:a', '64k', '-f', 'matroska'],
    ]);
    ffmpegTo(path.join(dir, 'clip.ts'), ['-i', path.join(dir, 'clip.mkv'), '-c', 'copy', '-f', 'mpegts']);
    // Sent faster than real time: the per-stream rate limit would cut it.
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      maxStreamBytesPerSec: 1e9,
      log: (line) => logged.push(line),
    });
  });

  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [container, file] of [
    ['MPEG-TS', 'clip.ts'],
    ['Matroska', 'clip.mkv'],
  ] as const) {
    it(`holds no more memory at ${FRAMES} frames than at ${FIRST_MARK}: ${container}`, async (t) => {
      const { first, second, gauge, response } = await pushMeasuring(
        path.join(dir, file),
        container.toLowerCase(),
        FIRST_MARK,
      );
      const kb = (n: number) => `${Math.round(n / 1024)} KB`;
      const frames = second.frames - first.frames;
      const grew = second.main + second.worker - (first.main + first.worker);
      t.diagnostic(
        `${container}: at ${first.frames} frames main ${kb(first.main)} + worker ${kb(first.worker)}; ` +
          `at ${second.frames}: main ${kb(second.main)} + worker ${kb(second.worker)}; ` +
          `grew ${kb(grew)} over ${frames} frames (${Math.round(grew / frames)} B/frame)`,
      );
      assert.match(response, /^200 /, 'the push was taken to its end');
      // Said first: if mediabunny moved its indexes, this is why the memory grows.
      const unbounded = logged.find((l) => l.includes('ingest-unbounded-demuxer'));
      assert.equal(unbounded, undefined, 'the demuxer indexes were found and trimmed');
      assert.equal(second.frames, FRAMES, 'every video frame of the file came through');
      assert.ok(frames >= MIN_FRAMES_BETWEEN, `${frames} frames between the measurements`);
      assert.ok(
        grew < BOUND_BYTES,
        `the ingest grew by ${kb(grew)} over ${frames} frames (bound ${kb(BOUND_BYTES)})`,
      );
      // What an operator sees of it: the worker's memory while it runs, nothing once it has ended.
      assert.ok(gauge !== null && gauge > 1024 * 1024, `/metrics showed the worker's memory (${gauge})`);
      await until(() => server.stats().streams.length === 0, SETTLE_MS, 'the stream to end');
      assert.equal(runningIngests(server.relay).length, 0, 'the ended ingest is no longer listed');
      assert.equal(await workerGauge(container.toLowerCase()), null, 'nor shown in /metrics');
    });
  }
});
