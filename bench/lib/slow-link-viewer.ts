// The slow-link bench's viewer (bench/slow-link.ts starts it inside a network namespace, behind a shaped
// link): it plays one stream for --seconds with the target's own light client (Framewire's bench link over
// TCP, or the bench RTMP player) and prints one JSON line a second (SlowLinkSecond) with every frame that
// arrived: when (ms since it started, its own monotonic clock) and the frame's media timestamp (ms). The
// delay is computed from those alone, so it needs no clock shared with the publisher.
import { parseArgs } from 'node:util';
import { RtmpPlayer } from '../peers/rtmp-player.js';
import type { SlowLinkSecond } from './slow-link-stats.js';
import { SoakLink } from './soak-link.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    room: { type: 'string', default: 'slow' },
    name: { type: 'string', default: 'cam' },
    seconds: { type: 'string', default: '60' },
  },
});
const PROTOCOL = values.protocol;
const HOST = values.host ?? '';
const PORT = Number(values.port);
const ROOM = values.room ?? 'slow';
const NAME = values.name ?? 'cam';
const SECONDS = Number(values.seconds);
const CONNECT_TIMEOUT_MS = 10_000;
/** Frames kept between two reports: 30 fps a second is all a stream can carry; past this is a bug. */
const MAX_FRAMES_PER_LINE = 1000;

const start = performance.now();
const until = start + SECONDS * 1000;
let frames: [number, number, number, number, number][] = [];
let dropped = 0;
let failure: string | null = null;

/**
 * Records one frame: arrival (ms since start), media timestamp (ms), keyframe (1/0), payload bytes, and
 * arrival on the wall clock (epoch ms, which the namespace shares with the publisher's process).
 */
function arrive(mediaMs: number, key: boolean, bytes: number): void {
  if (frames.length >= MAX_FRAMES_PER_LINE) {
    dropped++;
    return;
  }
  const now = performance.now();
  const wall = Math.round((performance.timeOrigin + now) * 10) / 10;
  frames.push([Math.round((now - start) * 10) / 10, mediaMs, key ? 1 : 0, bytes, wall]);
}

function report(): void {
  const line: SlowLinkSecond = { t: Math.round(performance.now() - start), frames, dropped, failure };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  frames = [];
  dropped = 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Watches over Framewire TCP until the time is up or the connection fails. */
async function watchFramewire(): Promise<void> {
  const link = await SoakLink.connect(HOST, PORT, 'viewer', CONNECT_TIMEOUT_MS);
  link.onFrame = (_id, _seq, key, _capture, timestampUs, bytes) => arrive(timestampUs / 1000, key, bytes);
  try {
    await link.subscribe(ROOM, NAME, CONNECT_TIMEOUT_MS);
    while (performance.now() < until && link.failure === null) await sleep(100);
    if (link.failure !== null) failure = link.failure;
  } finally {
    link.close();
  }
}

/** Plays over RTMP (nginx-rtmp, node-media-server) until the time is up or the connection closes. */
async function watchRtmp(): Promise<void> {
  let ended = false;
  const player = await RtmpPlayer.connect(`rtmp://${HOST}:${PORT}/live/${NAME}`, (ts, bytes, body) => {
    // The AVC sequence header (AVCPacketType 0) is not a frame; byte 0's high nibble 1 is a keyframe.
    if (body[1] === 0) return;
    arrive(ts, (body[0] ?? 0) >> 4 === 1, bytes);
  });
  void player.closed.then((err) => {
    ended = true;
    if (err) failure = err.message;
  });
  try {
    while (performance.now() < until && !ended) await sleep(100);
  } finally {
    player.close();
  }
}

async function main(): Promise<void> {
  if (PROTOCOL !== 'framewire' && PROTOCOL !== 'rtmp') throw new Error('--protocol framewire|rtmp');
  const ticker = setInterval(report, 1000);
  // bench/slow-link.ts closes our stdin when it ends, or its death does: no one is left to report to.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  try {
    await (PROTOCOL === 'framewire' ? watchFramewire() : watchRtmp());
  } catch (err) {
    failure = (err as Error).message;
  } finally {
    clearInterval(ticker);
    report();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
