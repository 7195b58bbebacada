import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { AppendOnlyStreamTarget } from 'mediabunny';
import type { AudioConfig, DecoderConfig } from '../protocol/messages.js';
import { MediaError, startError } from './errors.js';
import { writeIvfFrameHeader, writeIvfHeader } from './ivf.js';
import { createMuxer } from './muxer.js';

/** A live window showing frames as they arrive. */
export interface Display {
  /** Queues a frame for display; never blocks: drops until the next keyframe while ffplay is behind. */
  write(frame: { key: boolean; timestamp: number; data: Uint8Array }): void;
  /** Ends the stream and waits for ffplay to exit (killing it if it lingers). */
  close(): Promise<void>;
  /** `exit`: ffplay is gone (window closed, close() called, or it failed). `error`: why it failed, if it did. */
  on(event: 'exit', fn: () => void): void;
  on(event: 'error', fn: (error: MediaError) => void): void;
  /** Frames dropped so far because ffplay could not keep up (or before the first keyframe). */
  readonly droppedFrames: number;
}

/** Options for startDisplay. */
export interface DisplayOptions {
  /** Window title; default `framewire`. */
  title?: string;
  /** Default `ffplay`. */
  ffplayPath?: string;
}

/**
 * Bytes allowed to wait in ffplay's stdin before frames are dropped: a few keyframes' worth, so one
 * large keyframe does not cause a drop, but a stalled window never grows our memory or its delay.
 */
const MAX_BACKLOG_BYTES = 1024 * 1024;
/** ffplay's exit code when a signal (Ctrl-C, SIGTERM) stopped it. */
const FFPLAY_SIGNAL_EXIT = 123;
/** How long close() lets ffplay show what it has before terminating it. */
const CLOSE_GRACE_MS = 1500;

/**
 * Why ffplay could open no window here, or null when it can. On Linux and the BSDs a window needs an X11
 * or Wayland display; without one ffplay fails only after starting, with SDL's words
 * (`XDG_RUNTIME_DIR is invalid`). SDL_VIDEODRIVER set (e.g. `dummy`) means SDL was told where to draw.
 * macOS and Windows always have their own window system.
 */
