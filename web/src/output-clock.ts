// When a sample rendered at a given AudioContext time leaves the speaker, on performance.now(), kept true
// while the audio thread stalls or drifts.
//
// Why not the browser's getOutputTimestamp() alone: its mapping is only as fresh as the last read, and a
// render thread that misses its deadlines (a loaded machine) falls behind the wall clock for good, so a
// mapping read once went 1.4 s stale in one CI run and pictures waited for sound that had long played. And
// it cannot be read often: Firefox 153 with PulseAudio deadlocks when a page reads it while sound plays
// (see AudioOutput). `currentTime` is safe to read at any rate, but it moves in steps of one render callback
// (10–40 ms), so one reading is off by up to a step. The clock here keeps the largest `currentTime − now`
// seen over the last second (the reading just after a step: the render position itself), and adds the lead
// from rendering to the speaker, measured once against the browser's timestamp where one is given.

/** How long a reading is kept: a stall shows up in the mapping at most this late. */
export const WINDOW_MS = 1000;
/** How long after the browser's timestamp the lead is measured: enough readings to catch a step. */
export const CALIBRATE_AFTER_MS = 250;

/** The browser's mapping of a context time to the moment it leaves the speaker (performance.now() ms). */
export interface OutputStamp {
  contextTime: number;
  performanceTime: number;
}

interface Reading {
  atMs: number;
  /** `currentTime` (ms) minus performance.now() at the reading. */
  aheadMs: number;
}

/** Maps an AudioContext's time to the moment its sound is heard, from readings of its `currentTime`. */
export class OutputClock {
  /** Readings of the last WINDOW_MS, their `aheadMs` falling from first to last (a sliding maximum). */
  private readonly readings: Reading[] = [];
  /** From rendering to the speaker, ms. */
  private leadMs = 0;
  private pending: { stamp: OutputStamp; readAtMs: number } | null = null;

  /** Notes the context's `currentTime` (seconds) as read at `nowMs` (performance.now()). */
  observe(currentTime: number, nowMs: number): void {
    const aheadMs = currentTime * 1000 - nowMs;
    const r = this.readings;
    while (r.length > 0 && (r.at(-1) as Reading).aheadMs <= aheadMs) r.pop();
    r.push({ atMs: nowMs, aheadMs });
    while (r.length > 1 && (r[0] as Reading).atMs < nowMs - WINDOW_MS) r.shift();
    const p = this.pending;
    if (p && nowMs - p.readAtMs >= CALIBRATE_AFTER_MS) {
      this.leadMs = p.stamp.performanceTime - (p.stamp.contextTime * 1000 - this.renderAheadMs());
      this.pending = null;
    }
  }

  /**
   * The output's latency as the browser states it (`baseLatency`, seconds: see AudioOutput), and its
   * timestamp when it gives one: the lead is the stated latency until the timestamp has been measured against
   * the readings that follow it.
   */
  setOutput(latencySec: number, stamp: OutputStamp | null, nowMs: number): void {
    this.leadMs = latencySec * 1000;
    this.pending = stamp ? { stamp, readAtMs: nowMs } : null;
  }

  /** Ms from a sample's rendering to the speaker, as last measured. */
  get outputLeadMs(): number {
    return this.leadMs;
  }

  /** When (performance.now() ms) the sample the context renders at `contextTime` (seconds) is heard. */
  heardAt(contextTime: number): number {
    return contextTime * 1000 - this.renderAheadMs() + this.leadMs;
  }

  /** How far the context's render position runs ahead of performance.now(), ms. */
  private renderAheadMs(): number {
    return this.readings[0]?.aheadMs ?? 0;
  }
}
