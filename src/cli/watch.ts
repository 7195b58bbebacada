import { parseArgs } from 'node:util';
import { ClientError } from '../client/errors.js';
import { missingDisplay } from '../media/display.js';
import { nowMicros } from '../media/source.js';
import { formatAddress } from '../protocol/address.js';
import type { FrameMessage, LinkState, StreamAddedMessage } from '../protocol/messages.js';
import { describeTracks } from '../protocol/tracks.js';
import { DEFAULT_HTTP_PORT } from '../server/ops/config.js';
import { DEFAULT_SERVER, parsePositive, required, tokenFrom, withUsage } from './args.js';
import type { CliContext, Command } from './command.js';
import { CliError, usageError } from './errors.js';
import { avOffsetMs, Meter, type MeterReading } from './meter.js';
import { checkOutFile } from './out-file.js';
import { connectToServer, parseServer, type ServerAddress, tlsFromFlags } from './server-address.js';
import { DEFAULT_MAX_LATENCY_MS, StaleFrames } from './stale-frames.js';
import { logReconnects, StatusLine } from './status.js';
import { WatchSink } from './watch-sink.js';

const USAGE = `Usage: framewire watch --room R [--name N] [flags]

Subscribes to stream N of room R, or to every stream of the room (now and later) without --name,
until --duration passes or Ctrl-C. If the server goes away it reconnects and subscribes again; if it
cannot be reached at start, or stream N does not exist, it exits with an error.

Flags:
  --server ADDR       the server: HOST:PORT or tcp://HOST:PORT, or tls://HOST:PORT for a server
                      with TLS (default ${DEFAULT_SERVER}); several, comma-separated (a,b,c), for
                      nodes of one cluster: when its node goes, the client goes on at the next
  --ca FILE           with tls://: also trust this PEM CA certificate (e.g. of a self-signed setup)
  --token T           access token, for servers that need one (default: $FRAMEWIRE_TOKEN); mint
                      one with \`framewire token\`
  --room R            room name
  --name N            one stream of the room (default: the whole room)
  --duration S        stop after S seconds (default: until Ctrl-C)
  --out FILE          record to FILE, video and audio: .webm or .mkv for VP8 (+ Opus), .mp4 for H.264
                      (or VP8; + Opus or AAC). Records one stream:
                      the --name one, or else the first stream that appears in the room. Checked before
                      connecting: the folder must exist and FILE must not (see --force); a stream whose
                      codec FILE's container cannot hold stops watch at once, naming the file to use.
                      When the stream's tracks change (its publisher switches codec or picture size),
                      FILE is finished and recording goes on in FILE-2 (then FILE-3...: the number
                      goes before the extension, cam.webm -> cam-2.webm; a name taken is skipped
                      unless --force), said in one line on stderr; a new codec FILE's container
                      cannot hold stops watch as at the start, keeping the files recorded so far
  --force             with --out: overwrite FILE if it exists
  --display           show that same stream in an ffplay window, and play its sound (a second ffplay,
                      with no window); closing the window stops watching
  --max-latency MS    discard deltas that arrive over MS after capture, up to the next keyframe (default ${DEFAULT_MAX_LATENCY_MS}; 0: never)
  --stats             print once a second, per stream: fps, kbit/s, latency (median, ms; capture to
                      arrival, so it includes the clock difference between the machines), drops
                      (frames missing from the sequence, or discarded as too old) and the link's state
                      when the server cannot send live; for a stream with sound, a second line
                      \`ROOM/NAME audio: ...\` with its kbit/s, frames/s, latency, gaps (runs of frames
                      missing from the audio sequence) and the A/V offset (audio's median latency minus
                      video's: > 0 means the sound arrives later than the picture captured with it);
                      without it, a status line on stderr
  -h, --help          show this help
`;

/** Per-stream figures on the current connection. */
interface StreamState {
  info: StreamAddedMessage;
  /** The video track's figures; the audio track's in `audio` (each track numbers its own frames). */
  meter: Meter;
  audio: Meter;
  lastSeq: number | null;
  lastAudioSeq: number | null;
  /** Wall clock (µs) when stream-added came; null once the catch-up burst is over. */
  catchUpSince: number | null;
  stale: StaleFrames;
}

/** The largest --max-latency: ten minutes behind is no longer watching live. */
const MAX_LATENCY_LIMIT_MS = 600_000;

/**
 * How long after stream-added frames captured before it count as the catch-up burst (the server sends its
 * cached GOP at once; a second is plenty even on a slow link, and bounds the harm of a publisher whose
 * clock runs behind ours, whose live frames would otherwise look old).
 */
const CATCH_UP_WINDOW_US = 1_000_000;

/** Pings right after subscribing, one after another, so the server clock estimate starts from a good one. */
const CLOCK_WARM_UP_PINGS = 3;

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
          'max-latency': { type: 'string' },
        },
      }).values,
    argv,
  );
  const server = parseServer('watch', f.server);
  const room = required('watch', 'room', f.room);
  const durationSec = f.duration === undefined ? null : parsePositive('watch', 'duration', f.duration, 1e7);
  if (f.force && f.out === undefined) throw usageError('watch', '--force only applies to --out');
  const maxLatencyMs =
    f['max-latency'] === undefined ? DEFAULT_MAX_LATENCY_MS : parseMaxLatency(f['max-latency']);
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
    force: f.force,
    display: f.display,
    stats: f.stats,
    maxLatencyMs,
  };
}

