import { parseArgs } from 'node:util';
import type { ClientTlsOptions } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import type { ReconnectingPublication } from '../client/reconnect.js';
import { DEFAULT_AUDIO_BITRATE, DEFAULT_KEYFRAME_INTERVAL_SEC } from '../media/ffmpeg-args.js';
import { describeMic, resolveMic } from '../media/mic.js';
import {
  type EncodedAudioFrame,
  type EncodedFrame,
  type SourceOptions,
  startEncodedSource,
} from '../media/source.js';
import type { StreamTracks } from '../protocol/messages.js';
import { describeTracks } from '../protocol/tracks.js';
import {
  DEFAULT_SERVER,
  parseAudioBitrate,
  parseBitrate,
  parsePositive,
  parseSize,
  required,
  tokenFrom,
  withOptionalValue,
  withUsage,
} from './args.js';
import { CaptureStatus } from './capture-status.js';
import type { CliContext, Command } from './command.js';
import { CliError, usageError } from './errors.js';
import { Meter } from './meter.js';
import {
  DEFAULT_SCREEN_BITRATE,
  DEFAULT_SCREEN_CODEC,
  parseScreenFlags,
  wantsScreen,
} from './screen-flags.js';
import { connectToServer, parseServer, type ServerAddress, tlsFromFlags } from './server-address.js';
import { logReconnects, StatusLine } from './status.js';

const USAGE = `Usage: framewire publish --room R --name N (--camera DEV | --file PATH [--loop] | --test-pattern |
                        --screen [DISPLAY]) [flags]

Encodes video (and sound, as Opus) with ffmpeg and publishes it to the server as stream N in room R,
until the input ends, --duration passes, or Ctrl-C. If the server goes away it reconnects (0.25 s to
5 s backoff) and publishes again; if it cannot be reached at start, it exits with an error.
A status line on stderr shows fps, video and audio kbit/s, frames sent and dropped, and the round trip
to the server; for a screen also the pictures the capture missed (the encoder did not keep up).

Input (exactly one):
  --camera DEV        a V4L2 camera, e.g. /dev/video0 (no sound unless --mic)
  --file PATH         a video file, with its sound (re-encoded to Opus); --loop plays it forever
  --test-pattern      a generated test picture that flashes white and beeps (1 kHz) for 0.1 s at the
                      middle of every second, in sync, so A/V sync can be measured
  --screen [DISPLAY]  an X11 screen through ffmpeg's x11grab, at its own size (default: $DISPLAY, e.g.
                      :0); no sound unless --mic. Refine it with:
    --window ID       only this window (its id from xwininfo, e.g. 0x1e00007)
    --region WxH+X+Y  only this rectangle of the screen (or of the window), e.g. 1280x720+0+0

Sound:
  --mic [DEVICE]      capture a microphone instead: pulse:NAME (PulseAudio/PipeWire), alsa:NAME or a
                      bare ALSA name (hw:1,0); alone: PulseAudio's default source if a PulseAudio server
                      runs, else ALSA's default
  --no-audio          send no sound
  --audio-bitrate B   Opus bits per second (default ${DEFAULT_AUDIO_BITRATE / 1000}k)

Flags:
  --server ADDR       the server: HOST:PORT or tcp://HOST:PORT, or tls://HOST:PORT for a server
                      with TLS (default ${DEFAULT_SERVER}); several, comma-separated (a,b,c), for
                      nodes of one cluster: when its node goes, the client goes on at the next
  --ca FILE           with tls://: also trust this PEM CA certificate (e.g. of a self-signed setup)
  --token T           access token, for servers that need one (default: $FRAMEWIRE_TOKEN); mint
                      one with \`framewire token\`
  --room R            room name (letters, digits, . _ -)
  --name N            stream name within the room
  --codec C           vp8 or h264 (default vp8; h264 for --screen)
  --size WxH          picture size (default 640x480; a --file and a --screen keep their own size
                      unless given)
  --fps N             frames per second (default 30; --fps 60 for a game)
  --bitrate B         bits per second: 800k, 1.5M or plain bits (default 1M; ${DEFAULT_SCREEN_BITRATE} for --screen)
  --duration S        stop after S seconds (default: run until the input ends or Ctrl-C)
  -h, --help          show this help

A keyframe is sent every ${DEFAULT_KEYFRAME_INTERVAL_SEC} s; ffmpeg cannot be asked for one mid-stream, so keyframe requests from
viewers are only logged.
`;

