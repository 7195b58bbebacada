import { type ScreenInput, screenFilters, screenInputArgs } from './screen.js';

/** Where the pictures come from: a synthetic test pattern, a V4L2 camera, a file or an X11 screen. */
export type SourceInput =
  | { kind: 'test-pattern' }
  | { kind: 'camera'; device: string }
  | { kind: 'file'; path: string; loop?: boolean }
  | ScreenInput;

/**
 * Where the sound comes from: `input` is the video input's own (the test pattern's beep, a file's first
 * audio track); `mic` a capture device through PulseAudio or ALSA.
 */
export type AudioInput = { kind: 'input' } | { kind: 'mic'; backend: 'pulse' | 'alsa'; device: string };

/** The file descriptor ffmpeg writes the Ogg/Opus audio to (stdout carries the video). */
export const AUDIO_FD = 3;
/** The file descriptor ffmpeg writes the audio as mono s16le PCM to, for the level meter. */
export const LEVEL_FD = 4;
/** Opus frame length: 20 ms, the usual trade between overhead and latency (WebRTC's default too). */
export const OPUS_FRAME_MS = 20;
/** Default Opus bitrate: what the browser sends for voice, and a small share of a slow viewer's link. */
export const DEFAULT_AUDIO_BITRATE = 32_000;
/** The test pattern flashes white and beeps for this long, once a second. */
export const TEST_PATTERN_BLIP_SEC = 0.1;
/**
 * When in each second it does: away from the keyframes (every 2 s, on whole seconds), since a white
 * keyframe is a few KB, smaller than the deltas, as no camera's is (it passed a slow link's shaper in its
 * burst and made the link look fast); and on a frame boundary at 15, 20, 25, 30, 50 and 60 fps, so the
 * first white picture is captured at the instant the beep starts (at 0.5 s, 15 fps has no picture).
 */
export const TEST_PATTERN_BLIP_AT_SEC = 0.6;

/**
 * An ffmpeg expression of `t`, true during the test pattern's flash and beep. Both edges are a tenth of a
 * millisecond early: the picture due at exactly 0.5 s has a `t` a rounding error below it, and would light
 * one frame late.
 */
function blipGate(): string {
  const start = TEST_PATTERN_BLIP_AT_SEC - 0.0001;
  const end = start + TEST_PATTERN_BLIP_SEC;
  return `gte(mod(t,1),${start})*lt(mod(t,1),${end})`;
}
/** The test pattern's beep: a 1 kHz tone at half of full scale (-9 dBov RMS). */
export const TEST_PATTERN_TONE_HZ = 1000;

/** What ffmpeg should produce; the fields of SourceOptions that shape its command line. */
export interface EncodeArgsOptions {
  input: SourceInput;
  /** Sound to encode to Opus beside the video; none when absent. */
  audio?: AudioInput;
  /** Opus bits per second (default {@link DEFAULT_AUDIO_BITRATE}). */
  audioBitrate?: number;
  codec: 'vp8' | 'h264';
  width?: number;
  height?: number;
  fps: number;
  bitrate: number;
  keyframeIntervalSec?: number;
  durationSec?: number;
  /** Draw a wall clock on the test pattern (turned off only when drawtext cannot start). */
  clock?: boolean;
}

/** Default picture size for camera and test-pattern inputs. */
export const DEFAULT_WIDTH = 640;
export const DEFAULT_HEIGHT = 480;
/** Default keyframe interval: short enough for a late viewer, long enough to keep the bitrate steady. */
export const DEFAULT_KEYFRAME_INTERVAL_SEC = 2;

/**
 * The ffmpeg argument list (without the program name) that encodes `opts` to stdout as IVF (VP8) or FLV
 * (H.264) and, with `audio`, the sound as Ogg/Opus to fd {@link AUDIO_FD} and as PCM to {@link LEVEL_FD}.
 *
 * Why one ffmpeg for both tracks: the stamps of both come from one filter graph, whose filters share the
 * moment it started (RTCSTART), so picture and sound carry the same wall clock by construction; a file is
 * read once; and there is one process to start and stop. Why Ogg for the audio: its pages carry the
 * granule (the sample clock, 64 bits, so the wall-clock stamp survives whole) and are parsed in a page of
 * code (RFC 3533, RFC 7845), where Matroska would need an EBML reader.
 */
