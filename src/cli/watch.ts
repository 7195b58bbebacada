import { parseArgs } from 'node:util';
import { ClientError } from '../client/errors.js';
import { type Display, missingDisplay, startDisplay } from '../media/display.js';
import { createRecorder, type Recorder } from '../media/recorder.js';
import { nowMicros } from '../media/source.js';
import { formatAddress } from '../protocol/address.js';
import type { DecoderConfig, FrameMessage, StreamAddedMessage } from '../protocol/messages.js';
import { DEFAULT_HTTP_PORT } from '../server/ops/config.js';
import { DEFAULT_SERVER, parsePositive, required, tokenFrom, withUsage } from './args.js';
import type { CliContext, Command } from './command.js';
import { CliError, usageError } from './errors.js';
import { Meter, type MeterReading } from './meter.js';
import { checkOutFile, codecMismatch, type OutFile } from './out-file.js';
import {
  connectToServer,
  formatServer,
  parseServer,
  type ServerAddress,
  tlsFromFlags,
} from './server-address.js';
import { logReconnects, StatusLine } from './status.js';

const USAGE = `Usage: framewire watch --room R [--name N] [flags]

Subscribes to stream N of room R, or to every stream of the room (now and later) without --name,
until --duration passes or Ctrl-C. If the server goes away it reconnects and subscribes again; if it
cannot be reached at start, or stream N does not exist, it exits with an error.

Flags:
  --server ADDR       the server: HOST:PORT or tcp://HOST:PORT, or tls://HOST:PORT for a server
                      with TLS (default ${DEFAULT_SERVER})
  --ca FILE           with tls://: also trust this PEM CA certificate (e.g. of a self-signed setup)
  --token T           access token, for servers that need one (default: $FRAMEWIRE_TOKEN); mint
                      one with \`framewire token\`
  --room R            room name
  --name N            one stream of the room (default: the whole room)
  --duration S        stop after S seconds (default: until Ctrl-C)
  --out FILE          record to FILE: .webm or .mkv for VP8, .mp4 for H.264 (or VP8). Records one stream:
                      the --name one, or else the first stream that appears in the room. Checked before
                      connecting: the folder must exist and FILE must not (see --force); a stream whose
                      codec FILE's container cannot hold stops watch at once, naming the file to use
  --force             with --out: overwrite FILE if it exists
  --display           show that same stream in an ffplay window; closing the window stops watching
  --stats             print once a second, per stream: fps, kbit/s, latency (median, ms; capture to
                      arrival, so it includes the clock difference between the machines) and drops
                      (frames missing from the sequence); without it, a status line on stderr
  -h, --help          show this help
`;

// Recorder writes queued behind a slow disk: beyond this, frames are dropped until the next keyframe
// rather than held in memory without limit.
const MAX_PENDING_WRITES = 240;

/** Per-stream figures on the current connection. */
interface StreamState {
  info: StreamAddedMessage;
  meter: Meter;
  lastSeq: number | null;
  /** Wall clock (µs) when stream-added came; null once the catch-up burst is over. */
  catchUpSince: number | null;
}

/**
 * How long after stream-added frames captured before it count as the catch-up burst (the server sends its
 * cached GOP at once; a second is plenty even on a slow link, and bounds the harm of a publisher whose
 * clock runs behind ours, whose live frames would otherwise look old).
 */
const CATCH_UP_WINDOW_US = 1_000_000;

function parse(argv: string[]) {
  const f = withUsage(
    'watch',
    () =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          server: { type: 'string', default: DEFAULT_SERVER },
          ca: { type: 'string' },
          token: { type: 'string' },
          room: { type: 'string' },
          name: { type: 'string', default: '' },
          duration: { type: 'string' },
          out: { type: 'string' },
          force: { type: 'boolean', default: false },
          display: { type: 'boolean', default: false },
          stats: { type: 'boolean', default: false },
        },
      }).values,
    argv,
  );
  const server = parseServer('watch', f.server);
  const room = required('watch', 'room', f.room);
  const durationSec = f.duration === undefined ? null : parsePositive('watch', 'duration', f.duration, 1e7);
  if (f.force && f.out === undefined) throw usageError('watch', '--force only applies to --out');
  const tls = tlsFromFlags('watch', server, f.ca);
  // Checked before connecting: a recording or window that cannot work must fail before it costs a file.
  const out = f.out === undefined ? null : checkOutFile('watch', f.out, f.force);
  if (f.display) {
    const missing = missingDisplay();
    if (missing !== null)
      throw new CliError(`cannot --display: ${missing}: ${noDisplayHint(server, room, f.name)}`);
  }
  return {
    server,
    tls,
    token: tokenFrom(f.token),
    room,
    name: f.name,
    durationSec,
    out,
    display: f.display,
    stats: f.stats,
  };
}

