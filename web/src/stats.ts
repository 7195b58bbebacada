// Rates and latency over short intervals: what the tiles show and what the receiver reports carry.

/** The p-th percentile (0–1) of values sorted ascending, nearest-rank; -1 when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return -1;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index] as number;
}

/** Counts events and their bytes; {@link roll} turns the counts since the last roll into per-second rates. */
export class RateMeter {
  /** Events per second over the last interval. */
  perSecond = 0;
  /** Kilobits per second over the last interval. */
  kbps = 0;
  private count = 0;
  private bytes = 0;
  private since = performance.now();

  /** Counts one event of `bytes` bytes. */
  add(bytes = 0): void {
    this.count++;
    this.bytes += bytes;
  }

  /** Closes the interval: computes its rates and starts the next one. */
  roll(now = performance.now()): void {
    const seconds = (now - this.since) / 1000;
    if (seconds <= 0) return;
    this.perSecond = this.count / seconds;
    this.kbps = (this.bytes * 8) / 1000 / seconds;
    this.count = 0;
    this.bytes = 0;
    this.since = now;
  }
}

/** Samples kept per interval at most: a second at 30 fps needs 30; the bound only guards a runaway sender. */
const MAX_LATENCY_SAMPLES = 1000;

/** Latency samples of one interval, and the median and 95th percentile of the last complete interval. */
export class LatencyWindow {
  /** Median of the last interval, ms; -1 when it had no samples. */
  p50 = -1;
  /** 95th percentile of the last interval, ms; -1 when it had no samples. */
  p95 = -1;
  /** The latest sample, ms; -1 before the first. */
  last = -1;
  /** Samples in the last complete interval (for windows whose values may be negative: -1 is then a value). */
  count = 0;
  private samples: number[] = [];

  /** Adds one latency sample, ms. */
  add(ms: number): void {
    this.last = ms;
    if (this.samples.length < MAX_LATENCY_SAMPLES) this.samples.push(ms);
  }

  /** Closes the interval: computes its percentiles (-1 if it had no samples) and starts the next one. */
  roll(): void {
    const sorted = this.samples.sort((a, b) => a - b);
    this.count = sorted.length;
    this.p50 = percentile(sorted, 0.5);
    this.p95 = percentile(sorted, 0.95);
    this.samples = [];
  }
}

/** "1.2 Mbit/s" or "850 kbit/s". */
export function formatBitrate(kbps: number): string {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}