// Frames that arrive between ffmpeg's first output and the server's "published" (normally a few ms):
// held so the opening keyframe is not lost, but bounded in case the server is slow to answer.
const MAX_EARLY_FRAMES = 120;

// Keyframe requests come from every viewer that joins or skips; one log line per interval is enough.
const KEYFRAME_LOG_INTERVAL_MS = 5000;

/** What `publish` runs with: the encoder's options and where to send. */
type PublishOptions = SourceOptions & {
  server: ServerAddress;
  tls: ClientTlsOptions | undefined;
  token: string;
  room: string;
  name: string;
};

function parse(argv: string[]): PublishOptions {
  const f = withUsage(
    'publish',
    () =>
      parseArgs({
        args: withOptionalValue(withOptionalValue(argv, 'mic'), 'screen'),
        strict: true,
        allowPositionals: false,
        options: {
          server: { type: 'string', default: DEFAULT_SERVER },
          ca: { type: 'string' },
          token: { type: 'string' },
          room: { type: 'string' },
          name: { type: 'string' },
          camera: { type: 'string' },
          file: { type: 'string' },
          loop: { type: 'boolean', default: false },
          'test-pattern': { type: 'boolean', default: false },
          screen: { type: 'string' },
          window: { type: 'string' },
          region: { type: 'string' },
          codec: { type: 'string' },
          size: { type: 'string' },
          fps: { type: 'string', default: '30' },
          bitrate: { type: 'string' },
          duration: { type: 'string' },
          mic: { type: 'string' },
          'no-audio': { type: 'boolean', default: false },
          'audio-bitrate': { type: 'string' },
        },
      }).values,
    argv,
  );
  const screen = wantsScreen(f);
  const inputs = [f.camera !== undefined, f.file !== undefined, f['test-pattern'], screen].filter(
    Boolean,
  ).length;
  if (inputs !== 1) {
    throw usageError(
      'publish',
      'give exactly one input: --camera DEV, --file PATH, --test-pattern or --screen [DISPLAY]',
    );
  }
  if (f.loop && f.file === undefined) throw usageError('publish', '--loop only applies to --file');
  // A screen defaults to H.264: at 60 fps x264 costs about half of what VP8 does here (see screen-flags.ts).
  const codec = f.codec ?? (screen ? DEFAULT_SCREEN_CODEC : 'vp8');
  if (codec !== 'vp8' && codec !== 'h264')
    throw usageError('publish', `--codec "${codec}" is not vp8 or h264`);
  const input: SourceOptions['input'] =
    f.camera !== undefined
      ? { kind: 'camera', device: f.camera }
      : f.file !== undefined
        ? { kind: 'file', path: f.file, loop: f.loop }
        : screen
          ? parseScreenFlags(f)
          : { kind: 'test-pattern' };
  // A file and a screen keep their own size unless one is asked for; cameras and the pattern default to
  // 640x480.
  const size =
    f.size !== undefined
      ? parseSize('publish', f.size)
      : input.kind === 'file' || input.kind === 'screen'
        ? null
        : { width: 640, height: 480 };
  const server = parseServer('publish', f.server);
  const options: PublishOptions = {
    server,
    tls: tlsFromFlags('publish', server, f.ca),
    token: tokenFrom(f.token),
    room: required('publish', 'room', f.room),
    name: required('publish', 'name', f.name),
    input,
    codec,
    fps: parsePositive('publish', 'fps', f.fps, 240),
    bitrate: parseBitrate('publish', f.bitrate ?? (screen ? DEFAULT_SCREEN_BITRATE : '1M')),
    keyframeIntervalSec: DEFAULT_KEYFRAME_INTERVAL_SEC,
  };
  if (f.mic !== undefined && f['no-audio'])
    throw usageError('publish', '--mic and --no-audio contradict each other: give one');
  if (f.mic !== undefined) options.audio = resolveMic(f.mic);
  // A camera and a screen have no sound of their own; the test pattern and files have theirs.
  else if (!f['no-audio'] && input.kind !== 'camera' && input.kind !== 'screen')
    options.audio = { kind: 'input' };
  if (f['audio-bitrate'] !== undefined) {
    if (f['no-audio']) throw usageError('publish', '--audio-bitrate with --no-audio: there is no sound');
    options.audioBitrate = parseAudioBitrate('publish', f['audio-bitrate']);
  }
  if (size) {
    options.width = size.width;
    options.height = size.height;
  }
  if (f.duration !== undefined) options.durationSec = parsePositive('publish', 'duration', f.duration, 1e7);
  return options;
}

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const opts = parse(argv);
  const { server, room, name } = opts;
  // Connect before starting ffmpeg: an unreachable server is reported at once, with nothing to clean up.
  const client = await connectToServer(server, opts.tls, { role: 'publisher', token: opts.token }).catch(
    (err: unknown) => {
      throw explainUnauthorized(err, room) ?? err;
    },
  );
  const status = new StatusLine(ctx.stderr);
  const meter = new Meter();
  const audioMeter = new Meter();
  const source = startEncodedSource(opts);
  // A screen is captured live: whether the encoder keeps up is shown beside the figures.
  const capture = opts.input.kind === 'screen' ? new CaptureStatus(opts.fps, opts.codec) : null;
  // Typed by a cast: assigned in a callback, so TypeScript would otherwise narrow it to null below.
  let publication = null as ReconnectingPublication | null;
  const early: ({ video: EncodedFrame } | { audio: EncodedAudioFrame })[] = [];
  let earlyDropped = 0;
  let rttMs: number | null = null;
  let lastKeyframeLog = 0;

  const send = (frame: EncodedFrame): void => {
    if (publication?.sendFrame(frame)) meter.frame(frame.data.length);
  };
  const sendAudio = (frame: EncodedAudioFrame): void => {
    const { timestamp, captureTime, level, data } = frame;
    if (publication?.sendAudio({ timestamp, captureTime, level, data })) audioMeter.frame(data.length);
  };
  const hold = (frame: { video: EncodedFrame } | { audio: EncodedAudioFrame }): void => {
    if (early.length < MAX_EARLY_FRAMES) early.push(frame);
    else earlyDropped++;
  };

  const outcome = new Promise<Error | null>((resolve) => {
    source.on('tracks', (tracks: StreamTracks) => {
      status.log(`framewire: publishing ${describeTracks(tracks)}${soundNote(opts, tracks)}`);
      client.publish(room, name, tracks).then(
        (p) => {
          publication = p;
          p.on('keyframe-request', () => {
            const now = Date.now();
            if (now - lastKeyframeLog < KEYFRAME_LOG_INTERVAL_MS) return;
            lastKeyframeLog = now;
            status.log(
              `framewire: a viewer asked for a keyframe; the next one comes within ${DEFAULT_KEYFRAME_INTERVAL_SEC} s (ffmpeg cannot insert one on demand)`,
            );
          });
          for (const f of early.splice(0)) {
            if ('video' in f) send(f.video);
            else sendAudio(f.audio);
          }
        },
        (err: unknown) => resolve(explainPublishError(err, room, name)),
      );
    });
    source.on('frame', (frame) => {
      capture?.frame(frame.captureTime);
      if (publication) send(frame);
      else hold({ video: frame });
    });
    source.on('audio', (frame) => {
      if (publication) sendAudio(frame);
      else hold({ audio: frame });
    });
    source.on('end', () => resolve(null));
    source.on('error', (err) => resolve(err));
    client.on('close', (err) => resolve(explainUnauthorized(err, room) ?? err));
    ctx.signal.addEventListener('abort', () => resolve(null), { once: true });
  });

  logReconnects(client, status, server, 'publishing again');

  const ticker = setInterval(() => {
    const r = meter.read();
    const a = audioMeter.read();
    const s = publication?.stats;
    const state = client.connected ? `rtt ${rttMs === null ? '-' : rttMs.toFixed(1)} ms` : 'reconnecting';
    const sound = source.hasAudio ? `, audio ${Math.round(a.kbps)} kbit/s` : '';
    status.update(
      `${room}/${name}: ${r.fps.toFixed(1)} fps, ${Math.round(r.kbps)} kbit/s${sound}, ` +
        `${s?.framesSent ?? 0} sent, ${(s?.framesDropped ?? 0) + earlyDropped} dropped${capture?.statusPart() ?? ''}, ${state}`,
    );
    const behind = capture?.tick();
    if (behind) status.log(`framewire: ${behind}`);
    client.ping().then(
      (rtt) => {
        rttMs = rtt;
      },
      () => {
        rttMs = null;
      },
    );
  }, 1000);

  const error = await outcome;
  clearInterval(ticker);
  await source.stop();
  // Unpublish first, so viewers see the stream end as `unpublished` rather than as a lost connection.
  publication?.unpublish();
  // Close flushes the frames still queued in the socket before it ends.
  await client.close();
  const s = publication?.stats;
  status.end();
  if (error) throw error;
  const audio = source.hasAudio
    ? ` and ${s?.audioFramesSent ?? 0} audio frames (${s?.audioFramesDropped ?? 0} dropped)`
    : '';
  ctx.stderr.write(
    `framewire: published ${s?.framesSent ?? 0} frames (${(s?.framesDropped ?? 0) + earlyDropped} dropped)${audio}\n`,
  );
  if (capture) ctx.stderr.write(`framewire: ${capture.summary()}\n`);
  return 0;
}