/** What to do without a display: record, or play the stream's plain-video URL on a machine with one. */
function noDisplayHint(server: ServerAddress, room: string, name: string): string {
  // The HTTP port is not known from --server (that is the socket protocol's); the default is the best guess.
  const url = `${server.tls ? 'https' : 'http'}://${formatAddress(server.host, DEFAULT_HTTP_PORT)}/live/${room}/${name || '<stream>'}.webm`;
  return `record with --out FILE instead, or open ${url} (.mp4 for H.264; ${DEFAULT_HTTP_PORT} is the default HTTP port) in a player on a machine with a screen`;
}

/** The stream --out and --display follow, across reconnects (where its streamId changes). */
class Sink {
  /** `room/name` of the followed stream, once chosen. */
  key: string | null;
  private recorder: Promise<Recorder> | null = null;
  private writes: Promise<void> = Promise.resolve();
  private pendingWrites = 0;
  private waitingForKey = false;
  private display: Display | null = null;
  framesRecorded = 0;
  failure: Error | null = null;

  constructor(
    room: string,
    name: string,
    private readonly out: OutFile | null,
    private readonly showDisplay: boolean,
    private readonly onDisplayExit: () => void,
    /** A recording that failed stops watch at once, rather than counting 0 frames until the end. */
    private readonly onRecorderFailure: (err: Error) => void,
  ) {
    this.key = name ? `${room}/${name}` : null;
  }

  get active(): boolean {
    return this.out !== null || this.showDisplay;
  }

  /** Called for every stream-added: the first matching one opens the recorder and the window. */
  streamAdded(m: StreamAddedMessage): void {
    if (!this.active) return;
    const key = `${m.room}/${m.name}`;
    this.key ??= key;
    if (key !== this.key) return;
    if (this.out !== null && this.recorder === null) {
      // Before the file is opened (a mismatch would truncate it to nothing) and before the window.
      const mismatch = codecMismatch(this.out, m.config);
      if (mismatch !== null) throw new CliError(mismatch);
      this.openRecorder(this.out.path, m.config);
    }
    if (this.showDisplay && this.display === null) {
      this.display = startDisplay(m.config, { title: `framewire ${key}` });
      this.display.on('error', (err) => {
        this.failure ??= err;
      });
      this.display.on('exit', this.onDisplayExit);
    }
  }

  private openRecorder(path: string, config: DecoderConfig): void {
    const recorder = createRecorder(path, config);
    this.recorder = recorder;
    // Frames are chained behind the recorder's creation, so none is lost while the file opens.
    this.writes = recorder.then(
      () => {},
      (err: unknown) => this.recorderFailed(path, err),
    );
  }

  /** Records why the recording failed, in a user's words for file system errors, and stops watch. */
  private recorderFailed(path: string, err: unknown): void {
    if (this.failure) return;
    const errno = (err as NodeJS.ErrnoException | null)?.code;
    // The folder was checked at start; it can still vanish or fill up while watch runs.
    this.failure =
      typeof errno === 'string' && err instanceof Error
        ? new CliError(`cannot write ${path} (${errno}): ${err.message}`, undefined, { cause: err })
        : err instanceof Error
          ? err
          : new Error(String(err));
    this.onRecorderFailure(this.failure);
  }

  frame(key: string, m: FrameMessage): void {
    if (key !== this.key) return;
    const frame = { key: m.key, timestamp: m.timestamp, data: m.payload };
    this.display?.write(frame);
    const recorder = this.recorder;
    if (recorder === null || this.failure) return;
    if (this.pendingWrites >= MAX_PENDING_WRITES) this.waitingForKey = true;
    if (this.waitingForKey && !(m.key && this.pendingWrites < MAX_PENDING_WRITES)) return;
    this.waitingForKey = false;
    this.pendingWrites++;
    this.writes = this.writes.then(async () => {
      this.pendingWrites--;
      if (this.failure) return;
      try {
        await (await recorder).add(frame);
        this.framesRecorded++;
      } catch (err) {
        this.recorderFailed(this.out?.path ?? '', err);
      }
    });
  }

  /** Finishes the file (or removes it when nothing was recorded) and closes the window. */
  async close(): Promise<void> {
    await this.writes;
    const closing: Promise<void>[] = [];
    if (this.display) closing.push(this.display.close());
    if (this.recorder) {
      closing.push(
        this.recorder.then(
          (r) => r.finish(),
          () => {},
        ),
      );
    }
    await Promise.all(closing);
  }
}

