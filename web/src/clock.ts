// The server's clock, as seen from the page: frames carry capture times on the server's clock so that every
// viewer can measure glass-to-glass latency against one clock, whatever the clocks of the machines say.

/** Local wall clock in µs since the epoch, with sub-millisecond precision. */
export function localNowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

interface Sample {
  rttUs: number;
  offsetUs: number;
}

/** How many recent ping/pong samples are kept: enough to find one quick round trip, recent enough to follow drift. */
const MAX_SAMPLES = 16;

/** Estimates the server clock's offset from ping/pong round trips, trusting the quickest recent one. */
export class ServerClock {
  private samples: Sample[] = [];
  private best: Sample | null = null;

  /** Adds one round trip: sent at local `t0`, answered at server time `serverUs`, received at local `t1`. */
  addSample(t0Us: number, serverUs: number, t1Us: number): void {
    // The estimate assumes both directions take equally long; the smaller the round trip, the less that matters.
    const sample = { rttUs: t1Us - t0Us, offsetUs: serverUs - (t0Us + t1Us) / 2 };
    this.samples.push(sample);
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    this.best = this.samples.reduce((a, b) => (b.rttUs < a.rttUs ? b : a));
  }

  /** True once at least one round trip has been measured. */
  get synced(): boolean {
    return this.best !== null;
  }

  /** Estimated server time minus local time, µs (0 before the first sample). */
  get offsetUs(): number {
    return this.best?.offsetUs ?? 0;
  }

  /** Round trip of the sample the offset comes from, ms; -1 before the first sample. */
  get rttMs(): number {
    return this.best ? this.best.rttUs / 1000 : -1;
  }

  /** Now, on the server's clock, µs since the epoch. */
  nowUs(): number {
    return localNowUs() + this.offsetUs;
  }
}
