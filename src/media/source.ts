import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { AudioConfig, DecoderConfig, StreamTracks } from '../protocol/messages.js';
import { AudioTrackReader, type EncodedAudioFrame, type LeveledPacket } from './audio-track.js';
import { createH264Parser, createVp8Parser, type EncodedFrame } from './depacketize.js';
import { MediaError, startError } from './errors.js';
import {
  AUDIO_FD,
  type AudioInput,
  buildEncodeArgs,
  type EncodeArgsOptions,
  LEVEL_FD,
  type SourceInput,
} from './ffmpeg-args.js';
import { micFailure, micPreflight } from './mic.js';
import { screenFailure, screenPreflight } from './screen.js';

export type { EncodedAudioFrame } from './audio-track.js';
export type { EncodedFrame } from './depacketize.js';

/** What to capture and how to encode it (the clock on the test pattern is the source's own choice). */
export interface SourceOptions extends Omit<EncodeArgsOptions, 'clock'> {
  /** Default 'ffmpeg'. */
  ffmpegPath?: string;
  /** Default 'ffprobe' (asked whether a file has sound). */
  ffprobePath?: string;
}

/** Events of an EncodedSource; exactly one of `end` and `error` ends it. */
export interface EncodedSourceEvents {
  /** The video's decoder config, once, before the first video frame. */
  config: [config: DecoderConfig];
  /**
   * Every track's config, once all are known and before any frame: the video's, and the audio's when
   * sound was asked for and exists (a file without sound gives video only, `audio` absent).
   */
  tracks: [tracks: StreamTracks];
  frame: [frame: EncodedFrame];
  audio: [frame: EncodedAudioFrame];
  end: [];
  error: [error: MediaError];
}

/**
 * Frames held until every track has sent its first (so their media times can share one origin): past
 * this many, the origin is set from the tracks that have started, and a late track starts where it starts.
 */
const MAX_HELD_FRAMES = 250;

/** Grace between SIGTERM and SIGKILL in stop(): ffmpeg normally exits on SIGTERM within milliseconds. */
const KILL_GRACE_MS = 2000;
/** stderr lines kept for the error message: the last few say what went wrong, the rest is noise. */
const STDERR_LINES_KEPT = 8;

/** Wall clock in µs with sub-millisecond resolution (Date.now() alone steps by whole ms). */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * An ffmpeg process encoding one input to VP8 or H.264, emitting `config` once and then `frame`s.
 * Emits `end` when ffmpeg exits normally or after stop(), `error` (MediaError) otherwise.
 */
export class EncodedSource extends EventEmitter<EncodedSourceEvents> {
  private child: ChildProcess | null = null;
  private finished = false;
  private stopping = false;
  private configSent = false;
  private tracksSent = false;
  private framesSeen = 0;
  /** The sound actually encoded: none until known, and none for a file without sound. */
  private audio: AudioInput | undefined;
  private videoConfig: DecoderConfig | null = null;
  private audioConfig: AudioConfig | null = null;
  /** First capture time (minus media time) per track; the shared origin is the earlier of the two. */
  private firstVideo: number | null = null;
  private firstAudio: number | null = null;
  private origin: number | null = null;
  private held: ({ video: EncodedFrame } | { audio: LeveledPacket })[] = [];
  private stderrTail: string[] = [];
  private resolveDone: () => void = () => {};
  private readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(private readonly opts: SourceOptions) {
    super();
    // Deferred so the caller can attach listeners after startEncodedSource() returns.
    const problem = preflight(opts.input, opts.audio);
    if (problem) process.nextTick(() => this.finish(problem));
    else if (opts.audio?.kind === 'input' && opts.input.kind === 'file') {
      // A file may have no sound: asked first, so ffmpeg is not told to map a track that is not there.
      hasAudio(opts.ffprobePath ?? 'ffprobe', opts.input.path).then(
        (yes) => {
          if (this.finished) return;
          this.audio = yes ? opts.audio : undefined;
          this.spawn(true);
        },
        (err: MediaError) => this.finish(err),
      );
    } else {
      this.audio = opts.audio;
      process.nextTick(() => {
        if (!this.finished) this.spawn(true);
      });
    }
  }

  /** Whether this source sends sound (known once `tracks` has been emitted). */
  get hasAudio(): boolean {
    return this.audio !== undefined;
  }