function formatReading(r: MeterReading): string {
  const latency = r.latencyMs === null ? '-' : Math.round(r.latencyMs).toString();
  const caughtUp = r.catchUp > 0 ? `, caught up ${r.catchUp} cached frames` : '';
  return `${r.fps.toFixed(1)} fps, ${Math.round(r.kbps)} kbit/s, latency ${latency} ms, drops ${r.drops}${caughtUp}`;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const opts = parse(argv);
  const { server, room, name } = opts;
  const client = await connectToServer(server, opts.tls, { role: 'viewer', token: opts.token });
  const status = new StatusLine(ctx.stderr);
  const streams = new Map<number, StreamState>();
  const total = new Meter();
  let stop: (err: Error | null) => void = () => {};
  const outcome = new Promise<Error | null>((resolve) => {
    stop = resolve;
  });
  const sink = new Sink(
    room,
    name,
    opts.out,
    opts.display,
    () => stop(null),
    (err) => stop(err),
  );

  client.on('stream-added', (m) => {
    streams.set(m.streamId, { info: m, meter: new Meter(), lastSeq: null, catchUpSince: nowMicros() });
    status.log(
      `framewire: stream ${m.room}/${m.name} (${m.config.codec} ${m.config.codedWidth}x${m.config.codedHeight})`,
    );
    try {
      sink.streamAdded(m);
    } catch (err) {
      stop(err instanceof Error ? err : new Error(String(err)));
    }
  });
  client.on('stream-removed', (m) => {
    const s = streams.get(m.streamId);
    streams.delete(m.streamId);
    if (s) status.log(`framewire: stream ${s.info.room}/${s.info.name} ended (${m.reason})`);
  });
  client.on('frame', (m) => {
    const s = streams.get(m.streamId);
    if (!s) return;
    // A gap in seq is frames lost on the way (publisher or relay skipped to a keyframe).
    if (s.lastSeq !== null) {
      const gap = (m.seq - s.lastSeq - 1) >>> 0;
      if (gap > 0 && gap < 0x80000000) {
        s.meter.drop(gap);
        total.drop(gap);
      }
    }
    s.lastSeq = m.seq;
    const now = nowMicros();
    // The cached GOP comes first, at once: frames captured before we joined. Counted apart, so the first
    // second's fps, bitrate and latency describe the live stream, not the burst.
    const catchingUp =
      s.catchUpSince !== null && m.captureTime < s.catchUpSince && now - s.catchUpSince < CATCH_UP_WINDOW_US;
    if (catchingUp) {
      s.meter.catchUpFrame();
      total.catchUpFrame();
    } else {
      // The first live frame ends the burst for good.
      s.catchUpSince = null;
      // Publisher and viewer clocks agree to a few ms at best (each process fixes performance.timeOrigin
      // once), so on one machine a frame can seem to arrive before it was captured: no latency, not unknown.
      const latencyMs = Math.max(0, (now - m.captureTime) / 1000);
      s.meter.frame(m.payload.length, latencyMs);
      total.frame(m.payload.length, latencyMs);
    }
    sink.frame(`${s.info.room}/${s.info.name}`, m);
  });
  client.on('close', (err) => stop(err));
  logReconnects(client, status, formatServer(server), 'subscribing again');

  try {
    await client.subscribe(room, name);
  } catch (err) {
    await client.close();
    if (err instanceof ClientError && err.code === 'FW_NO_SUCH_STREAM') {
      throw new CliError(
        `no stream "${name}" in room "${room}" (FW_NO_SUCH_STREAM): check --name and --room, or leave --name out to watch the whole room`,
      );
    }
    throw err;
  }

  ctx.signal.addEventListener('abort', () => stop(null), { once: true });
  const timer = opts.durationSec === null ? null : setTimeout(() => stop(null), opts.durationSec * 1000);
  const ticker = setInterval(() => {
    for (const [streamId, s] of streams) {
      const r = s.meter.read();
      // The CLI does not decode: every frame it accepts is passed on whole, so decoded = received.
      client.sendReceiverReport({
        streamId,
        framesReceived: s.meter.totalFrames,
        framesDecoded: s.meter.totalFrames,
        framesDropped: s.meter.totalDrops,
        framesLate: 0,
        fps: r.fps,
        latencyP50Ms: r.latencyMs ?? -1,
        latencyP95Ms: r.latencyP95Ms ?? -1,
      });
      if (opts.stats) ctx.stdout.write(`${s.info.room}/${s.info.name}: ${formatReading(r)}\n`);
    }
    if (opts.stats) return;
    const what = client.connected ? `${streams.size} stream${streams.size === 1 ? '' : 's'}` : 'reconnecting';
    const recorded = opts.out === null ? '' : `, ${sink.framesRecorded} frames recorded`;
    status.update(`${room}${name ? `/${name}` : ''}: ${what}, ${formatReading(total.read())}${recorded}`);
  }, 1000);

  const error = await outcome;
  if (timer) clearTimeout(timer);
  clearInterval(ticker);
  await client.close();
  await sink.close();
  status.end();
  if (error) throw error;
  if (sink.failure) throw sink.failure;
  if (opts.out !== null) {
    if (sink.framesRecorded === 0) {
      throw new CliError(
        `nothing recorded to ${opts.out.path}: no keyframe arrived${sink.key ? ` from ${sink.key}` : ` in room "${room}"`}: is a publisher running?`,
      );
    }
    ctx.stderr.write(
      `framewire: recorded ${sink.framesRecorded} frames of ${sink.key} to ${opts.out.path}\n`,
    );
  }
  return 0;
}

/** `framewire watch`: subscribe to a stream or room; record, display, or print stats. */
export const watchCommand: Command = {
  name: 'watch',
  summary: 'watch a stream or a whole room: record it, show it, or print stats',
  usage: USAGE,
  run,
};
