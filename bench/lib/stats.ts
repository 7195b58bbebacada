/** A bounded log of samples (latencies in ms) in one typed array: no allocation per sample. */
export class SampleLog {
  private data: Float64Array;
  private n = 0;
  /** Samples refused because the log was full (reported, so a too-small bound is visible). */
  overflow = 0;

  constructor(private readonly capacity: number) {
    this.data = new Float64Array(Math.min(capacity, 4096));
  }

  push(v: number): void {
    if (this.n === this.data.length) {
      if (this.n >= this.capacity) {
        this.overflow++;
        return;
      }
      const grown = new Float64Array(Math.min(this.capacity, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = v;
  }

  get count(): number {
    return this.n;
  }

  /** The samples, sorted ascending (a copy). */
  sorted(): Float64Array {
    return this.data.slice(0, this.n).sort();
  }
}

/** The q-quantile (0..1) of ascending `sorted` by nearest rank; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** Median of numbers (NaN when empty). */
export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Rounds for display and JSON: figures beyond 3 significant decimals are noise here. */
export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
