import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { DecoderConfig } from '../protocol/messages.js';
import { createH264Parser, createVp8Parser, type EncodedFrame, type ParsedChunk } from './depacketize.js';
import { MediaError, startError } from './errors.js';
import { buildEncodeArgs, type EncodeArgsOptions, type SourceInput } from './ffmpeg-args.js';

export type { EncodedFrame } from './depacketize.js';

/** What to capture and how to encode it (the clock on the test pattern is the source's own choice). */
export interface SourceOptions extends Omit<EncodeArgsOptions, 'clock'> {
  /** Default 'ffmpeg'. */
  ffmpegPath?: string;
}

/** Events of an EncodedSource; exactly one of `end` and `error` ends it. */
export interface EncodedSourceEvents {
  config: [config: DecoderConfig];
  frame: [frame: EncodedFrame];
  end: [];
  error: [error: MediaError];
}

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
  private framesSeen = 0;
  private stderrTail: string[] = [];
  private resolveDone: () => void = () => {};
  private readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(private readonly opts: SourceOptions) {
    super();
    const problem = preflight(opts.input);
    // Deferred so the caller can attach listeners after startEncodedSource() returns.
    if (problem) process.nextTick(() => this.finish(problem));
    else this.spawn(true);
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
    const args = buildEncodeArgs({ ...this.opts, clock });
    const child = spawn(this.opts.ffmpegPath ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.stderrTail = [];
    const parser = this.opts.codec === 'vp8' ? createVp8Parser() : createH264Parser();
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      let parsed: ParsedChunk;
      try {
        parsed = parser.push(chunk, nowMicros());
      } catch (err) {
        const error =
          err instanceof MediaError ? err : new MediaError('FW_FFMPEG_FAILED', String(err), { cause: err });
        this.finish(error);
        child.kill('SIGKILL');
        return;
      }
      // Emitted outside the try: a throwing listener must not be mistaken for a parse error.
      if (parsed.config) this.sendConfig(parsed.config);
      this.emitFrames(parsed.frames);
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
      if (this.stopping || code === 0) return this.finish(null);
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
      this.finish(classifyFailure(this.opts.input, code, signal, stderr));
    });
  }

  /** Ends the source once: emits `end` (error null) or `error`, and releases stop(). */
  private finish(error: MediaError | null): void {
    if (this.finished) return;
    this.finished = true;
    if (error) this.emit('error', error);
    else this.emit('end');
    this.resolveDone();
  }

  private emitFrames(frames: EncodedFrame[]): void {
    for (const frame of frames) {
      if (this.finished) return;
      this.framesSeen++;
      this.emit('frame', frame);
    }
  }

  private sendConfig(config: DecoderConfig): void {
    if (this.configSent) return;
    this.configSent = true;
    this.emit('config', config);
  }
}

/** Starts ffmpeg for `opts`; listen for `config`, `frame`, `end` and `error` on the result. */
export function startEncodedSource(opts: SourceOptions): EncodedSource {
  return new EncodedSource(opts);
}

/** A fast, clear error for an input that cannot work, before ffmpeg is spawned. */
function preflight(input: SourceInput): MediaError | null {
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
  if (input.kind === 'file' && /No such file or directory/i.test(stderr)) {
    return new MediaError('FW_FILE_MISSING', `input file not found: ${input.path}${detail}`);
  }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return new MediaError('FW_FFMPEG_FAILED', `ffmpeg ${how}${detail}`);
}
