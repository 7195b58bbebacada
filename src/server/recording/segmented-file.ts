import type { FrameMuxer, MuxFrame } from '../../media/muxer.js';

/** One file of a recording, once it is closed. */
export interface Segment {
  file: string;
  /** Frames written to it. */
  frames: number;
}

/** Where a segmented recording's files come from. */
export interface SegmentFiles {
  /** The first file, already being opened (its muxer resolves once it is). */
  first: { file: string; muxer: Promise<FrameMuxer> };
  /** Names and opens the next file; called at each roll. */
  next(): { file: string; muxer: Promise<FrameMuxer> };
  /** Media time (µs) after which the next keyframe starts a new file; 0 never rolls. */
  segmentUs: number;
  /** A file was closed whole and `next` continues the recording. */
  onRoll(closed: Segment, next: string): void;
  /**
   * The stream has no video: every audio frame may start a file. With video, only a video keyframe does
   * (audio frames are all "key", but a file that starts on one has no picture until the next keyframe).
   */
  audioOnly?: boolean;
}

/**
 * A FrameMuxer that writes a recording as a run of files: at the first keyframe past `segmentUs` of media
 * time in the current file, it finishes that file (so it is whole and indexed) and goes on in the next, so
 * no file grows without end and no frame is lost between them. Frames wait for the current file to open
 * (MuxTap adds them one at a time, in order). It also notes the media time span and whether the last
 * file got a keyframe.
 */
export class SegmentedFile implements FrameMuxer {
  /** False when the current file never got a keyframe (nothing in it plays). */
  kept = true;
  private current: { file: string; muxer: Promise<FrameMuxer> };
  /** Media time (µs) of the current file's first frame; null before it. */
  private segmentStart: number | null = null;
  private segmentFrames = 0;
  private first: number | null = null;
  private last = 0;

  constructor(private readonly files: SegmentFiles) {
    this.current = files.first;
  }

  /** The file being written now. */
  get file(): string {
    return this.current.file;
  }

  /** Media seconds from the first frame written to the last, over every file. */
  get seconds(): number {
    return this.first === null ? 0 : (this.last - this.first) / 1e6;
  }

  async add(frame: MuxFrame): Promise<void> {
    let muxer = await this.current.muxer;
    const starts = frame.key && (frame.track !== 'audio' || this.files.audioOnly === true);
    if (this.first === null) {
      if (!starts) return;
      this.first = frame.timestamp;
    }
    const { segmentUs } = this.files;
    if (
      starts &&
      segmentUs > 0 &&
      this.segmentStart !== null &&
      frame.timestamp - this.segmentStart >= segmentUs
    ) {
      await muxer.finish();
      const closed = { file: this.current.file, frames: this.segmentFrames };
      this.current = this.files.next();
      this.segmentStart = null;
      this.segmentFrames = 0;
      this.files.onRoll(closed, this.current.file);
      muxer = await this.current.muxer;
    }
    this.segmentStart ??= frame.timestamp;
    if (frame.track !== 'audio' || this.files.audioOnly) this.segmentFrames++;
    this.last = Math.max(this.last, frame.timestamp);
    await muxer.add(frame);
  }

  async finish(): Promise<boolean> {
    const muxer = await this.current.muxer;
    this.kept = await muxer.finish();
    return this.kept;
  }

  async cancel(): Promise<void> {
    let muxer: FrameMuxer;
    try {
      muxer = await this.current.muxer;
    } catch {
      return;
    }
    await muxer.cancel();
  }
}
