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
}

/** Unanswered probes kept at most; past this none is sent until answers come (the oldest says enough). */
const MAX_OUTSTANDING = 64;
/** Time live after a resume that shows the link carries the streams; a fall sooner counts against it. */
const LIVE_PROOF_MS = 5000;
/** Falls in a row, each within LIVE_PROOF_MS of resuming, after which only keyframes are sent. */
const FALLS_TO_KEYFRAMES_ONLY = 2;
/** Headroom the link must show over what the viewer's streams need before full rate is tried again. */
const RATE_HEADROOM = 1.25;
/** From keyframes-only, full rate is tried again at least this often, whatever the estimate says. */
const RETRY_LIVE_MS = 30_000;
/** The offered rate is measured over windows this long. */
const RATE_WINDOW_MS = 1000;

/**
 * How far behind one viewer really is, through every buffer: ours, Node's, the kernel's on both ends and
 * the viewer's own. The queue writes a ping in line with the frames; its pong comes back only once the
 * viewer has read everything written before it, so the age of the oldest unanswered ping (less the base
 * round trip) is the viewer's backlog, wherever the bytes sit. From that it keeps the viewer's state:
 *
 * - `live`: every frame is sent; a backlog past the bound starts a drain.
 * - `draining`: nothing but control messages is sent until a ping written at the start of the drain
 *   comes back (the pipe is empty); then live again from the next keyframe.
 * - `keyframes-only`: after falling behind twice soon after resuming, the link cannot carry the streams:
 *   a keyframe is sent only when the previous one has been read, so the picture stays at the live edge.
 *   Each keyframe's delivery measures the link; full rate is tried again once it shows room for the
 *   streams (or every RETRY_LIVE_MS in any case).
 *
 * Pure bookkeeping with the clock passed in; the viewer queue acts on what it says.
 */
export class LinkMonitor {
  state: LinkState = 'live';
  readonly probeIntervalMs: number;
  private readonly probes = new Fifo<Probe>();
  private nextId = 1;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private bytesSinceProbe = 0;
  /** Smallest probe round trip seen: the link's own delay, which is not backlog. */
  private baseRttMs = Number.POSITIVE_INFINITY;
  private lastBacklogMs = 0;
  /** While draining: the probe whose answer means the pipe is empty. */
  private drainProbeId = 0;
  private liveSince: number;
  private quickFalls = 0;
  private keyframesOnlySince = 0;
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
    this.liveSince = now;
    this.windowStart = now;
  }

  /** The backlog now, ms: the oldest unanswered probe's age, or the last answered one's delay. */
  backlogMs(now: number): number {
    const oldest = this.probes.peek();
    if (oldest === undefined) return this.lastBacklogMs;
    return Math.max(this.lastBacklogMs, this.age(oldest, now) - this.baseRtt());
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
    return (
      this.state === 'live' &&
      now - this.lastProbeAt >= this.probeIntervalMs &&
      this.probes.length < MAX_OUTSTANDING
    );
  }

  /** Registers a probe about to be written; returns its ping id (never 0, which keep-alives use). */
  probe(now: number): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    this.probes.push({ id, at: now, stalledAt: this.stalledMs(), bytes: this.bytesSinceProbe });
    this.bytesSinceProbe = 0;
    this.lastProbeAt = now;
    return id;
  }

  /**
   * True when a live viewer's backlog has stayed past the bound for a probe interval: the caller should
   * start a drain. Only unanswered probes count (an answered one's delay is history), and the wait tells
   * a slow viewer from a stall of our own: after the event loop was blocked, every probe looks old until
   * the pongs waiting in our socket are read, which takes a turn or two, not a probe interval.
   */
  behind(now: number): boolean {
    const oldest = this.probes.peek();
    if (
      this.state !== 'live' ||
      oldest === undefined ||
      now - oldest.at - this.baseRtt() <= this.maxBacklogMs
    ) {
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
    let probe = this.probes.shift() as Probe;
    while (probe.id !== id) probe = this.probes.shift() as Probe;
    const delay = this.age(probe, now);
    this.baseRttMs = Math.min(this.baseRttMs, delay);
    this.lastBacklogMs = Math.max(0, delay - this.baseRtt());
    if (this.state === 'draining' && id === this.drainProbeId) {
      if (this.quickFalls >= FALLS_TO_KEYFRAMES_ONLY) {
        this.state = 'keyframes-only';
        this.keyframesOnlySince = now;
      } else {
        this.resume(now);
      }
      return this.state;
    }
    if (this.state === 'keyframes-only' && probe.bytes > 0) {
      // The probe followed a keyframe written into an empty pipe: its delivery time is the link's rate.
      const linkRate = (probe.bytes * 1000) / Math.max(1, this.lastBacklogMs);
      if (linkRate >= RATE_HEADROOM * this.offeredRate || now - this.keyframesOnlySince >= RETRY_LIVE_MS) {
        this.resume(now);
        // One quick fall is enough to come back here: the link has failed this rate before.
        this.quickFalls = FALLS_TO_KEYFRAMES_ONLY - 1;
        return this.state;
      }
    }
    return null;
  }

  /** How long `probe` has waited for its answer, less the time the server itself was stalled. */
  private age(probe: Probe, now: number): number {
    return now - probe.at - (this.stalledMs() - probe.stalledAt);
  }

  private resume(now: number): void {
    this.state = 'live';
    this.liveSince = now;
  }

  private baseRtt(): number {
    return Number.isFinite(this.baseRttMs) ? this.baseRttMs : 0;
  }
}