/** --max-latency: whole milliseconds, 0 (never discard) up to MAX_LATENCY_LIMIT_MS. */
function parseMaxLatency(text: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms > MAX_LATENCY_LIMIT_MS) {
    throw usageError(
      'watch',
      `--max-latency "${text}" is not a whole number of milliseconds from 0 (never discard) to ${MAX_LATENCY_LIMIT_MS}`,
    );
  }
  return ms;
}

/** What to do without a display: record, or play the stream's plain-video URL on a machine with one. */
function noDisplayHint(server: ServerAddress, room: string, name: string): string {
  // The HTTP port is not known from --server (that is the socket protocol's); the default is the best guess.
  const url = `${server.tls ? 'https' : 'http'}://${formatAddress(server.host, DEFAULT_HTTP_PORT)}/live/${room}/${name || '<stream>'}.webm`;
  return `record with --out FILE instead, or open ${url} (.mp4 for H.264; ${DEFAULT_HTTP_PORT} is the default HTTP port) in a player on a machine with a screen`;
}

/** What the server's link state means to someone watching; nothing while it sends live. */
const LINK_NOTES: Readonly<Record<LinkState, string>> = {
  live: '',
  draining: ', draining',
  'keyframes-only': ', link too slow: keyframes only',
};

/** The audio line of --stats: the audio track's figures, and how far behind the picture its sound arrives. */
function formatAudioReading(a: MeterReading, video: MeterReading | null): string {
  const latency = a.latencyMs === null ? '-' : Math.round(a.latencyMs).toString();
  const offset = video === null ? null : avOffsetMs(a, video);
  const av = offset === null ? '-' : `${offset >= 0 ? '+' : ''}${Math.round(offset)}`;
  const caughtUp = a.catchUp > 0 ? `, caught up ${a.catchUp} cached frames` : '';
  return `${Math.round(a.kbps)} kbit/s, ${a.fps.toFixed(1)} frames/s, latency ${latency} ms, gaps ${a.gaps} (${a.drops} frames), A/V offset ${av} ms${caughtUp}`;
}

