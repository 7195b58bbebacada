import { type Display, startDisplay } from '../media/display.js';
import { createRecorder, type Recorder } from '../media/recorder.js';
import type { DecoderConfig, FrameMessage, StreamAddedMessage } from '../protocol/messages.js';
import { CliError } from './errors.js';
import { codecMismatch, type OutFile } from './out-file.js';

// Recorder writes queued behind a slow disk: beyond this, frames are dropped until the next keyframe
// rather than held in memory without limit.
const MAX_PENDING_WRITES = 240;

/** The stream --out and --display follow, across reconnects (where its streamId changes). */
export class WatchSink {
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

  /** Passes a frame of stream `key` (room/name) to the recording and the window, if it is the followed one. */
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
