import type { FrameMuxer } from '../../media/muxer.js';
import { decodeMessage, type FrameMessage } from '../../protocol/index.js';
import type { StreamTap } from '../core/stream-tap.js';
import type { Outgoing } from '../core/transport.js';

/** Bounds of one muxing tap. */
export interface MuxTapLimits {
  /** Bytes waiting for the muxer plus those waiting downstream (`backlog`) before video skips ahead. */
  maxBacklogBytes: number;
  /**
   * Bytes since the last keyframe. A fragmented MP4 muxer holds a whole GOP until the next keyframe,
   * so a publisher that never sends one must not make it hold frames without end.
   */
  maxGopBytes: number;
  /**
   * Audio's own room above `maxBacklogBytes`: audio is dropped only when the backlog passes both. Video is
   * shed first (a slow reader loses pictures, not sound), and a reader that takes nothing at all still
   * costs us no more than this much more.
   */
  maxAudioBacklogBytes: number;
}

/**
 * Audio headroom of a live player or recording: tens of seconds of any Opus or AAC stream (32–128 kbit/s),
 * small beside the video bound.
 */
export const DEFAULT_AUDIO_BACKLOG_BYTES = 256 * 1024;

/**
 * A stream tap that writes the stream (video, audio or both) into a container (a live HTTP response, a
 * recording file). Frames go to the muxer one at a time, in order. When it falls behind (its muxer or
 * whatever it writes to holds more than the bound) it drops video in whole runs up to the next keyframe,
 * as a viewer queue does, while audio goes on: any audio frame can be decoded alone, so audio is dropped
 * frame by frame, and only past its own bound.
 */
export class MuxTap implements StreamTap {
  /** Video frames written and dropped. */
  framesWritten = 0;
  framesDropped = 0;
  audioFramesWritten = 0;
  audioFramesDropped = 0;
  private needsKey = true;
  private pendingBytes = 0;
  private gopBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private done = false;

  constructor(
    private readonly muxer: FrameMuxer,
    private readonly limits: MuxTapLimits,
    /** Bytes written but not yet taken downstream (an HTTP response's buffer); 0 for a file. */
    private readonly backlog: () => number,
    /** Called once, after the muxer has finished (or failed): `error` is set when it failed. */
    private readonly onDone: (reason: string, error?: unknown) => void,
  ) {}

  frame(frame: Outgoing, key: boolean): void {
    if (this.done) return;
    const size = frame.body.length;
    const held = this.pendingBytes + this.backlog();
    if (frame.audio) {
      if (held > this.limits.maxBacklogBytes + this.limits.maxAudioBacklogBytes) {
        this.audioFramesDropped++;
        return;
      }
      this.write(frame, true, size, true);
      return;
    }
    if (key) this.gopBytes = 0;
    this.gopBytes += size;
    const behind = held > this.limits.maxBacklogBytes || this.gopBytes > this.limits.maxGopBytes;
    if (behind || (this.needsKey && !key)) {
      this.needsKey = true;
      this.framesDropped++;
      return;
    }
    this.needsKey = false;
    this.write(frame, key, size, false);
  }

  /** Queues one frame for the muxer, behind those before it. */
  private write(frame: Outgoing, key: boolean, size: number, audio: boolean): void {
    const message = decodeMessage(frame.body) as FrameMessage;
    this.pendingBytes += size;
    this.chain = this.chain.then(async () => {
      await this.muxer.add({
        key,
        timestamp: message.timestamp,
        data: message.payload,
        ...(audio ? { track: 'audio' as const } : {}),
      });
      this.pendingBytes -= size;
      if (audio) this.audioFramesWritten++;
      else this.framesWritten++;
    });
    this.chain.catch((err: unknown) => this.fail(err));
  }

  /** The stream ended: writes what is pending, finalises the container, then reports. */
  end(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.chain
      .then(() => this.muxer.finish())
      .then(
        () => this.onDone(reason),
        (err: unknown) => this.onDone(reason, err),
      );
  }

  /** Stops at once (the reader went away): nothing more is written or finalised. */
  cancel(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.muxer.cancel().then(
      () => this.onDone(reason),
      (err: unknown) => this.onDone(reason, err),
    );
  }

  private fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.muxer.cancel().finally(() => this.onDone('mux-error', err));
  }
}
