import { CapturePace } from '../media/capture-pace.js';

/**
 * What `publish` says about a live screen capture: the pictures it missed on the status line, one warning
 * with the fix when it falls behind, and a summary at the end. x11grab never drops a picture but takes it
 * late when the encoder is slow, so the pace of the capture stamps is what shows whether the encoder keeps
 * up (see CapturePace).
 */
export class CaptureStatus {
  private readonly pace: CapturePace;
  private missedBefore = 0;
  private warned = false;

  constructor(
    private readonly fps: number,
    private readonly codec: 'vp8' | 'h264',
  ) {
    this.pace = new CapturePace(fps);
  }

  /** Records a picture captured at `captureTimeUs` (wall clock, µs). */
  frame(captureTimeUs: number): void {
    this.pace.frame(captureTimeUs);
  }

  /** The status line's part, e.g. `, capture missed 3`. */
  statusPart(): string {
    return `, capture missed ${this.pace.missed}`;
  }

  /**
   * Called once a second: the warning to log the first time the capture misses a tenth of a second's
   * pictures in one second (visible stutter), else null.
   */
  tick(): string | null {
    const missed = this.pace.missed;
    const lastSecond = missed - this.missedBefore;
    this.missedBefore = missed;
    if (this.warned || lastSecond <= this.fps / 10) return null;
    this.warned = true;
    return (
      `the encoder does not keep up with ${this.fps} fps (${lastSecond} pictures missed in the last ` +
      `second): try a lower --fps, a smaller --size or --region${this.codec === 'vp8' ? ', or --codec h264' : ''}`
    );
  }

  /** The line for the end: pictures taken and missed against the requested rate. */
  summary(): string {
    const { captured, missed } = this.pace;
    const due = captured + missed;
    const share = due > 0 ? (missed / due) * 100 : 0;
    return `the capture took ${captured} pictures and missed ${missed} (${share.toFixed(1)} %) of ${due} due at ${this.fps} fps`;
  }
}
