/**
 * Default bound on a live frame's age on arrival (capture time to arrival, on the server's clock): above the
 * relay's own bound on a viewer's backlog (500 ms) plus encoding and a probe's reaction time, so a viewer
 * the relay keeps live never trips it; below what a person watching notices as "no longer live".
 */
export const DEFAULT_MAX_LATENCY_MS = 1000;

/** What to do with one frame: pass it on, or discard it (`first` when it starts a run of discards). */
export type StaleVerdict = 'pass' | 'discard' | 'discard-first';

/**
 * The viewer's own half of staying at the live edge, per stream: a delta that arrives older than the bound
 * starts a run of discards that ends at the next keyframe, so a player or recording gets a jump to the
 * present instead of a backlog it would play out late (a delta cannot be decoded without those before it,
 * so the run cannot end sooner). Keyframes always pass: one is the newest picture there is, old or not.
 */
export class StaleFrames {
  private discarding = false;

  /** `maxLatencyMs` 0 passes everything. */
  constructor(private readonly maxLatencyMs: number) {}

  /** Judges one live frame (never the catch-up burst, which is old by design) that arrived `ageMs` old. */
  check(key: boolean, ageMs: number): StaleVerdict {
    if (key) {
      this.discarding = false;
      return 'pass';
    }
    if (this.discarding) return 'discard';
    if (this.maxLatencyMs === 0 || ageMs <= this.maxLatencyMs) return 'pass';
    this.discarding = true;
    return 'discard-first';
  }
}
