/**
 * Whether a live capture keeps the frame rate it was asked for, judged from the capture stamps of the
 * pictures it took: `missed` is how many pictures the requested rate called for since the first one that
 * were not taken.
 *
 * Why count from stamps rather than read ffmpeg's own figures: x11grab never drops a picture. When the
 * encoder is slow, it grabs the next one late (each picture is still the screen as it is then), so ffmpeg's
 * `drop=` stays 0 and its `speed=` is meaningless with wall-clock timestamps (-copyts); only the gap between
 * the schedule and the pictures taken shows that the encoder does not keep up. Why a deficit (slots elapsed
 * minus pictures taken) rather than a sum of long gaps: a stamp jitters by a fraction of a frame on a busy
 * machine, which a sum of gaps would count as drops, while the deficit stays within a frame of the truth;
 * and when x11grab catches up after a stall (it grabs back to back until it is on schedule again), the
 * deficit falls back as it should.
 */
export class CapturePace {
  private first: number | null = null;
  private last = 0;
  private taken = 0;

  /** `fps`: the rate the capture was asked for. */
  constructor(private readonly fps: number) {}

  /** Records one picture captured at `captureTimeUs` (wall clock, µs). */
  frame(captureTimeUs: number): void {
    this.first ??= captureTimeUs;
    this.last = Math.max(this.last, captureTimeUs);
    this.taken++;
  }

  /** Pictures taken so far. */
  get captured(): number {
    return this.taken;
  }

  /**
   * Pictures the requested rate called for, from the first picture to the latest one, that were not
   * taken (0 while it keeps up).
   */
  get missed(): number {
    if (this.first === null) return 0;
    const due = Math.floor(((this.last - this.first) * this.fps) / 1e6) + 1;
    return Math.max(0, due - this.taken);
  }
}