export function missingDisplay(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string | null {
  if (platform === 'darwin' || platform === 'win32') return null;
  if (env.DISPLAY || env.WAYLAND_DISPLAY || env.SDL_VIDEODRIVER) return null;
  return 'there is no display here (DISPLAY and WAYLAND_DISPLAY are not set)';
}

/** The IVF fourcc for a WebCodecs codec string; all go to ffplay as IVF (see startDisplay). */
function ivfFourcc(codec: string): string | null {
  if (codec === 'vp8') return 'VP80';
  if (codec.startsWith('vp09.') || codec === 'vp9') return 'VP90';
  if (codec.startsWith('av01.')) return 'AV01';
  if (codec.startsWith('avc1.') || codec.startsWith('avc3.')) return 'H264';
  return null;
}

/**
 * Opens an ffplay window for a stream with `config`. Every codec is fed on stdin as IVF — H.264 as Annex B
 * payloads inside IVF frames (fourcc H264, which ffmpeg's IVF demuxer accepts): raw Annex B would make
 * ffplay's parser hold each frame until the next start code (one frame of delay) and would lose the
 * timestamps that pace playback. Throws MediaError FW_UNSUPPORTED_CODEC for a codec it cannot show.
 */
export function startDisplay(config: DecoderConfig, opts: DisplayOptions = {}): Display {
  const fourcc = ivfFourcc(config.codec);
  if (fourcc === null || (config.description !== undefined && fourcc === 'H264')) {
    // AVCC frames (with a description) would need converting; our sources only send Annex B.
    throw new MediaError(
      'FW_UNSUPPORTED_CODEC',
      `cannot display ${config.codec}${config.description ? ' (AVC format)' : ''}`,
    );
  }
  return new FfplayDisplay(config, fourcc, opts);
}

class FfplayDisplay extends EventEmitter implements Display {
  private readonly child: ChildProcess;
  private exited = false;
  private readonly exitPromise: Promise<void>;
  /** True until a keyframe is written, and again after a drop: deltas are useless until then. */
  private waitingForKey = true;
  private origin: number | null = null;
  private lastPts = -1;
  droppedFrames = 0;

  constructor(config: DecoderConfig, fourcc: string, opts: DisplayOptions) {
    super();
    const ffplay = opts.ffplayPath ?? 'ffplay';
    const args = [
      ...['-hide_banner', '-loglevel', 'error'],
      // Low delay: no input buffering, no decoder delay, drop late frames. -nofind_stream_info because
      // with nobuffer the packets read while probing are discarded, and the first one is our keyframe;
      // the IVF header already names the codec and size.
      ...['-fflags', 'nobuffer', '-flags', 'low_delay', '-framedrop', '-nofind_stream_info'],
      ...['-autoexit', '-window_title', opts.title ?? 'framewire', '-f', 'ivf', '-i', 'pipe:0'],
    ];
    this.child = spawn(ffplay, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.exitPromise = new Promise((resolve) => {
      this.child.on('close', () => resolve());
      this.child.on('error', () => resolve());
    });
    let stderr = '';
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2000);
    });
    // EPIPE when the window was closed: the 'close' handler reports the exit; nothing to add here.
    this.child.stdin?.on('error', () => {});
    this.child.on('error', (err: NodeJS.ErrnoException) => this.onExit(startError(err, 'ffplay', ffplay)));
    this.child.on('close', (code, signal) => {
      // ffplay exits with 123 from its SIGINT/SIGTERM handler: Ctrl-C in the terminal reaches it along with
      // watch, and that is a stop the user asked for, not a failure.
      const failed = code !== 0 && code !== FFPLAY_SIGNAL_EXIT && code !== null && signal === null;
      this.onExit(
        failed
          ? new MediaError('FW_FFMPEG_FAILED', `ffplay exited with code ${code}: ${stderr.trim()}`)
          : null,
      );
    });
    // Microsecond timebase: frames keep their exact timestamps, so ffplay paces them as they were captured.
    this.child.stdin?.write(
      writeIvfHeader({
        fourcc,
        width: config.codedWidth,
        height: config.codedHeight,
        timebaseNum: 1,
        timebaseDen: 1_000_000,
        frameCount: 0,
      }),
    );
  }

  write(frame: { key: boolean; timestamp: number; data: Uint8Array }): void {
    const stdin = this.child.stdin;
    if (this.exited || stdin === null || !stdin.writable) return;
    if (stdin.writableLength > MAX_BACKLOG_BYTES) {
      this.droppedFrames++;
      this.waitingForKey = true;
      return;
    }
    if (this.waitingForKey && !frame.key) {
      this.droppedFrames++;
      return;
    }
    this.waitingForKey = false;
    if (this.origin === null) this.origin = frame.timestamp;
    // IVF pts are unsigned and must increase; start at 0 and never step back.
    const pts = Math.max(this.lastPts + 1, Math.round(frame.timestamp - this.origin));
    this.lastPts = pts;
    stdin.write(writeIvfFrameHeader(frame.data.length, pts));
    stdin.write(frame.data);
  }

  async close(): Promise<void> {
    if (!this.exited) {
      this.child.stdin?.end();
      const timer = setTimeout(() => {
        this.child.kill('SIGTERM');
        setTimeout(() => this.child.kill('SIGKILL'), CLOSE_GRACE_MS).unref();
      }, CLOSE_GRACE_MS);
      await this.exitPromise;
      clearTimeout(timer);
    }
  }

  private onExit(error: MediaError | null): void {
    if (this.exited) return;
    this.exited = true;
    // Only reported to listeners: a display failing must not crash a viewer that did not ask.
    if (error && this.listenerCount('error') > 0) this.emit('error', error);
    this.emit('exit');
  }
}

