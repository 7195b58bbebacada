// Latency samples kept per window: at 1000 fps the median is still exact, and memory stays fixed.
const MAX_LATENCY_SAMPLES = 1000;

/**
 * One window's figures: frames per second, kbit/s, latency p50/p95 (ms, null when unknown), drops (of
 * which `discarded` arrived but were too old to pass on), and the frames of a catch-up burst (the server's
 * cached GOP on joining), which the live figures leave out.
 */
export interface MeterReading {
  fps: number;
  kbps: number;
  latencyMs: number | null;
  latencyP95Ms: number | null;
  drops: number;
  /** Runs of lost frames (each {@link Meter.drop} call): `drops` frames were lost in this many gaps. */
  gaps: number;
  discarded: number;
  catchUp: number;
}

/**
 * The A/V offset of one window, ms: the audio track's median arrival latency minus the video's, or null
 * when either is unknown. Latencies are capture-to-arrival on the publisher's clock for both tracks, so
 * any clock difference between the machines cancels: > 0 means the sound arrives later than the picture
 * captured at the same instant.
 */
export function avOffsetMs(audio: MeterReading, video: MeterReading): number | null {
  if (audio.latencyMs === null || video.latencyMs === null) return null;
  return audio.latencyMs - video.latencyMs;
}

/** Counts frames, bytes, latencies and drops, and reads them out per window (typically a second). */
export class Meter {
  private frames = 0;
  private bytes = 0;
  private drops = 0;
  private gaps = 0;
  private discarded = 0;
  private catchUp = 0;
  private latencies: number[] = [];
  private windowStart = performance.now();
  /** Totals since the meter started. */
  totalFrames = 0;
  totalDrops = 0;
  totalDiscarded = 0;

  /** Records one frame of `bytes`; `latencyMs` when it is known. */
  frame(bytes: number, latencyMs?: number): void {
    this.frames++;
    this.totalFrames++;
    this.bytes += bytes;
    if (latencyMs !== undefined && this.latencies.length < MAX_LATENCY_SAMPLES)
      this.latencies.push(latencyMs);
  }

  /**
   * Records a frame that arrived too old to pass on: a drop, not a frame of the rate, but its latency counts
   * (latency is capture to arrival, and it is what says how far behind the link is).
   */
  discard(latencyMs: number): void {
    this.drop();
    this.discarded++;
    this.totalDiscarded++;
    if (this.latencies.length < MAX_LATENCY_SAMPLES) this.latencies.push(latencyMs);
  }

  /** Records a frame of the catch-up burst: passed on, but not part of the live rate or latency. */
  catchUpFrame(): void {
    this.catchUp++;
    this.totalFrames++;
  }

  /** Records `n` frames lost. */
  drop(n = 1): void {
    this.gaps++;
    this.drops += n;
    this.totalDrops += n;
  }

  /** Figures since the last reading, and starts a new window. */
  read(): MeterReading {
    const now = performance.now();
    const seconds = Math.max((now - this.windowStart) / 1000, 1e-3);
    const reading: MeterReading = {
      fps: this.frames / seconds,
      kbps: (this.bytes * 8) / 1000 / seconds,
      latencyMs: percentile(this.latencies, 0.5),
      latencyP95Ms: percentile(this.latencies, 0.95),
      drops: this.drops,
      gaps: this.gaps,
      discarded: this.discarded,
      catchUp: this.catchUp,
    };
    this.frames = 0;
    this.bytes = 0;
    this.drops = 0;
    this.gaps = 0;
    this.discarded = 0;
    this.catchUp = 0;
    this.latencies = [];
    this.windowStart = now;
    return reading;
  }
}

/** The `q` quantile (0.5 = median, nearest rank below) of `values`, or null for none. */
export function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) * q)] ?? null;
}
