import { mkdir, open as openFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Container, createFileMuxer, type FrameMuxer } from '../../media/muxer.js';
import type { Stream } from '../core/stream.js';
import { MuxTap, type MuxTapLimits } from './mux-tap.js';
import { type Segment, SegmentedFile } from './segmented-file.js';

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
  /** The last file written (the only one, unless the recording rolled to new files). */
  file: string;
  /** Frames written, over every file. */
  frames: number;
  /** Frames skipped because the file fell behind (whole runs up to the next keyframe). */
  dropped: number;
  /** Audio frames written, over every file (`frames` and `dropped` count video). */
  audioFrames: number;
  /** Media time from the first frame written to the last, in seconds. */
  seconds: number;
  /** Why it stopped: the stream's end reason (`disconnected`, `unpublished`), `stopped` (API), `shutdown`. */
  reason: string;
  /** False when no keyframe ever came: there was nothing to play, and the file was removed. */
  kept: boolean;
  /** Set when opening or writing the file failed; whatever was written before is kept. */
  error?: string;
}

/** The stream tap of a recording: a MuxTap that knows its recording, so stats can show the file. */
export class RecordingTap extends MuxTap {
  constructor(
    muxer: FrameMuxer,
    limits: MuxTapLimits,
    onDone: (reason: string, error?: unknown) => void,
    readonly recording: Recording,
  ) {
    super(muxer, limits, () => 0, onDone);
  }
}

/** The file `stream` is being recorded to, or null (read by the stats, never on the frame path). */
export function recordingFile(stream: Stream): string | null {
  for (const tap of stream.taps) if (tap instanceof RecordingTap) return tap.recording.file;
  return null;
}

/** Where a recording writes: how it names each file, and when it starts the next. */
export interface RecordingFiles {
  /** A fresh file name, called for the first file and at each roll. */
  name(): string;
  /** Media time after which the recording goes on in a new file, at a keyframe; 0 keeps one file. */
  segmentMs: number;
  /** A file was closed whole at a roll and the recording goes on in `next`. */
  onRoll(closed: Segment, next: string): void;
}

/** One stream being written to a file, or to a run of files (segments). */
export class Recording {
  readonly startedAt = Date.now();
  readonly tap: RecordingTap;
  /** Resolves once the first file is open; rejects when it cannot be (the recording then stops itself). */
  readonly ready: Promise<void>;
  /** Resolves once the last file is finalised (or removed, or given up on); never rejects. */
  readonly done: Promise<RecordingResult>;
  private readonly muxer: SegmentedFile;

  constructor(
    readonly stream: Stream,
    container: Container,
    limits: MuxTapLimits,
    files: RecordingFiles,
  ) {
    // The muxer opens asynchronously; the tap takes frames at once (the cached GOP included) and the
    // muxer chain waits for the file, so nothing between "start" and "open" is lost. The file is opened
    // once here first: mediabunny opens it lazily and would report a folder we cannot write only when
    // finalising, after a whole recording had seemed to go well.
    const open = () => {
      const file = files.name();
      const muxer = makeDirs(dirname(file))
        .then(() => openFile(file, 'w'))
        .then((handle) => handle.close())
        .then(() => createFileMuxer(file, container, stream.tracks));
      return { file, muxer };
    };
    const first = open();
    this.muxer = new SegmentedFile({
      first,
      next: open,
      segmentUs: files.segmentMs * 1000,
      onRoll: files.onRoll,
      audioOnly: stream.video === undefined,
    });
    this.ready = first.muxer.then(() => undefined);
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
      this,
    );
    this.ready.catch(() => this.stop('open-failed'));
  }

  /** The file being written now (the latest segment). */
  get file(): string {
    return this.muxer.file;
  }

  /** Frames written so far, over every file. */
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
    const file = this.muxer.file;
    // A file with no keyframe in it plays nothing; an empty leftover would only confuse.
    if (!kept) await rm(file, { force: true }).catch(() => {});
    const result: RecordingResult = {
      file,
      frames: this.tap.framesWritten,
      dropped: this.tap.framesDropped,
      audioFrames: this.tap.audioFramesWritten,
      seconds: Math.round(this.muxer.seconds * 1000) / 1000,
      reason,
      kept,
    };
    if (error !== undefined) result.error = error instanceof Error ? error.message : String(error);
    return result;
  }
}
