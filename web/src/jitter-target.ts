// How deep the jitter buffer of one remote stream's sound should be, from the spread of its frames'
// arrival delays: pure arithmetic, so it is unit-tested in Node (test/unit/web-jitter-target.test.ts).
import { percentile } from './stats.js';

/** Smallest jitter-buffer target, ms: one Opus frame plus room for the decoder's and the socket's bursts. */
export const MIN_TARGET_MS = 30;
/** Largest target, ms, whatever the jitter or the video asks: past it, a call stops feeling live. */
export const MAX_TARGET_MS = 400;
/** Arrival delays kept to measure jitter (about 4 s of 20 ms frames). */
const JITTER_WINDOW = 200;
/** Delays needed before the spread means anything. */
const MIN_SAMPLES = 10;
/**
 * How fast the target comes back down once jitter has calmed, ms per frame (25 ms a second at 50 fps): a
 * spike is forgotten in seconds, while the speed change that drains the buffer stays inaudible.
 */
const TARGET_SHRINK_PER_FRAME_MS = 0.5;

/** The jitter-buffer target from arrival delays: 20 ms + 1.5 × the jitter, grown at once, shrunk slowly. */
export class JitterTarget {
  /** Spread of arrival delays (p95 minus p5) over the last few seconds, ms. */
  jitterMs = 0;
  /** What the jitter asks of the buffer now, ms. */
  targetMs = MIN_TARGET_MS;
  private readonly delays: number[] = [];

  /** Takes one frame's transit (arrival minus capture, µs, on one clock) and returns the target, ms. */
  add(transitUs: number): number {
    this.delays.push(transitUs);
    if (this.delays.length > JITTER_WINDOW) this.delays.shift();
    if (this.delays.length < MIN_SAMPLES) return this.targetMs;
    const sorted = [...this.delays].sort((a, b) => a - b);
    // p95 over p5 rather than over the minimum: one early outlier should not set the buffer for seconds.
    this.jitterMs = (percentile(sorted, 0.95) - percentile(sorted, 0.05)) / 1000;
    const wanted = Math.min(MAX_TARGET_MS, Math.max(MIN_TARGET_MS, 20 + 1.5 * this.jitterMs));
    this.targetMs =
      wanted >= this.targetMs ? wanted : Math.max(wanted, this.targetMs - TARGET_SHRINK_PER_FRAME_MS);
    return this.targetMs;
  }

  /** Forgets the delays (the clock they were measured on moved); the target stays until new ones say. */
  reset(): void {
    this.delays.length = 0;
  }
}