  /** Kills ffmpeg (SIGTERM, then SIGKILL after a grace period); resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (this.finished || child === null) return this.done;
    this.stopping = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    await this.done;
    clearTimeout(timer);
  }

  private spawn(clock: boolean): void {
    const opts: EncodeArgsOptions = { ...this.opts, clock };
    if (this.audio) opts.audio = this.audio;
    else delete opts.audio;
    const args = buildEncodeArgs(opts);
    // fd 3 and 4 carry the audio (Ogg/Opus) and its PCM for the level meter; see ffmpeg-args.ts.
    const stdio: ('ignore' | 'pipe')[] = this.audio
      ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe']
      : ['ignore', 'pipe', 'pipe'];
    const child = spawn(this.opts.ffmpegPath ?? 'ffmpeg', args, { stdio });
    this.child = child;
    if (this.audio) this.readAudio(child);
    this.stderrTail = [];
    const parser = this.opts.codec === 'vp8' ? createVp8Parser() : createH264Parser();
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      const parsed = this.parseOrStop(child, () => parser.push(chunk, nowMicros()));
      if (parsed === null) return;
      // Emitted outside the try: a throwing listener must not be mistaken for a parse error.
      if (parsed.config) this.sendConfig(parsed.config);
      for (const frame of parsed.frames) this.onVideo(frame);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.trim()) this.stderrTail.push(line.trim());
      if (this.stderrTail.length > STDERR_LINES_KEPT)
        this.stderrTail.splice(0, this.stderrTail.length - STDERR_LINES_KEPT);
    });
    child.on('error', (err: NodeJS.ErrnoException) =>
      this.finish(startError(err, 'ffmpeg', this.opts.ffmpegPath ?? 'ffmpeg')),
    );
    // 'close' rather than 'exit': stdout has been read to the end by then, so no frame is lost.
    child.on('close', (code, signal) => {
      if (this.finished) return;
      if (this.stopping || code === 0) {
        this.flushAudio();
        return this.finish(null);
      }
      const stderr = this.stderrTail.join('\n');
      // drawtext needs a font through fontconfig; without one, the pattern is still useful without its clock.
      if (
        clock &&
        this.opts.input.kind === 'test-pattern' &&
        this.framesSeen === 0 &&
        /drawtext|font/i.test(stderr)
      ) {
        return this.spawn(false);
      }
      const mic = this.audio?.kind === 'mic' ? micFailure(this.audio, stderr) : null;
      this.finish(mic ?? classifyFailure(this.opts.input, code, signal, stderr));
    });
  }

  /** Reads the audio pipes of `child`: Ogg/Opus on fd 3, PCM for the levels on fd 4. */
  /** Runs a parser on ffmpeg's output; on bad output, stops ffmpeg and the source with the error (null). */
  private parseOrStop<T>(child: ChildProcess, parse: () => T): T | null {
    try {
      return parse();
    } catch (err) {
      const error =
        err instanceof MediaError ? err : new MediaError('FW_FFMPEG_FAILED', String(err), { cause: err });
      this.finish(error);
      child.kill('SIGKILL');
      return null;
    }
  }

  private readAudio(child: ChildProcess): void {
    const reader = new AudioTrackReader();
    this.audioReader = reader;
    const ogg = child.stdio[AUDIO_FD] as Readable;
    const pcm = child.stdio[LEVEL_FD] as Readable;
    ogg.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      const parsed = this.parseOrStop(child, () => reader.pushOgg(chunk));
      if (parsed === null) return;
      if (parsed.config) this.sendAudioConfig(parsed.config);
      for (const frame of parsed.frames) this.onAudio(frame);
    });
    pcm.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      for (const frame of reader.pushPcm(chunk)) this.onAudio(frame);
    });
  }

  private audioReader: AudioTrackReader | null = null;

  /** At the end: the audio frames still waiting for their level go out. */
  private flushAudio(): void {
    if (this.audioReader) for (const frame of this.audioReader.flush()) this.onAudio(frame);
    // A track that never started must not keep the other's frames held.
    if (this.origin === null && this.held.length > 0) this.release();
  }

  /** Ends the source once: emits `end` (error null) or `error`, and releases stop(). */
  private finish(error: MediaError | null): void {
    if (this.finished) return;
    this.finished = true;
    if (error) this.emit('error', error);
    else this.emit('end');
    this.resolveDone();
  }

  private onVideo(frame: EncodedFrame): void {
    this.firstVideo ??= frame.captureTime - frame.timestamp;
    if (this.origin === null) this.hold({ video: frame });
    else this.emitVideo(frame);
  }

  private onAudio(frame: LeveledPacket): void {
    this.firstAudio ??= frame.captureTime;
    if (this.origin === null) this.hold({ audio: frame });
    else this.emitAudio(frame);
  }

  /**
   * Holds frames until both tracks have started (or, without sound, until the first video frame), so that
   * both count media time from the earlier of their first capture times: a muxer or player that lines the
   * tracks up by timestamp then finds them in sync.
   */
  private hold(frame: { video: EncodedFrame } | { audio: LeveledPacket }): void {
    this.held.push(frame);
    const ready = this.firstVideo !== null && (this.audio === undefined || this.firstAudio !== null);
    if (ready || this.held.length > MAX_HELD_FRAMES) this.release();
  }

  private release(): void {
    const firsts = [this.firstVideo, this.firstAudio].filter((t): t is number => t !== null);
    this.origin = Math.min(...firsts);
    this.sendTracks();
    for (const f of this.held.splice(0)) {
      if ('video' in f) this.emitVideo(f.video);
      else this.emitAudio(f.audio);
    }
  }

  private emitVideo(frame: EncodedFrame): void {
    if (this.finished) return;
    this.framesSeen++;
    // The parser counts from the first video frame; shifted to the origin both tracks share.
    const shift = (this.firstVideo ?? 0) - (this.origin ?? 0);
    this.emit('frame', shift === 0 ? frame : { ...frame, timestamp: frame.timestamp + shift });
  }

  private emitAudio(frame: LeveledPacket): void {
    if (this.finished) return;
    this.emit('audio', { ...frame, timestamp: frame.captureTime - (this.origin ?? 0) });
  }

  private sendConfig(config: DecoderConfig): void {
    if (this.configSent) return;
    this.configSent = true;
    this.videoConfig = config;
    this.emit('config', config);
  }

  private sendAudioConfig(config: AudioConfig): void {
    this.audioConfig ??= config;
  }

  /** `tracks`, once: the video config and the audio's when there is sound. */
  private sendTracks(): void {
    if (this.tracksSent || this.videoConfig === null) return;
    this.tracksSent = true;
    const tracks: StreamTracks = { video: this.videoConfig };
    if (this.audio && this.audioConfig) tracks.audio = this.audioConfig;
    this.emit('tracks', tracks);
  }
}