function formatReading(r: MeterReading, link: LinkState): string {
  const latency = r.latencyMs === null ? '-' : Math.round(r.latencyMs).toString();
  const old = r.discarded > 0 ? ` (${r.discarded} too old)` : '';
  const caughtUp = r.catchUp > 0 ? `, caught up ${r.catchUp} cached frames` : '';
  return `${r.fps.toFixed(1)} fps, ${Math.round(r.kbps)} kbit/s, latency ${latency} ms, drops ${r.drops}${old}${caughtUp}${LINK_NOTES[link]}`;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const opts = parse(argv);
  const { server, room, name } = opts;
  const client = await connectToServer(server, opts.tls, { role: 'viewer', token: opts.token });
  const status = new StatusLine(ctx.stderr);
  const streams = new Map<number, StreamState>();
  const total = new Meter();
  const totalAudio = new Meter();
  let stop: (err: Error | null) => void = () => {};
  const outcome = new Promise<Error | null>((resolve) => {
    stop = resolve;
  });
  const sink = new WatchSink(
    room,
    name,
    opts.out,
    opts.display,
    () => stop(null),
    (err) => stop(err),
    (text) => status.log(text),
    opts.force,
  );

  // How the server is sending to us; each new connection starts live.
  let link: LinkState = 'live';
  client.on('link-state', (m) => {
    link = m.state;
  });
  client.on('reconnected', () => {
    link = 'live';
  });
  client.on('stream-added', (m) => {
    streams.set(m.streamId, {
      info: m,
      meter: new Meter(),
      audio: new Meter(),
      lastSeq: null,
      lastAudioSeq: null,
      catchUpSince: nowMicros(),
      stale: new StaleFrames(opts.maxLatencyMs),
    });
    status.log(`framewire: stream ${m.room}/${m.name} (${describeTracks(m)})`);
    try {
      sink.streamAdded(m);
    } catch (err) {
      stop(err instanceof Error ? err : new Error(String(err)));
    }
  });
  client.on('stream-updated', (m, previous) => {
    const s = streams.get(m.streamId);
    if (s) s.info = m;
    try {
      // A recorded stream's line says where the recording goes on; another's says what changed.
      if (!sink.streamUpdated(m))
        status.log(
          `framewire: stream ${m.room}/${m.name} changed: ${describeTracks(previous)} -> ${describeTracks(m)}`,
        );
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
    if (m.track === 'audio') {
      onAudioFrame(s, m);
      return;
    }
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
      // Judged on the server's clock, which browser publishers stamp capture times with: a viewer whose
      // own clock is off must not discard (or keep) frames for that.
      const ageMs = (now + (client.clock?.offsetUs ?? 0) - m.captureTime) / 1000;
      const verdict = s.stale.check(m.key, ageMs);
      if (verdict !== 'pass') {
        s.meter.discard(latencyMs);
        total.discard(latencyMs);
        // A keyframe ends the run sooner. Not while the server holds frames back: it asks on resuming.
        if (verdict === 'discard-first' && link === 'live') client.requestKeyframe(m.streamId);
        return;
      }
      s.meter.frame(m.payload.length, latencyMs);
      total.frame(m.payload.length, latencyMs);
    }
    sink.frame(`${s.info.room}/${s.info.name}`, m);
  });
  /**
   * An audio frame: counted on the stream's audio meter, never discarded as too old (a late sound is
   * still worth recording, and the server cuts audio to the live edge itself), then passed on.
   */
  const onAudioFrame = (s: StreamState, m: FrameMessage): void => {
    if (s.lastAudioSeq !== null) {
      const gap = (m.seq - s.lastAudioSeq - 1) >>> 0;
      if (gap > 0 && gap < 0x80000000) {
        s.audio.drop(gap);
        totalAudio.drop(gap);
      }
    }
    s.lastAudioSeq = m.seq;
    const now = nowMicros();
    // The cached GOP's audio (captured before we joined) comes in the same burst as its video.
    if (
      s.catchUpSince !== null &&
      m.captureTime < s.catchUpSince &&
      now - s.catchUpSince < CATCH_UP_WINDOW_US
    ) {
      s.audio.catchUpFrame();
      totalAudio.catchUpFrame();
    } else {
      s.catchUpSince = null;
      const latencyMs = Math.max(0, (now - m.captureTime) / 1000);
      s.audio.frame(m.payload.length, latencyMs);
      totalAudio.frame(m.payload.length, latencyMs);
    }
    sink.frame(`${s.info.room}/${s.info.name}`, m);
  };
  client.on('close', (err) => stop(err));
  logReconnects(client, status, server, 'subscribing again');

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

  // A few round trips at once give the clock estimate a quick one to start from; the ticker's keep it fresh.
  void (async () => {
    for (let i = 0; i < CLOCK_WARM_UP_PINGS && client.connected; i++) await client.ping().catch(() => {});
  })();
  ctx.signal.addEventListener('abort', () => stop(null), { once: true });
  const timer = opts.durationSec === null ? null : setTimeout(() => stop(null), opts.durationSec * 1000);
  const ticker = setInterval(() => {
    // Refines the server clock estimate (and follows drift); an answer lost to a reconnect does not matter.
    if (client.connected) client.ping().catch(() => {});
    for (const [streamId, s] of streams) {
      const r = s.meter.read();
      // The CLI does not decode: every frame it passes on whole counts as decoded, those discarded as too
      // old only as received.
      client.sendReceiverReport({
        streamId,
        framesReceived: s.meter.totalFrames + s.meter.totalDiscarded,
        framesDecoded: s.meter.totalFrames,
        framesDropped: s.meter.totalDrops,
        framesLate: 0,
        fps: r.fps,
        latencyP50Ms: r.latencyMs ?? -1,
        latencyP95Ms: r.latencyP95Ms ?? -1,
      });
      if (!opts.stats) continue;
      const label = `${s.info.room}/${s.info.name}`;
      // An audio-only stream has no video line; its audio line has no picture to be offset from.
      if (s.info.video) ctx.stdout.write(`${label}: ${formatReading(r, link)}\n`);
      if (s.info.audio) {
        const a = s.audio.read();
        ctx.stdout.write(`${label} audio: ${formatAudioReading(a, s.info.video ? r : null)}\n`);
      }
    }
    if (opts.stats) return;
    const what = client.connected ? `${streams.size} stream${streams.size === 1 ? '' : 's'}` : 'reconnecting';
    const recorded =
      opts.out === null
        ? ''
        : `, ${sink.framesRecorded} frames${sink.audioFramesRecorded > 0 ? ` + ${sink.audioFramesRecorded} audio frames` : ''} recorded`;
    const a = totalAudio.read();
    const sound = a.fps > 0 || a.drops > 0 ? `, audio ${Math.round(a.kbps)} kbit/s, gaps ${a.gaps}` : '';
    status.update(
      `${room}${name ? `/${name}` : ''}: ${what}, ${formatReading(total.read(), link)}${sound}${recorded}`,
    );
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
    if (sink.framesRecorded === 0 && sink.audioFramesRecorded === 0) {
      throw new CliError(
        `nothing recorded to ${opts.out.path}: no keyframe arrived${sink.key ? ` from ${sink.key}` : ` in room "${room}"`}: is a publisher running?`,
      );
    }
    const audio =
      sink.recordedTracks?.audio || sink.audioFramesRecorded > 0
        ? ` and ${sink.audioFramesRecorded} audio frames`
        : '';
    const files = sink.recordedFiles.join(', ') || opts.out.path;
    ctx.stderr.write(
      `framewire: recorded ${sink.framesRecorded} frames${audio} of ${sink.key} to ${files}\n`,
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
