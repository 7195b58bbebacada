import { type Display, type SoundPlayer, startDisplay, startSoundPlayer } from '../media/display.js';
import type { MuxFrame } from '../media/muxer.js';
import { createRecorder, type Recorder } from '../media/recorder.js';
import type { AudioConfig, FrameMessage, StreamAddedMessage, StreamTracks } from '../protocol/messages.js';
import { CliError } from './errors.js';
import { codecMismatch, type OutFile } from './out-file.js';

// Recorder writes queued behind a slow disk: beyond this, video frames are dropped until the next keyframe
// rather than held in memory without limit.
const MAX_PENDING_WRITES = 240;
// Audio's own room above that (seconds of 20 ms frames): a slow disk costs pictures first, sound last.
const MAX_PENDING_AUDIO_WRITES = 240 + 500;

/** The stream --out and --display follow, across reconnects (where its streamId changes). */
export class WatchSink {
  /** `room/name` of the followed stream, once chosen. */
  key: string | null;
  private recorder: Promise<Recorder> | null = null;
  private writes: Promise<void> = Promise.resolve();
  private pendingWrites = 0;
  private waitingForKey = false;
  private display: Display | null = null;
  /** The sound of the displayed stream: a promise while ffplay starts, null when there is none. */
  private sound: Promise<SoundPlayer | null> | null = null;
  private soundPlayer: SoundPlayer | null = null;
  /** Video frames written to the file. */
  framesRecorded = 0;
  audioFramesRecorded = 0;
  /** The recording's tracks, once it is opened. */
  recordedTracks: StreamTracks | null = null;
  failure: Error | null = null;

  constructor(
    room: string,
    name: string,
    private readonly out: OutFile | null,
    private readonly showDisplay: boolean,
    private readonly onDisplayExit: () => void,
    /** A recording that failed stops watch at once, rather than counting 0 frames until the end. */
    private readonly onRecorderFailure: (err: Error) => void,
    /** A problem worth a line that does not stop watch (the sound cannot play: the picture goes on). */
    private readonly warn: (text: string) => void = () => {},
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
    const { video, audio } = m;
    if (this.out !== null && this.recorder === null) {
      // Before the file is opened (a mismatch would truncate it to nothing) and before the window.
      const mismatch = codecMismatch(this.out, video, audio);
      if (mismatch !== null) throw new CliError(mismatch);
      this.openRecorder(this.out.path, { video, audio });
    }
    // An audio-only stream has no picture to show.
    if (this.showDisplay && this.display === null && video !== undefined) {
      this.display = startDisplay(video, { title: `framewire ${key}` });
      this.display.on('error', (err) => {
        this.failure ??= err;
      });
      this.display.on('exit', this.onDisplayExit);
    }
    if (this.showDisplay && this.sound === null && audio !== undefined) this.startSound(audio, key);
  }

  /** Starts the sound player; a failure costs the sound, never the picture or the recording. */
  private startSound(audio: AudioConfig, key: string): void {
    const soundFailed = (err: unknown): null => {
      this.warn(
        `framewire: cannot play the sound of ${key}: ${err instanceof Error ? err.message : String(err)}`,
      );
      return null;
    };
    this.sound = startSoundPlayer(audio, { title: `framewire ${key}` }).then((player) => {
      player.on('error', soundFailed);
      this.soundPlayer = player;
      return player;
    }, soundFailed);
  }

  private openRecorder(path: string, tracks: StreamTracks): void {
    this.recordedTracks = tracks;
    const recorder = createRecorder(path, tracks);
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
    const audio = m.track === 'audio';
    const frame: MuxFrame = { key: m.key, timestamp: m.timestamp, data: m.payload };
    if (audio) {
      frame.track = 'audio';
      this.soundPlayer?.write(frame);
    } else this.display?.write(frame);
    const recorder = this.recorder;
    if (recorder === null || this.failure) return;
    if (audio) {
      // Any audio frame decodes alone: drop just this one, and only past audio's own bound.
      if (this.pendingWrites >= MAX_PENDING_AUDIO_WRITES) return;
    } else {
      if (this.pendingWrites >= MAX_PENDING_WRITES) this.waitingForKey = true;
      if (this.waitingForKey && !(m.key && this.pendingWrites < MAX_PENDING_WRITES)) return;
      this.waitingForKey = false;
    }
    this.pendingWrites++;
    this.writes = this.writes.then(async () => {
      this.pendingWrites--;
      if (this.failure) return;
      try {
        await (await recorder).add(frame);
        if (audio) this.audioFramesRecorded++;
        else this.framesRecorded++;
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
    if (this.sound) closing.push(this.sound.then((s) => s?.close()));
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
