import { type Display, type SoundPlayer, startDisplay, startSoundPlayer } from '../media/display.js';
import type { MuxFrame } from '../media/muxer.js';
import { createRecorder, type Recorder } from '../media/recorder.js';
import type {
  AudioConfig,
  DecoderConfig,
  FrameMessage,
  StreamAddedMessage,
  StreamTracks,
} from '../protocol/messages.js';
import { describeTracks } from '../protocol/tracks.js';
import { CliError } from './errors.js';
import { codecMismatch, nextOutPath, type OutFile } from './out-file.js';

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
  /** The video config the window was opened for, and the audio config the sound player was. */
  private displayed: DecoderConfig | null = null;
  private played: AudioConfig | null = null;
  /** Video frames written, over every file. */
  framesRecorded = 0;
  audioFramesRecorded = 0;
  /** The recording's tracks (the current file's), once it is opened. */
  recordedTracks: StreamTracks | null = null;
  /** Files opened so far: FILE, then FILE-2, FILE-3... one more each time the stream's tracks changed. */
  readonly files: string[] = [];
  /** Frames (video and audio) written to each of {@link files}. */
  private readonly fileFrames: number[] = [];
  /** The number the next file's name starts looking from. */
  private nextNumber = 2;
  /** Set when the stream's new tracks cannot go in FILE's container: nothing more is recorded. */
  private refused = false;
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
    /** With --force: FILE-2... are overwritten like FILE; without, a name taken is skipped. */
    private readonly force = false,
  ) {
    this.key = name ? `${room}/${name}` : null;
  }

  /** The files that hold frames (one opened just before watch ended may hold none: it is removed). */
  get recordedFiles(): string[] {
    return this.files.filter((_, i) => (this.fileFrames[i] ?? 0) > 0);
  }

  get active(): boolean {
    return this.out !== null || this.showDisplay;
  }

  /**
   * Called for every stream-added: the first matching one opens the recorder and the window. The followed
   * stream coming back (after a reconnect) with other tracks is a change of tracks (see streamUpdated).
   */
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
      this.openRecorder(this.out.path, { video, audio }, Promise.resolve());
    } else if (this.recordedTracks !== null && !sameTracks(this.recordedTracks, m)) {
      this.changeFile(m);
    }
    this.follow(m, key);
  }

  /**
   * The followed stream's tracks changed (its publisher switched codec or picture size): the current file
   * is finished and recording goes on in the next (FILE-2, FILE-3...), unless FILE's container cannot hold
   * the new codec, which stops watch as it would at the start. The window follows a new video codec.
   */
  streamUpdated(m: StreamAddedMessage): boolean {
    if (!this.active || `${m.room}/${m.name}` !== this.key) return false;
    let said = false;
    if (this.recordedTracks !== null && !sameTracks(this.recordedTracks, m)) said = this.changeFile(m);
    this.follow(m, this.key);
    return said;
  }

  /** Opens the window and the sound player for the followed stream's tracks, again for a new codec. */
  private follow(m: StreamAddedMessage, key: string): void {
    const { video, audio } = m;
    if (!this.showDisplay) return;
    // An audio-only stream has no picture to show. ffplay reads one codec: another needs another ffplay.
    if (video !== undefined && (this.display === null || this.displayed?.codec !== video.codec)) {
      const old = this.display;
      this.displayed = video;
      const display = startDisplay(video, { title: `framewire ${key}` });
      this.display = display;
      display.on('error', (err) => {
        this.failure ??= err;
      });
      // Only the current window's exit is the user closing it; one we replaced exits because we closed it.
      display.on('exit', () => {
        if (this.display === display) this.onDisplayExit();
      });
      if (old !== null) void old.close();
    }
    if (audio !== undefined && (this.sound === null || this.played?.codec !== audio.codec)) {
      const old = this.sound;
      this.soundPlayer = null;
      if (old !== null) void old.then((s) => s?.close());
      this.played = audio;
      this.startSound(audio, key);
    }
  }

  /**
   * Finishes the current file and goes on in the next (saying so in a line: true), or throws for a codec
   * FILE's container cannot hold.
   */
  private changeFile(m: StreamAddedMessage): boolean {
    const out = this.out;
    const recorder = this.recorder;
    if (out === null || recorder === null || this.refused) return false;
    const tracks = { video: m.video, audio: m.audio };
    const mismatch = codecMismatch(out, m.video, m.audio);
    if (mismatch !== null) {
      // Nothing of the new codec goes into the old file; what it holds is finished at close.
      this.refused = true;
      const kept = this.files.join(', ');
      throw new CliError(
        `${this.key} changed to ${describeTracks(tracks)}: ${mismatch}; recorded until then: ${kept}`,
      );
    }
    const next = nextOutPath(out.path, this.nextNumber, this.force);
    this.nextNumber = next.n + 1;
    const current = this.files.at(-1) ?? out.path;
    this.warn(
      `framewire: ${this.key} changed to ${describeTracks(tracks)}: ${current} finished, recording goes on in ${next.path}`,
    );
    // The old file is finished once every frame before the change is in it.
    const finished = this.writes.then(() =>
      recorder.then(
        (r) => r.finish().catch((err: unknown) => this.recorderFailed(current, err)),
        () => {},
      ),
    );
    this.openRecorder(next.path, tracks, finished);
    return true;
  }

  /** Starts the sound player; a failure costs the sound, never the picture or the recording. */
  private startSound(audio: AudioConfig, key: string): void {
    const soundFailed = (err: unknown): null => {
      this.warn(
        `framewire: cannot play the sound of ${key}: ${err instanceof Error ? err.message : String(err)}`,
      );
      return null;
    };
    const sound: Promise<SoundPlayer | null> = startSoundPlayer(audio, { title: `framewire ${key}` }).then(
      (player) => {
        player.on('error', soundFailed);
        // One replaced while it started is closed by follow(); frames go to the current one only.
        if (this.sound === sound) this.soundPlayer = player;
        return player;
      },
      soundFailed,
    );
    this.sound = sound;
  }

  /** Opens `path` for `tracks`; frames wait for it, and for `after` (the previous file finishing). */
  private openRecorder(path: string, tracks: StreamTracks, after: Promise<void>): void {
    this.recordedTracks = tracks;
    this.files.push(path);
    this.fileFrames.push(0);
    const recorder = createRecorder(path, tracks);
    this.recorder = recorder;
    // Frames are chained behind the recorder's creation, so none is lost while the file opens.
    this.writes = Promise.all([after, recorder]).then(
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
    if (recorder === null || this.failure || this.refused) return;
    if (audio) {
      // Any audio frame decodes alone: drop just this one, and only past audio's own bound.
      if (this.pendingWrites >= MAX_PENDING_AUDIO_WRITES) return;
    } else {
      if (this.pendingWrites >= MAX_PENDING_WRITES) this.waitingForKey = true;
      if (this.waitingForKey && !(m.key && this.pendingWrites < MAX_PENDING_WRITES)) return;
      this.waitingForKey = false;
    }
    this.pendingWrites++;
    const file = this.files.length - 1;
    this.writes = this.writes.then(async () => {
      this.pendingWrites--;
      if (this.failure) return;
      try {
        await (await recorder).add(frame);
        this.fileFrames[file] = (this.fileFrames[file] ?? 0) + 1;
        if (audio) this.audioFramesRecorded++;
        else this.framesRecorded++;
      } catch (err) {
        this.recorderFailed(this.files.at(-1) ?? this.out?.path ?? '', err);
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

/** Whether a stream's tracks are those a file was opened for (same codecs, sizes and setup bytes). */
function sameTracks(a: StreamTracks, b: StreamTracks): boolean {
  const v = a.video;
  const w = b.video;
  const x = a.audio;
  const y = b.audio;
  const videoSame =
    v === undefined || w === undefined
      ? v === w
      : v.codec === w.codec &&
        v.codedWidth === w.codedWidth &&
        v.codedHeight === w.codedHeight &&
        sameBytes(v.description, w.description);
  const audioSame =
    x === undefined || y === undefined
      ? x === y
      : x.codec === y.codec &&
        x.sampleRate === y.sampleRate &&
        x.numberOfChannels === y.numberOfChannels &&
        sameBytes(x.description, y.description);
  return videoSame && audioSame;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
