/** Local wall clock in µs since the epoch, with sub-millisecond precision (Date.now() steps by whole ms). */
export function localNowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

interface Sample {
  rttUs: number;
  offsetUs: number;
}

/**
 * Recent ping/pong samples kept: at one ping a second, enough to hold a quick round trip through a while of
 * backlog (a pong queued behind frames makes a slow, lopsided sample), recent enough to follow drift.
 */
const MAX_SAMPLES = 16;

/**
 * The server's clock as seen from a client (the Node client and the page alike), estimated from ping/pong round trips (each pong carries the
 * server's time), trusting the quickest recent one. Frames of browser publishers carry capture times on
 * the server's clock, so a viewer compares them with this rather than with its own clock.
 */
export class ServerClock {
  private readonly samples: Sample[] = [];
  private best: Sample | null = null;

  /** Adds one round trip: sent at local `t0Us`, answered at server time `serverUs`, back at local `t1Us`. */
  addSample(t0Us: number, serverUs: number, t1Us: number): void {
    // Assumes both directions took equally long; the shorter the round trip, the less that can be wrong.
    this.samples.push({ rttUs: t1Us - t0Us, offsetUs: serverUs - (t0Us + t1Us) / 2 });
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

  /** Now on the server's clock, µs since the epoch. */
  nowUs(): number {
    return localNowUs() + this.offsetUs;
  }
}
