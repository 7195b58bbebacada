// The soak's shaped viewer (bench/soak.ts starts it inside a network namespace, behind a shaped link): it
// watches one stream for --seconds and prints one JSON line a second (ShapedSecond) with the latency of
// each live frame that arrived, frames, drops and the link state the relay told it. Capture and arrival are
// both Date.now(): the namespace shares the machine's clock, so the latency is exact to the millisecond.
import { parseArgs } from 'node:util';
import { SequenceWatch } from './latency-groups.js';
import type { ShapedSecond } from './shaped-viewer-process.js';
import { SoakLink } from './soak-link.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    room: { type: 'string' },
    name: { type: 'string' },
    seconds: { type: 'string', default: '60' },
  },
});
const HOST = values.host ?? '';
const PORT = Number(values.port);
const ROOM = values.room ?? '';
const NAME = values.name ?? '';
const UNTIL = Date.now() + Number(values.seconds) * 1000;
const CONNECT_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let latencies: number[] = [];
let frames = 0;
let keyframes = 0;
let catchUp = 0;
let drops = 0;
let joinDrops = 0;
let violations = 0;
let link = 'live';
let watching = false;
let reconnects = -1;
let failure: string | null = null;
let lastReport = Date.now();

function report(): void {
  const now = Date.now();
  const line: ShapedSecond = {
    at: now,
    seconds: (now - lastReport) / 1000,
    latencies,
    frames,
    keyframes,
    catchUp,
    drops,
    joinDrops,
    violations,
    link,
    watching,
    reconnects: Math.max(0, reconnects),
    failure,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  lastReport = now;
  latencies = [];
  frames = 0;
  keyframes = 0;
  catchUp = 0;
  drops = 0;
  joinDrops = 0;
  violations = 0;
}

/** One connection: watch until it fails or the time is up. */
async function watchOnce(): Promise<void> {
  reconnects++;
  const conn = await SoakLink.connect(HOST, PORT, 'viewer', CONNECT_TIMEOUT_MS);
  // A new connection starts the sequences afresh: its first frames are no gap.
  const seq = new SequenceWatch((n, joining) => {
    if (joining) joinDrops += n;
    else drops += n;
  });
  const subscribedAt = Date.now();
  conn.onFrame = (streamId, s, key, captureUs) => {
    // The cached GOP a joiner gets first was captured before it subscribed: catch-up, counted apart.
    const isCatchUp = captureUs / 1000 < subscribedAt;
    if (isCatchUp) catchUp++;
    else latencies.push(Date.now() - captureUs / 1000);
    frames++;
    if (key) keyframes++;
    const before = seq.violations;
    seq.frame(streamId, s, key, isCatchUp);
    violations += seq.violations - before;
  };
  conn.onLinkState = (state) => {
    link = state;
  };
  try {
    await conn.subscribe(ROOM, NAME, CONNECT_TIMEOUT_MS);
    watching = true;
    while (Date.now() < UNTIL && conn.failure === null) await sleep(200);
    if (conn.failure !== null) failure = conn.failure;
  } finally {
    watching = false;
    link = 'live';
    conn.close();
  }
}

async function main(): Promise<void> {
  const ticker = setInterval(report, 1000);
  // The soak closes our stdin when it ends, or its death does: either way there is no one to report to.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  while (Date.now() < UNTIL) {
    await watchOnce().catch((err: Error) => {
      failure = err.message;
    });
    if (Date.now() < UNTIL) await sleep(1000);
  }
  clearInterval(ticker);
  report();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