/** Starts ffmpeg for `opts`; listen for `config`, `frame`, `end` and `error` on the result. */
export function startEncodedSource(opts: SourceOptions): EncodedSource {
  return new EncodedSource(opts);
}

/** Whether the file at `path` has an audio stream, asked of ffprobe. */
function hasAudio(ffprobe: string, path: string): Promise<boolean> {
  const args = [
    '-v',
    'error',
    '-select_streams',
    'a',
    '-show_entries',
    'stream=index',
    '-of',
    'csv=p=0',
    path,
  ];
  return new Promise((resolve, reject) => {
    execFile(ffprobe, args, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(startError(err as NodeJS.ErrnoException, 'ffmpeg', ffprobe));
      }
      // A file ffprobe cannot read is ffmpeg's to report, with the same words as without sound.
      if (err) return resolve(false);
      resolve(stdout.trim() !== '');
    });
  });
}

/** A fast, clear error for an input that cannot work, before ffmpeg is spawned. */
function preflight(input: SourceInput, audio: AudioInput | undefined): MediaError | null {
  if (audio?.kind === 'mic') {
    const mic = micPreflight(audio);
    if (mic) return mic;
  }
  if (audio?.kind === 'input' && (input.kind === 'camera' || input.kind === 'screen')) {
    return new MediaError(
      'FW_FFMPEG_FAILED',
      `a ${input.kind} has no sound of its own: add a microphone (--mic) or leave the sound out (--no-audio)`,
    );
  }
  if (input.kind === 'screen') return screenPreflight(input);
  if (input.kind === 'file' && !existsSync(input.path)) {
    return new MediaError('FW_FILE_MISSING', `input file not found: ${input.path} (check the path)`);
  }
  if (input.kind === 'camera' && !existsSync(input.device)) {
    return new MediaError(
      'FW_CAMERA_MISSING',
      `camera ${input.device} not found: connect a camera or pick another device (ls /dev/video*)`,
    );
  }
  return null;
}

/** Maps a failed ffmpeg exit to the most specific error code its stderr supports. */
function classifyFailure(
  input: SourceInput,
  code: number | null,
  signal: string | null,
  stderr: string,
): MediaError {
  const detail = stderr ? `:\n${stderr}` : '';
  if (input.kind === 'camera') {
    if (/Device or resource busy/i.test(stderr)) {
      return new MediaError(
        'FW_CAMERA_BUSY',
        `camera ${input.device} is busy: close the other program using it (fuser ${input.device})${detail}`,
      );
    }
    if (/No such file or directory|No such device/i.test(stderr)) {
      return new MediaError('FW_CAMERA_MISSING', `camera ${input.device} not found${detail}`);
    }
  }
  if (input.kind === 'screen') {
    const screen = screenFailure(input, stderr);
    if (screen) return screen;
  }
  if (input.kind === 'file' && /No such file or directory/i.test(stderr)) {
    return new MediaError('FW_FILE_MISSING', `input file not found: ${input.path}${detail}`);
  }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return new MediaError('FW_FFMPEG_FAILED', `ffmpeg ${how}${detail}`);
}
