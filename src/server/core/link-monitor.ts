import type { LinkState } from '../../protocol/index.js';
import { Fifo } from './fifo.js';

/** A ping written in line with the frames, waiting for its pong. */
interface Probe {
  id: number;
  /** performance.now() when written. */
  at: number;
  /** The server's own stalled time (StallClock) when written: later stalls are not the viewer's. */
  stalledAt: number;
  /** Bytes written to the viewer since the previous probe: what had to be read before this one. */
  bytes: number;
  /** performance.now() from which those bytes were written: the previous probe's time, or this one's. */
  since: number;
}

/** Unanswered probes kept at most; past this none is sent until answers come (the oldest says enough). */
const MAX_OUTSTANDING = 64;
/** Time live after a resume that shows the link carries the streams; a fall sooner counts against it. */
const LIVE_PROOF_MS = 5000;
/** Falls in a row, each within LIVE_PROOF_MS of resuming, after which only keyframes are sent. */
const FALLS_TO_KEYFRAMES_ONLY = 2;
/** Headroom the link must show over what the viewer's streams need before full rate is tried again. */
const RATE_HEADROOM = 1.25;
/**
 * From keyframes-only, full rate is tried again at least this often, whatever the estimate says: the
 * sender's congestion control (BBR's pacing rate, say) can keep a link that has recovered looking slow
 * for many seconds, and a failed try costs one fall, within the bound.
 */
const RETRY_LIVE_MS = 10_000;
/**
 * While full rate is on trial (after keyframes-only), a fall comes once the oldest unanswered probe is this
 * share of the bound old, and probes go at the quick pace. On a link a third of the stream's rate, what
 * the trial wrote takes three times its length to read: caught at the usual bound (and the calm pace, the
 * link having been idle between keyframes), a try put 2.5–3.3 s of frames in the pipe; CI saw a viewer's
 * latency pass its bound each time one failed.
 */
const TRIAL_BOUND_SHARE = 0.5;
/** A reading-rate sample spans at least this long: pongs read together say nothing about the rate. */
const MIN_RATE_SAMPLE_MS = 10;
/** The offered rate is measured over windows this long. */
const RATE_WINDOW_MS = 1000;
/**
 * In keyframes-only, the link's rate is judged from at least this much of the stream's offered bytes per
 * second in keyframes (summed over as many as it takes). One small keyframe (a dark or a white picture:
 * the CLI's test pattern flashes white on its keyframes, 2.5 KB) passes a shaper's burst at line rate and
 * made a 300 kbit/s link look fast enough for 1 Mbit/s every other keyframe.
 */
const KEYFRAME_SAMPLE_SECONDS = 0.25;
/** The least a keyframe sample must hold, whatever the stream's rate. */
const MIN_KEYFRAME_SAMPLE_BYTES = 16 * 1024;

export class LinkMonitor {
  state: LinkState = 'live';
  /** Probe spacing while there is any sign of a backlog: a quarter of the bound. */
  readonly probeIntervalMs: number;
  /** Probe spacing for a viewer that answers at once: a probe costs it a pong, and us a read. */
  private readonly calmIntervalMs: number;
  private readonly probes = new Fifo<Probe>();
  private nextId = 1;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private bytesSinceProbe = 0;
  /** Bytes written before the newest probe and not yet read (the unanswered probes' bytes). */
  private unreadBytes = 0;
  /** The last answered probe's round trip, ms: the backlog shown when nothing waits. */
  private lastDelayMs = 0;
  /** performance.now() of the last pong. */
  private lastPongAt = Number.NEGATIVE_INFINITY;
  /** Bytes per second the viewer reads while it has a backlog (its link's rate); 0 until measured. */
  private readRate = 0;
  /** Bytes read, and since when, not yet in a rate sample (the span was too short). */
  private sampleBytes = 0;
  private sampleSince = 0;
  /** While draining: the probe whose answer means the pipe is empty. */
  private drainProbeId = 0;
  private liveSince: number;
  private quickFalls = 0;
  private keyframesOnlySince = 0;
  /** performance.now() when full rate was last tried again from keyframes-only; null before. */
  private trialSince: number | null = null;
  /** Keyframe bytes delivered, and the time they took, not yet enough for a sample (keyframes-only). */
  private keyframeBytes = 0;
  private keyframeMs = 0;
  /** performance.now() since which the backlog has been over the bound without a break; null if not. */
  private overSince: number | null = null;
  private windowStart: number;
  private windowBytes = 0;
  /** Bytes per second offered to this viewer (every frame of its streams, sent or not). */
  private offeredRate = 0;

