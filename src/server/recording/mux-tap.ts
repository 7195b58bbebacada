import type { FrameMuxer } from '../../media/muxer.js';
import { decodeMessage, type FrameMessage } from '../../protocol/index.js';
import type { StreamTap } from '../core/stream-tap.js';
import type { Outgoing } from '../core/transport.js';

/** Bounds of one muxing tap. */
export interface MuxTapLimits {
  /** Bytes waiting for the muxer plus those waiting downstream (`backlog`) before it skips ahead. */
  maxBacklogBytes: number;
  /**
   * Bytes since the last keyframe. A fragmented MP4 muxer holds a whole GOP until the next keyframe,
   * so a publisher that never sends one must not make it hold frames without end.
   */
  maxGopBytes: number;
}

/**
 * A stream tap that writes the stream into a container (a live HTTP response, a recording file).
 * Frames go to the muxer one at a time, in order. When it falls behind (its muxer or whatever it writes
 * to holds more than the bound) it drops whole runs up to the next keyframe, as a viewer queue does.
 */
export class MuxTap implements StreamTap {
  framesWritten = 0;
  framesDropped = 0;
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
    if (key) this.gopBytes = 0;
    this.gopBytes += size;
    const behind =
      this.pendingBytes + this.backlog() > this.limits.maxBacklogBytes ||
      this.gopBytes > this.limits.maxGopBytes;
    if (behind || (this.needsKey && !key)) {
      this.needsKey = true;
      this.framesDropped++;
      return;
    }
    this.needsKey = false;
    const message = decodeMessage(frame.body) as FrameMessage;
    this.pendingBytes += size;
    this.chain = this.chain.then(async () => {
      await this.muxer.add({ key, timestamp: message.timestamp, data: message.payload });
      this.pendingBytes -= size;
      this.framesWritten++;
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
