import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FilePathTarget } from 'mediabunny';
import { type Container, createMuxer, type FrameMuxer, type MuxFrame } from '../../media/muxer.js';
import type { Stream } from '../core/stream.js';
import { MuxTap, type MuxTapLimits } from './mux-tap.js';

/**
 * `mkdir -p` that cannot spin. Node's `mkdir(dir, { recursive: true })` never settles, at 100% CPU, when a
 * parent exists but answers ENOENT for its child (anything under /proc, a dangling symlink): it takes
 * ENOENT as "parent missing", creates the parent (EEXIST) and retries forever. Here, ENOENT right after
 * the parent was made or found is final.
 */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await makeDirs(dirname(dir));
  try {
    await mkdir(dir);
  } catch (err) {
    // Another recording of the same room may have made it meanwhile.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** What a finished recording holds. */
export interface RecordingResult {
  file: string;
  /** Frames written to the file. */
  frames: number;
  /** Frames skipped because the file fell behind (whole runs up to the next keyframe). */
  dropped: number;
  /** Media time from the first frame written to the last, in seconds. */
  seconds: number;
  /** Why it stopped: the stream's end reason (`disconnected`, `unpublished`), `stopped` (API), `shutdown`. */
  reason: string;
  /** False when no keyframe ever came: there was nothing to play, and the file was removed. */
  kept: boolean;
  /** Set when opening or writing the file failed; whatever was written before is kept. */
  error?: string;
}

/** The stream tap of a recording: a MuxTap that knows its file, so stats can show what a stream records to. */
export class RecordingTap extends MuxTap {
  constructor(
    muxer: FrameMuxer,
    limits: MuxTapLimits,
    onDone: (reason: string, error?: unknown) => void,
    readonly file: string,
  ) {
    super(muxer, limits, () => 0, onDone);
  }
}

/** The file `stream` is being recorded to, or null (read by the stats, never on the frame path). */
export function recordingFile(stream: Stream): string | null {
  for (const tap of stream.taps) if (tap instanceof RecordingTap) return tap.file;
  return null;
}

/** One stream being written to one file. */
export class Recording {
  readonly startedAt = Date.now();
  readonly tap: RecordingTap;
  /** Resolves once the file is open; rejects when it cannot be (the recording then stops by itself). */
  readonly ready: Promise<void>;
  /** Resolves once the file is finalised (or removed, or given up on); never rejects. */
  readonly done: Promise<RecordingResult>;
  private readonly muxer: FileMuxer;

  constructor(
    readonly stream: Stream,
    readonly file: string,
    container: Container,
    limits: MuxTapLimits,
  ) {
    // The muxer opens asynchronously; the tap takes frames at once (the cached GOP included) and the
    // muxer chain waits for the file, so nothing between "start" and "open" is lost. The file is opened
    // once here first: mediabunny opens it lazily and would report a folder we cannot write only when
    // finalising, after a whole recording had seemed to go well.
    const opening = makeDirs(dirname(file))
      .then(() => open(file, 'w'))
      .then((handle) => handle.close())
      .then(() => createMuxer(container, stream.config, new FilePathTarget(file)));
    this.muxer = new FileMuxer(opening);
    this.ready = opening.then(() => undefined);
    let finished: (result: RecordingResult) => void = () => {};
    this.done = new Promise((resolve) => {
      finished = resolve;
    });
    this.tap = new RecordingTap(
      this.muxer,
      limits,
      (reason, error) => {
        void this.settle(reason, error).then(finished);
      },
      file,
    );
    this.ready.catch(() => this.stop('open-failed'));
  }

  /** Frames written so far. */
  get frames(): number {
    return this.tap.framesWritten;
  }

  /** Stops taking frames and finalises the file; resolves when it is done. Safe to call again. */
  stop(reason: string): Promise<RecordingResult> {
    this.stream.removeTap(this.tap);
    this.tap.end(reason);
    return this.done;
  }

  private async settle(reason: string, error: unknown): Promise<RecordingResult> {
    const kept = this.muxer.kept;
    // A file with no keyframe in it plays nothing; an empty leftover would only confuse.
    if (!kept) await rm(this.file, { force: true }).catch(() => {});
    const result: RecordingResult = {
      file: this.file,
      frames: this.tap.framesWritten,
      dropped: this.tap.framesDropped,
      seconds: Math.round(this.muxer.seconds * 1000) / 1000,
      reason,
      kept,
    };
    if (error !== undefined) result.error = error instanceof Error ? error.message : String(error);
    return result;
  }
}

/**
 * A FrameMuxer over one that is still opening: frames queue behind the open (MuxTap already adds them one
 * at a time, in order), and it notes the media time span and whether the file was kept.
 */
class FileMuxer implements FrameMuxer {
  kept = true;
  private first: number | null = null;
  private last = 0;

  constructor(private readonly opening: Promise<FrameMuxer>) {}

  /** Media seconds from the first frame written to the last. */
  get seconds(): number {
    return this.first === null ? 0 : (this.last - this.first) / 1e6;
  }

  async add(frame: MuxFrame): Promise<void> {
    const muxer = await this.opening;
    if (this.first === null) {
      if (!frame.key) return;
      this.first = frame.timestamp;
    }
    this.last = Math.max(this.last, frame.timestamp);
    await muxer.add(frame);
  }

  async finish(): Promise<boolean> {
    const muxer = await this.opening;
    this.kept = await muxer.finish();
    return this.kept;
  }

  async cancel(): Promise<void> {
    let muxer: FrameMuxer;
    try {
      muxer = await this.opening;
    } catch {
      return;
    }
    await muxer.cancel();
  }
}
