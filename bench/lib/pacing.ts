import type { ClipFrame } from './clip.js';

/** Where a paced publisher's frames go: one target's publisher connection (video, or audio frames `F`). */
export interface FrameOutput<F = ClipFrame> {
  /** Sends frame number `index` of the run (the clip looped), with its media timestamp in ms. */
  send(index: number, frame: F, timestampMs: number): void;
  /** Bytes written but not yet taken by the socket (shows a publisher the server does not keep up with). */
  readonly backlogBytes: number;
}

/** Media timestamp (ms) of frame `index`: unique per frame (at up to 1000 fps), so it identifies the frame on RTMP. */
export function timestampOf(index: number, fps: number): number {
  return Math.round((index * 1000) / fps);
}

/** The frame index a timestamp from {@link timestampOf} came from, or -1 if it is not one of ours. */
export function indexOf(timestampMs: number, fps: number): number {
  const index = Math.round((timestampMs * fps) / 1000);
  return index >= 0 && timestampOf(index, fps) === timestampMs ? index : -1;
}

/**
 * Sends a clip in real time, looped, on a drift-free schedule (frame i is due at start + i/fps, never
 * "previous send + period"), and remembers when each frame left: `sentAt[i]` is performance.now() at
 * the send, -1 before. Bounded: it stops after `capacity` frames. `F` is the clip's frame type: video
 * frames, or audio packets (at 50 "fps", one every 20 ms).
 */
export class PacedPublisher<F = ClipFrame> {
  readonly sentAt: Float64Array;
  sent = 0;
  /** Largest lateness of a send against its schedule, ms: large values mean the load process stalled. */
  maxSlipMs = 0;
  maxBacklogBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private origin = 0;
  private readonly periodMs: number;

  constructor(
    private readonly output: FrameOutput<F>,
    private readonly frames: readonly F[],
    private readonly fps: number,
    capacity: number,
  ) {
    this.sentAt = new Float64Array(capacity).fill(-1);
    this.periodMs = 1000 / fps;
  }

  /** Starts sending after `delayMs` (publishers of one run are spread over a frame period, like real cameras). */
  start(delayMs: number): void {
    this.origin = performance.now() + delayMs;
    this.timer = setTimeout(this.tick, delayMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Frames sent whose send time falls in [from, to). */
  sentBetween(from: number, to: number): number {
    let n = 0;
    for (let i = 0; i < this.sent; i++) {
      const t = this.sentAt[i] as number;
      if (t >= from && t < to) n++;
    }
    return n;
  }

  private readonly tick = (): void => {
    this.timer = null;
    const now = performance.now();
    // Send everything due (normally one frame; more only if the event loop was late).
    while (this.sent < this.sentAt.length && this.origin + this.sent * this.periodMs <= now) {
      const i = this.sent;
      const slip = now - (this.origin + i * this.periodMs);
      if (slip > this.maxSlipMs) this.maxSlipMs = slip;
      const frame = this.frames[i % this.frames.length] as F;
      this.sentAt[i] = performance.now();
      this.output.send(i, frame, timestampOf(i, this.fps));
      this.sent++;
    }
    const backlog = this.output.backlogBytes;
    if (backlog > this.maxBacklogBytes) this.maxBacklogBytes = backlog;
    if (this.sent >= this.sentAt.length) return;
    const next = this.origin + this.sent * this.periodMs;
    this.timer = setTimeout(this.tick, Math.max(0, next - performance.now()));
  };
}