  constructor(
    private readonly maxBacklogMs: number,
    now: number,
    /** The server's stalled time so far (StallClock.stalledMs); ages leave it out. */
    private readonly stalledMs: () => number = () => 0,
  ) {
    // Four probes per bound: a fall is seen within a quarter of the bound after it happens.
    this.probeIntervalMs = Math.min(250, Math.max(20, maxBacklogMs / 4));
    // A viewer that keeps up is probed four times less often: its pongs were most of the probes' cost
    // at 1000 viewers. A probe that goes unanswered still ages from when it was written, so a viewer
    // that slows down is seen at most this much later, and then probed at the quick pace.
    this.calmIntervalMs = this.probeIntervalMs * 4;
    this.liveSince = now;
    this.windowStart = now;
  }

  /** The backlog now, ms: the oldest unanswered probe's age or the prediction, whichever is larger. */
  backlogMs(now: number): number {
    const oldest = this.probes.peek();
    if (oldest === undefined) return this.lastDelayMs;
    return Math.max(this.age(oldest, now), this.predictedMs());
  }

  /**
   * How long the oldest unanswered probe has waited, ms; 0 when none waits. Measured only, never
   * predicted: a burst just written (a pushed Matroska cluster) predicts a backlog the viewer may read at once.
   */
  unansweredMs(now: number): number {
    const oldest = this.probes.peek();
    return oldest === undefined ? 0 : this.age(oldest, now);
  }

  /** True when the viewer is known to read `bytes` more within half the bound (its rate was measured). */
  canTake(bytes: number): boolean {
    return (
      this.readRate > 0 &&
      ((this.unreadBytes + this.bytesSinceProbe + bytes) * 1000) / this.readRate <= this.maxBacklogMs / 2
    );
  }

  /** True when nothing written is still unread (no probe waits for its answer). */
  get clear(): boolean {
    return this.probes.length === 0;
  }

  /** Counts a frame offered to this viewer, sent or not: the rate its streams need. */
  offered(bytes: number, now: number): void {
    this.windowBytes += bytes;
    const elapsed = now - this.windowStart;
    if (elapsed < RATE_WINDOW_MS) return;
    const rate = (this.windowBytes * 1000) / elapsed;
    this.offeredRate = this.offeredRate === 0 ? rate : 0.7 * this.offeredRate + 0.3 * rate;
    this.windowStart = now;
    this.windowBytes = 0;
  }

  /** Counts bytes written to the viewer (they must be read before the next probe comes back). */
  written(bytes: number): void {
    this.bytesSinceProbe += bytes;
  }

  /** True when a live viewer is due another probe. */
  probeDue(now: number): boolean {
    if (this.state !== 'live' || this.probes.length >= MAX_OUTSTANDING) return false;
    const calm =
      this.probes.length === 0 && this.lastDelayMs < this.probeIntervalMs / 2 && !this.onTrial(now);
    return now - this.lastProbeAt >= (calm ? this.calmIntervalMs : this.probeIntervalMs);
  }

  /**
   * In keyframes-only, a keyframe is about to go into an empty pipe: its probe's answer measures the link
   * from the keyframe's bytes alone. The bytes written since the last probe (audio, which keeps flowing)
   * went out before, mostly read by now; counted as the keyframe's, they made a 300 kbit/s link look fast
   * enough for full rate every few seconds.
   */
  startKeyframeSample(): void {
    this.bytesSinceProbe = 0;
  }