export function buildEncodeArgs(opts: EncodeArgsOptions): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  const fps = String(opts.fps);
  const { input, audio } = opts;
  // Filters applied to the picture before it is stamped and encoded.
  const filters: string[] = [];
  if (input.kind === 'test-pattern') {
    const w = opts.width ?? DEFAULT_WIDTH;
    const h = opts.height ?? DEFAULT_HEIGHT;
    args.push('-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${fps}`);
    // A white flash once a second, at the instant the beep starts (see testPatternTone): sync can be
    // measured in any recording. Drawn before the clock, which stays readable.
    filters.push(`drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='${blipGate()}'`);
    // realtime rather than -re: it releases each picture at its scheduled time, so the stamp below is
    // that time (ffmpeg 5's -re paces the reading of packets, one step before the filters run).
    filters.push('realtime');
    if (opts.clock !== false) {
      const size = Math.max(12, Math.round(h / 12));
      const margin = Math.round(size / 2);
      // The clock makes end-to-end latency visible: compare it with the wall clock next to the viewer. At
      // the bottom left: testsrc2 draws its own media timestamp at the top left. Drawn after realtime, so
      // it shows the same moment as the capture stamp.
      filters.push(
        `drawtext=text='%{localtime\\:%T}':fontsize=${size}:fontcolor=white` +
          `:box=1:boxcolor=black@0.5:x=${margin}:y=h-th-${margin}`,
      );
    }
  } else if (input.kind === 'camera') {
    const size = `${opts.width ?? DEFAULT_WIDTH}x${opts.height ?? DEFAULT_HEIGHT}`;
    args.push('-f', 'v4l2', '-framerate', fps, '-video_size', size, '-i', input.device);
  } else if (input.kind === 'screen') {
    // x11grab paces itself at -framerate; the screen keeps its own size unless one is asked for.
    args.push(...screenInputArgs(input, fps));
    filters.push(...screenFilters(opts));
  } else {
    if (input.loop) args.push('-stream_loop', '-1');
    args.push('-i', input.path);
    if (opts.width !== undefined || opts.height !== undefined) {
      filters.push(`scale=${opts.width ?? -2}:${opts.height ?? -2}`);
    }
    // The caller's fps sets the keyframe interval in frames, so the file is resampled to it; realtime
    // plays it at its own pace (as -re would) and releases each picture at its scheduled time.
    filters.push(`fps=${fps}`, 'realtime');
  }
  // Each picture's pts becomes a wall clock (µs), which the parsers read back as the frame's capture time,
  // so a viewer's latency covers encoding too, as it does for a browser publisher. A camera's picture is
  // stamped when ffmpeg takes it from the driver; a test pattern's or a file's with the moment it is due
  // (the moment the graph started plus its media time), so the stamps stay as even as the frame rate even
  // when ffmpeg runs late, and lateness shows as latency. A file's media time is counted from the file's
  // start (-start_at_zero), not from each track's first packet, so a track that starts later keeps its
  // offset and the sound stays in sync with the picture. A screen is stamped as a camera is: x11grab takes
  // the picture when ffmpeg asks for it, just before this filter runs.
  const live = input.kind === 'camera' || input.kind === 'screen';
  const stamp = live ? 'RTCTIME' : input.kind === 'file' ? 'RTCSTART+PTS' : 'RTCSTART+PTS-STARTPTS';
  filters.push('settb=AVTB', `setpts=${stamp}`);
  const audioChain = audio ? audioFilters(opts, audio, args) : null;
  if (audioChain === null) {
    args.push('-vf', filters.join(','));
    args.push('-map', '0:v:0', '-an', '-sn', '-dn');
  } else {
    // One graph for both tracks: its filters start together, so RTCSTART is the same instant for both.
    args.push('-filter_complex', `[0:v:0]${filters.join(',')}[v];${audioChain}`);
    args.push('-map', '[v]', '-sn', '-dn');
  }
  if (input.kind === 'file') args.push('-start_at_zero');
  // -copyts keeps those stamps; passthrough keeps ffmpeg from dropping or duplicating frames to fit a
  // constant rate; the encoder's µs time base keeps them exact (by default it rounds to 1/fps).
  args.push('-copyts', '-fps_mode', 'passthrough', '-enc_time_base:v', '1:1000000');
  // A frame count, not -t: with -copyts an output -t would count from time 0, decades ago.
  if (opts.durationSec !== undefined)
    args.push('-frames:v', String(Math.max(1, Math.round(opts.durationSec * opts.fps))));
  const keyint = String(
    Math.max(1, Math.round(opts.fps * (opts.keyframeIntervalSec ?? DEFAULT_KEYFRAME_INTERVAL_SEC))),
  );
  const bitrate = String(Math.round(opts.bitrate));
  if (opts.codec === 'vp8') {
    args.push(
      ...['-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-deadline', 'realtime', '-cpu-used', '8'],
      ...['-lag-in-frames', '0', '-auto-alt-ref', '0', '-error-resilient', '1'],
      ...['-g', keyint, '-b:v', bitrate, '-f', 'ivf', '-flush_packets', '1', 'pipe:1'],
    );
  } else {
    // FLV rather than raw Annex B: every tag carries its size, so a frame is complete when read,
    // whereas an Annex B reader only knows a frame ended when the next one starts.
    // ultrafast for a screen too. On a 2-core machine, x11grab of a 1080p60 screen plus the encode took
    // 0.64 of a core with ultrafast, 0.81 with superfast and 0.79 with veryfast (all kept 60 fps with a
    // 960x540 moving picture on the screen; with a full-screen one, drawn in software beside them, none
    // did: 40–44 fps), and encoding alone ran at 144, 104 and 85 fps. The captured program (a game) needs
    // the rest of the machine more than the picture needs superfast's sharper quantiser.
    args.push(
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'],
      ...['-pix_fmt', 'yuv420p', '-g', keyint, '-bf', '0', '-b:v', bitrate],
      ...['-f', 'flv', '-flush_packets', '1', 'pipe:1'],
    );
  }
  if (audioChain !== null && audio) args.push(...audioOutputs(opts, audio));
  return args;
}

