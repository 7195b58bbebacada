import { round } from './stats.js';

/**
 * Latencies in 1 ms bins up to a ceiling: constant memory and O(1) per sample however many frames a minute
 * brings (a hundred viewers make a million samples a minute). 1 ms is the clock's own resolution here:
 * capture and arrival are both Date.now(), the one clock every process on the machine shares.
 */
export class LatencyHistogram {
  private readonly bins: Uint32Array;
  count = 0;
  max = 0;

  constructor(private readonly ceilingMs = 60_000) {
    this.bins = new Uint32Array(ceilingMs + 1);
  }

  /** Adds one latency; below 0 (a clock step) counts as 0, above the ceiling as the ceiling. */
  add(ms: number): void {
    const bin = Math.min(this.ceilingMs, Math.max(0, Math.round(ms)));
    this.bins[bin] = (this.bins[bin] as number) + 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile (0..1) by nearest rank, in ms; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let ms = 0; ms < this.bins.length; ms++) {
      seen += this.bins[ms] as number;
      if (seen >= rank) return ms;
    }
    return this.ceilingMs;
  }

  /** Empties it for the next period. */
  clear(): void {
    this.bins.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

/** One viewer group's figures over one minute. */
export interface GroupMinute {
  /** Frames whose latency was measured. */
  frames: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Frames per second of the steady stream, per viewer watching it throughout; null if none did. */
  fps: number | null;
  /** Frames the relay skipped for these viewers at the live edge (gaps in each stream's sequence). */
  drops: number;
  /** Frames skipped right after a joiner's catch-up (its cached GOP shed): the cost of joining. */
  joinDrops: number;
}

/** A group of viewers (healthy, shaped): what its viewers received, summed into per-minute figures. */
export class ViewerGroup {
  private readonly latency = new LatencyHistogram();
  private fpsFrames = 0;
  private fpsSeconds = 0;
  private dropped = 0;
  private joinDropped = 0;

  constructor(readonly name: string) {}

  /** One frame arrived `latencyMs` after its capture. */
  frame(latencyMs: number): void {
    this.latency.add(latencyMs);
  }

  /** One viewer received `frames` of the steady stream over `seconds` it watched it throughout. */
  watched(frames: number, seconds: number): void {
    this.fpsFrames += frames;
    this.fpsSeconds += seconds;
  }

  /** The relay skipped `n` frames for one viewer (a gap in a stream's sequence), on joining or not. */
  drops(n: number, joining: boolean): void {
    if (joining) this.joinDropped += n;
    else this.dropped += n;
  }

  /** The figures since the last call, and a fresh start for the next minute. */
  closeMinute(): GroupMinute {
    const h = this.latency;
    const figures: GroupMinute = {
      frames: h.count,
      p50Ms: h.count ? h.quantile(0.5) : null,
      p99Ms: h.count ? h.quantile(0.99) : null,
      maxMs: h.count ? round(h.max, 1) : null,
      fps: this.fpsSeconds ? round(this.fpsFrames / this.fpsSeconds, 1) : null,
      drops: this.dropped,
      joinDrops: this.joinDropped,
    };
    h.clear();
    this.fpsFrames = 0;
    this.fpsSeconds = 0;
    this.dropped = 0;
    this.joinDropped = 0;
    return figures;
  }
}

/**
 * Follows one viewer's sequence numbers per stream: the relay may skip frames, but only whole runs up to a
 * keyframe, so a gap must end on one. Tells `onDrops` how many frames each gap skipped, and whether it came
 * right after the viewer's catch-up (the cached GOP a joiner gets first, shed when it would arrive older
 * than the bound): that is the cost of joining, not a loss at the live edge.
 */
export class SequenceWatch {
  /** Gaps that ended on a keyframe (allowed) and that did not (a policy violation). */
  gapsToKeyframe = 0;
  violations = 0;
  private readonly lastSeq = new Map<number, number>();
  /** Streams whose last frame was catch-up. */
  private readonly catchingUp = new Set<number>();

  constructor(private readonly onDrops: (frames: number, joining: boolean) => void) {}

  /** Checks frame `seq` of `streamId`; `catchUp` when it was captured before the viewer subscribed. */
  frame(streamId: number, seq: number, key: boolean, catchUp: boolean): void {
    const last = this.lastSeq.get(streamId);
    if (last !== undefined && seq !== last + 1) {
      if (seq > last) this.onDrops(seq - last - 1, this.catchingUp.has(streamId));
      if (key) this.gapsToKeyframe++;
      else this.violations++;
    }
    this.lastSeq.set(streamId, seq);
    if (catchUp) this.catchingUp.add(streamId);
    else this.catchingUp.delete(streamId);
  }

  /** Forgets a stream that ended (its id is not reused, but the maps must not grow with churn). */
  forget(streamId: number): void {
    this.lastSeq.delete(streamId);
    this.catchingUp.delete(streamId);
  }
}
