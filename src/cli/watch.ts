import { parseArgs } from 'node:util';
import { ClientError } from '../client/errors.js';
import { type Display, startDisplay } from '../media/display.js';
import { createRecorder, type Recorder } from '../media/recorder.js';
import { nowMicros } from '../media/source.js';
import type { DecoderConfig, FrameMessage, StreamAddedMessage } from '../protocol/messages.js';
import { DEFAULT_SERVER, parsePositive, required, tokenFrom, withUsage } from './args.js';
import type { CliContext, Command } from './command.js';
import { CliError } from './errors.js';
import { Meter, type MeterReading } from './meter.js';
import { connectToServer, formatServer, parseServer, tlsFromFlags } from './server-address.js';
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
                      the --name one, or else the first stream that appears in the room
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
}

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
          display: { type: 'boolean', default: false },
          stats: { type: 'boolean', default: false },
        },
      }).values,
  );
  const server = parseServer('watch', f.server);
  return {
    server,
    tls: tlsFromFlags('watch', server, f.ca),
    token: tokenFrom(f.token),
    room: required('watch', 'room', f.room),
    name: f.name,
    durationSec: f.duration === undefined ? null : parsePositive('watch', 'duration', f.duration, 1e7),
    out: f.out ?? null,
    display: f.display,
    stats: f.stats,
  };
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
    private readonly out: string | null,
    private readonly showDisplay: boolean,
    private readonly onDisplayExit: () => void,
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
    if (this.out !== null && this.recorder === null) this.openRecorder(this.out, m.config);
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
      (err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
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
        this.failure = err instanceof Error ? err : new Error(String(err));
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
  return `${r.fps.toFixed(1)} fps, ${Math.round(r.kbps)} kbit/s, latency ${latency} ms, drops ${r.drops}`;
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
  const sink = new Sink(room, name, opts.out, opts.display, () => stop(null));

  client.on('stream-added', (m) => {
    streams.set(m.streamId, { info: m, meter: new Meter(), lastSeq: null });
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
    // Publisher and viewer clocks agree to a few ms at best (each process fixes performance.timeOrigin once),
    // so on one machine a frame can seem to arrive before it was captured: that is no latency, not unknown.
    const latencyMs = Math.max(0, (nowMicros() - m.captureTime) / 1000);
    s.meter.frame(m.payload.length, latencyMs);
    total.frame(m.payload.length, latencyMs);
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
        `nothing recorded to ${opts.out}: no keyframe arrived${sink.key ? ` from ${sink.key}` : ` in room "${room}"`}: is a publisher running?`,
      );
    }
    ctx.stderr.write(`framewire: recorded ${sink.framesRecorded} frames of ${sink.key} to ${opts.out}\n`);
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