/** The test pattern's sound: the tone during {@link TEST_PATTERN_BLIP_SEC} of each second, with the flash. */
export function testPatternTone(): string {
  const gate = blipGate();
  // Sample-exact gating (aevalsrc evaluates per sample), in 20 ms frames as the encoder takes them.
  return `aevalsrc=exprs='if(${gate},0.5*sin(2*PI*${TEST_PATTERN_TONE_HZ}*t),0)':s=48000:c=mono:n=960`;
}

/**
 * Adds the audio input to `args` (when it is one of its own) and returns the audio half of the filter
 * graph: paced and stamped as the picture is, ending in [a] (for Opus) and [l] (PCM for the level meter).
 */
function audioFilters(opts: EncodeArgsOptions, audio: AudioInput, args: string[]): string {
  let from: string;
  let stamp: string;
  const paced: string[] = [];
  if (audio.kind === 'mic') {
    args.push('-f', audio.backend, '-i', audio.device);
    from = '[1:a:0]';
    // Stamped on arrival, as a camera's picture is: a device delivers its samples as they are captured.
    stamp = 'RTCTIME';
  } else if (opts.input.kind === 'test-pattern') {
    args.push('-f', 'lavfi', '-i', testPatternTone());
    from = '[1:a:0]';
    stamp = 'RTCSTART+PTS-STARTPTS';
    paced.push('arealtime');
  } else if (opts.input.kind === 'file') {
    from = '[0:a:0]';
    stamp = 'RTCSTART+PTS';
    paced.push('arealtime');
  } else {
    throw new Error(`a ${opts.input.kind} has no sound of its own: give a microphone`);
  }
  const chain = [
    ...paced,
    // Opus codes 48 kHz mono or stereo; more channels are mixed down to stereo.
    'aresample=48000',
    'aformat=sample_rates=48000:channel_layouts=stereo|mono',
    'asettb=AVTB',
    `asetpts=${stamp}`,
    'asplit=2[a][pcm]',
  ];
  // The meter's copy is mixed to mono by a filter of its own: asking the output for mono (-ac 1) would be
  // negotiated back through asplit and turn the Opus track mono too.
  return `${from}${chain.join(',')};[pcm]aresample=ochl=mono[l]`;
}

/** The two audio outputs: Ogg/Opus on {@link AUDIO_FD}, mono PCM on {@link LEVEL_FD}. */
function audioOutputs(opts: EncodeArgsOptions, audio: AudioInput): string[] {
  const frames =
    opts.durationSec !== undefined
      ? ['-frames:a', String(Math.max(1, Math.round((opts.durationSec * 1000) / OPUS_FRAME_MS)))]
      : [];
  // voip tunes Opus for speech (a microphone); audio for everything else (music, the test tone).
  const application = audio.kind === 'mic' ? 'voip' : 'audio';
  const bitrate = String(Math.round(opts.audioBitrate ?? DEFAULT_AUDIO_BITRATE));
  return [
    ...['-map', '[a]', ...frames, '-c:a', 'libopus', '-b:a', bitrate, '-application', application],
    ...['-frame_duration', String(OPUS_FRAME_MS), '-vbr', 'on'],
    // One packet a page, written at once: the default page holds a second of audio.
    ...[
      '-f',
      'ogg',
      '-page_duration',
      String(OPUS_FRAME_MS * 1000),
      '-flush_packets',
      '1',
      `pipe:${AUDIO_FD}`,
    ],
    ...['-map', '[l]', ...frames, '-c:a', 'pcm_s16le', '-ac', '1', '-f', 's16le'],
    ...['-flush_packets', '1', `pipe:${LEVEL_FD}`],
  ];
}