  /** Registers a probe about to be written; returns its ping id (never 0, which keep-alives use). */
  probe(now: number): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    // A stream's bytes are written at its frame rate, so those of this probe began right after the
    // previous probe; in keyframes-only the one keyframe was written just now.
    const since = this.state === 'live' && Number.isFinite(this.lastProbeAt) ? this.lastProbeAt : now;
    this.probes.push({ id, at: now, stalledAt: this.stalledMs(), bytes: this.bytesSinceProbe, since });
    this.unreadBytes += this.bytesSinceProbe;
    this.bytesSinceProbe = 0;
    this.lastProbeAt = now;
    return id;
  }

  /**
   * True when a live viewer's backlog has stayed past the bound for a probe interval: the caller should
   * start a drain. Past the bound means the oldest unanswered probe is older than the bound, or, once it
   * is half that old (so a mere keyframe in flight does not count), the unread bytes at the viewer's
   * reading rate say so. The wait tells a slow viewer from a stall of our own: after the event loop was
   * blocked, every probe looks old until the pongs waiting in our socket are read, a turn or two later.
   */
  behind(now: number): boolean {
    const oldest = this.probes.peek();
    const age = oldest === undefined ? 0 : this.age(oldest, now);
    const bound = this.onTrial(now) ? this.maxBacklogMs * TRIAL_BOUND_SHARE : this.maxBacklogMs;
    const over =
      this.state === 'live' && (age > bound || (age > bound / 2 && this.predictedMs() > this.maxBacklogMs));
    if (!over) {
      this.overSince = null;
      return false;
    }
    this.overSince ??= now;
    return now - this.overSince >= this.probeIntervalMs;
  }

  /** Enters `draining`; the caller writes a probe right after and passes its id. */
  startDrain(now: number, probeId: number): void {
    this.overSince = null;
    this.quickFalls = now - this.liveSince < LIVE_PROOF_MS ? this.quickFalls + 1 : 1;
    this.state = 'draining';
    this.drainProbeId = probeId;
  }

  /**
   * Takes the pong of probe `id` (pongs come back in order; an unknown id is ignored) and returns the new
   * state if this answer changed it, else null.
   */
  answered(id: number, now: number): LinkState | null {
    // Ids only grow (a wrap takes years of probes), so one outside [oldest, newest] is not ours.
    const oldest = this.probes.peek();
    if (oldest === undefined || id < oldest.id || id >= this.nextId) return null;
    // A pong answers its probe and every earlier one (they were read first).
    let read = 0;
    const since = oldest.since;
    let probe: Probe;
    do {
      probe = this.probes.shift() as Probe;
      read += probe.bytes;
    } while (probe.id !== id);
    this.unreadBytes -= read;
    this.lastDelayMs = this.age(probe, now);
    // The viewer read these bytes between the moment they began to be written (or it finished the
    // previous ones, if later) and now: no faster than its link, and as fast when it had a backlog.
    if (this.state === 'keyframes-only') {
      // Keyframes written into an empty pipe: their delivery times alone are the link's rate, now, once
      // they add up to enough bytes to say so (KEYFRAME_SAMPLE_SECONDS).
      this.keyframeBytes += read;
      this.keyframeMs += Math.max(1, this.lastDelayMs);
      if (
        this.keyframeBytes >= Math.max(MIN_KEYFRAME_SAMPLE_BYTES, this.offeredRate * KEYFRAME_SAMPLE_SECONDS)
      ) {
        this.readRate = (this.keyframeBytes * 1000) / this.keyframeMs;
        this.keyframeBytes = 0;
        this.keyframeMs = 0;
      }
      this.sampleBytes = 0;
    } else {
      this.measureRate(read, Math.max(since, this.lastPongAt), now);
    }
    this.lastPongAt = now;
    if (this.state === 'draining' && id === this.drainProbeId) {
      if (this.quickFalls >= FALLS_TO_KEYFRAMES_ONLY) {
        this.state = 'keyframes-only';
        this.keyframesOnlySince = now;
        this.keyframeBytes = 0;
        this.keyframeMs = 0;
      } else {
        this.resume(now);
      }
      return this.state;
    }
    if (
      this.state === 'keyframes-only' &&
      (this.readRate >= RATE_HEADROOM * this.offeredRate || now - this.keyframesOnlySince >= RETRY_LIVE_MS)
    ) {
      this.resume(now);
      this.trialSince = now;
      // One quick fall is enough to come back here: the link has failed this rate before.
      this.quickFalls = FALLS_TO_KEYFRAMES_ONLY - 1;
      return this.state;
    }
    return null;
  }

  /** What the unread bytes take to read at the viewer's measured rate, ms; 0 while the rate is unknown. */
  private predictedMs(): number {
    if (this.readRate === 0) return 0;
    return ((this.unreadBytes + this.bytesSinceProbe) * 1000) / this.readRate;
  }

  /** Adds `bytes` read from `since` to `now` to the reading rate, once a sample spans long enough. */
  private measureRate(bytes: number, since: number, now: number): void {
    if (this.sampleBytes === 0) this.sampleSince = since;
    this.sampleBytes += bytes;
    const ms = now - this.sampleSince;
    if (this.sampleBytes === 0 || ms < MIN_RATE_SAMPLE_MS) return;
    const rate = (this.sampleBytes * 1000) / ms;
    this.readRate = this.readRate === 0 ? rate : 0.5 * this.readRate + 0.5 * rate;
    this.sampleBytes = 0;
  }

  /** How long `probe` has waited for its answer, less the time the server itself was stalled. */
  private age(probe: Probe, now: number): number {
    // Never below zero: the stall clock's lateness can include work that did not hold this answer up.
    return Math.max(0, now - probe.at - (this.stalledMs() - probe.stalledAt));
  }

  /** True while full rate is tried again after keyframes-only and the link has not yet shown it carries it. */
  private onTrial(now: number): boolean {
    return this.trialSince !== null && now - this.trialSince < LIVE_PROOF_MS;
  }

  private resume(now: number): void {
    this.state = 'live';
    this.liveSince = now;
  }
}