/** Sound being played as it arrives (a second ffplay, with no window). */
export interface SoundPlayer {
  /** Queues an audio frame; never blocks: drops frames while ffplay is behind (any Opus/AAC frame decodes alone). */
  write(frame: { timestamp: number; data: Uint8Array }): void;
  /** Ends the sound and waits for ffplay to exit (killing it if it lingers). */
  close(): Promise<void>;
  /** `error`: why ffplay failed (no audio device, say); the picture goes on without sound. */
  on(event: 'error', fn: (error: MediaError) => void): void;
  /** Frames dropped so far because ffplay could not keep up. */
  readonly droppedFrames: number;
}

/**
 * Bytes of sound allowed to wait in ffplay's stdin: about ten seconds of Opus at 64 kbit/s. A player that
 * stops reading costs us no more, and drops only sound.
 */
const MAX_SOUND_BACKLOG_BYTES = 80 * 1024;

/**
 * Plays a stream's audio track (Opus or AAC) through ffplay, fed a live Matroska stream (muxed by
 * mediabunny, one block per frame, written at once) on stdin. A separate process from the picture's: the
 * picture goes to ffplay as IVF for the lowest delay, and IVF carries no audio. Both players start as frames
 * arrive, so the two stay within their own small buffers of each other rather than locked together.
 * (One ffplay with both tracks would need a muxed container: fragmented MP4 for H.264, a keyframe
 * interval behind the live edge.)
 * Throws MediaError FW_UNSUPPORTED_CODEC for a codec Matroska cannot hold.
 */
export async function startSoundPlayer(config: AudioConfig, opts: DisplayOptions = {}): Promise<SoundPlayer> {
  const ffplay = opts.ffplayPath ?? 'ffplay';
  const args = [
    ...['-hide_banner', '-loglevel', 'error', '-nodisp', '-autoexit'],
    ...['-fflags', 'nobuffer', '-flags', 'low_delay', '-nofind_stream_info'],
    ...['-f', 'matroska', '-i', 'pipe:0'],
  ];
  const child = spawn(ffplay, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  const events = new EventEmitter();
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      if (code !== 0 && code !== FFPLAY_SIGNAL_EXIT && code !== null && signal === null) {
        const error = new MediaError(
          'FW_FFMPEG_FAILED',
          `ffplay (sound) exited with code ${code}: ${stderr.trim()}`,
        );
        if (events.listenerCount('error') > 0) events.emit('error', error);
      }
      resolve();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      exited = true;
      if (events.listenerCount('error') > 0) events.emit('error', startError(err, 'ffplay', ffplay));
      resolve();
    });
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  child.stdin?.on('error', () => {});
  const target = new AppendOnlyStreamTarget(
    new WritableStream<Uint8Array>({
      // Copied: mediabunny may reuse its buffer once the write resolves, while the pipe still holds it.
      write: (chunk) => {
        if (!exited && child.stdin?.writable) child.stdin.write(Buffer.from(chunk));
      },
    }),
  );
  const muxer = await createMuxer('mkv', { audio: config }, target, true);
  let chain: Promise<void> = Promise.resolve();
  const player = {
    droppedFrames: 0,
    write(frame: { timestamp: number; data: Uint8Array }): void {
      if (exited) return;
      if ((child.stdin?.writableLength ?? 0) > MAX_SOUND_BACKLOG_BYTES) {
        player.droppedFrames++;
        return;
      }
      chain = chain.then(() =>
        muxer.add({ key: true, timestamp: frame.timestamp, data: frame.data, track: 'audio' }),
      );
      chain.catch(() => {});
    },
    async close(): Promise<void> {
      await chain.catch(() => {});
      await muxer.finish().catch(() => {});
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGTERM'), CLOSE_GRACE_MS);
      await exit;
      clearTimeout(timer);
    },
    on(event: 'error', fn: (error: MediaError) => void): void {
      events.on(event, fn);
    },
  };
  return player;
}