/** Where the sound comes from, or why there is none, for the line that says what is published. */
function soundNote(opts: PublishOptions, tracks: StreamTracks): string {
  if (opts.audio?.kind === 'mic') return ` (sound from the microphone ${describeMic(opts.audio)})`;
  if (opts.audio && !tracks.audio) return ' (the file has no sound: video only)';
  return '';
}

/** The initial publish failed: say why in terms of the flags. */
function explainPublishError(err: unknown, room: string, name: string): Error {
  if (!(err instanceof ClientError)) return err instanceof Error ? err : new Error(String(err));
  const unauthorized = explainUnauthorized(err, room);
  if (unauthorized) return unauthorized;
  if (err.code === 'FW_STREAM_EXISTS') {
    return new CliError(
      `stream "${name}" is already published in room "${room}" (FW_STREAM_EXISTS): pick another --name or stop the other publisher`,
    );
  }
  if (err.code === 'FW_BAD_NAME') {
    // The server's text states the naming rule; it is the fix.
    return new CliError(`the server refused the name (FW_BAD_NAME): ${err.message}`);
  }
  return err;
}

/**
 * A refused token (at hello, or on the publish itself), with the command that mints one that publishes
 * in `room`; null for any other error.
 */
function explainUnauthorized(err: unknown, room: string): CliError | null {
  if (!(err instanceof ClientError) || err.code !== 'FW_UNAUTHORIZED') return null;
  // `framewire token` without --publish mints a view-only token, the very one a publisher is refused with.
  return new CliError(
    `the server refused the token (${err.message}): get one with \`framewire token --room ${room} --publish\` ` +
      `(a token that may publish in room "${room}") and pass it with --token (or FRAMEWIRE_TOKEN)`,
    undefined,
    { cause: err },
  );
}

/** `framewire publish`: encode with ffmpeg and publish to the server. */
export const publishCommand: Command = {
  name: 'publish',
  summary: 'encode a camera, file, test pattern or screen and publish it',
  usage: USAGE,
  run,
};
