import { encodeMessage, type LinkState } from '../../protocol/index.js';
import { Fifo } from './fifo.js';
import { LinkMonitor } from './link-monitor.js';
import type { Batchable, TickBatcher } from './tick-batcher.js';
import type { Totals } from './totals.js';
import { type Outgoing, outgoing, type Transport } from './transport.js';

/** Per-stream delivery state of one viewer, as the queue policy needs it. */
export interface FrameSink {
  /** True until the next keyframe: delta frames are dropped, since they cannot be decoded. */
  needsKey: boolean;
  framesSent: number;
  framesDropped: number;
  /** Audio frames dropped (cut to the live edge); audio frames sent count in framesSent. */
  audioDropped: number;
}

interface Queued {
  message: Outgoing;
  /** The subscription a frame belongs to; null for control messages, which are never dropped. */
  sink: FrameSink | null;
  /** performance.now() when queued: the age bound is measured from here. */
  at: number;
}

/** Bytes handed to the transport before we hold the rest back where we can still drop it. */
const TRANSPORT_HIGH_WATER = 64 * 1024;

/**
 * Audio waits once the measured backlog passes this many age bounds. Not sooner: on a link too slow for the
 * video, the video written before a drain began (the bound plus what the kernel took before the drain was
 * seen: 1.6 s measured on a 300 kbit/s link) stands before the audio, and the drain clears it; cutting the
 * audio there would only leave gaps. Past it the link carries not even the audio, or the reader stopped.
 */
const AUDIO_CUT_BOUNDS = 4;

/**
 * A held catch-up's first portion, and the least a later one may be before the rest is shed (see
 * continueCatchUp): enough bytes for their delivery time to measure a slow link, as a keyframe sample must be.
 */
const FIRST_PORTION_BYTES = 16 * 1024;

/** Room for control messages above the frame bound before a non-reading peer is cut off. */
const CONTROL_SLACK_BYTES = 256 * 1024;

/** Limits of one viewer's queue. */
export interface QueueLimits {
  maxBytes: number;
  maxAgeMs: number;
  /**
   * Measure the backlog past our own buffers with in-line pings (default on). Off, the queue keeps only
   * the bounds it can see: its tests of those rules turn it off so pings do not interleave with them.
   */
  probes?: boolean;
}

/** What a viewer queue tells its connection. */
export interface QueueHooks {
  /** `sink` lost frames and waits for a keyframe (to request one, and to log). */
  onSkip: (sink: FrameSink) => void;
  /** The viewer's delivery state changed (to tell the viewer, and to log). */
  onLinkState: (state: LinkState, backlogMs: number) => void;
  /** The server's own stalled time so far (StallClock), left out of the viewer's backlog. */
  stalledMs?: () => number;
}

/**
 * The outgoing queue of one connection, and the relay's drop policy (all of it lives here).
 *
 * - A viewer that keeps up gets each frame written straight through, with no queueing or allocation.
 * - One that falls behind (more than `maxBytes` queued, ours plus the transport's, or a queued frame
 *   older than `maxAgeMs`) sheds every frame not yet written and skips to the next keyframe of each
 *   stream that lost frames: whole runs are dropped, never single deltas, so the picture never breaks,
 *   and latency snaps back instead of creeping.
 * - Buffers past ours (the kernel's on both ends, the viewer's own) are measured by pings written in line
 *   with the frames (see LinkMonitor): a viewer whose backlog passes `maxAgeMs` there gets no more frames
 *   until it has read what it holds, then resumes at a keyframe; one whose link cannot carry its streams
 *   gets keyframes only, each once the previous one was read.
 * - Audio (protocol v2) is small and every frame is a starting point: shedding video never touches it, and
 *   it flows in every link state. It is cut only when it would itself arrive too late: queued audio older
 *   than `maxAgeMs` is dropped for the newest frame, and past AUDIO_CUT_BOUNDS × `maxAgeMs` of measured
 *   backlog (a link that cannot carry even the audio, a reader that stopped) audio waits until the backlog
 *   is back within `maxAgeMs`, then resumes with whatever frame is live.
 * - Control messages are never dropped; a peer that lets them pile up past the bound is cut off.
 */
export class ViewerQueue implements Batchable {
  private readonly queue = new Fifo<Queued>();
  private queuedBytes = 0;
  /**
   * Set for connections that watch several streams: their writes of one event-loop turn are corked and
   * flushed together. A one-stream viewer gets one frame per turn, so it writes straight through.
   */
  batching = false;
  private corked = false;
  /** The viewer's backlog through every buffer, and the state it puts the viewer in. */
  readonly link: LinkMonitor;
  /** Streams that lost frames while draining or on keyframes only: they get a keyframe request on resume. */
  private readonly waiting = new Set<FrameSink>();
  private readonly probes: boolean;
  /** While set, queued messages wait for the answer to this probe (a joiner's catch-up, see catchUp). */
  private holdProbeId: number | null = null;
  /** performance.now() when the hold probe was written (its answer times the portion sent before it). */
  private holdStartedAt = 0;
  /** Bytes of the held catch-up sent before the last hold probe (0 while only the keyframe has gone). */
  private holdPortion = 0;
  /**
   * Whether this viewer takes audio frames: a v1 peer cannot decode them (its connection turns this off
   * when its hello says v1).
   */
  audio = true;
  /** Audio frames queued by us, and when the oldest of them was queued (for the audio age bound). */
  private queuedAudio = 0;
  private oldestAudioAt = 0;
  /** Set while the measured backlog has passed AUDIO_CUT_BOUNDS bounds: audio waits (see offerAudio). */
  private audioCut = false;

  constructor(
    private readonly transport: Transport,
    private readonly limits: QueueLimits,
    /** Server-wide counters this queue adds its sent and dropped frames to (plain increments: hot path). */
    private readonly totals: Totals,
    private readonly hooks: QueueHooks,
    private readonly batcher: TickBatcher | null = null,
    now = performance.now(),
  ) {
    this.link = new LinkMonitor(limits.maxAgeMs, now, hooks.stalledMs);
    this.probes = limits.probes !== false;
  }

  /** Bytes this viewer holds: queued by us plus buffered in the transport. */
  get bytes(): number {
    return this.queuedBytes + this.transport.bufferedBytes;
  }

  /** Offers one relayed frame to this viewer; it is sent, queued or dropped by the policy above. */
  offerFrame(sink: FrameSink, message: Outgoing, key: boolean, now: number): void {
    if (message.audio) {
      this.offerAudio(sink, message, now);
      return;
    }
    const size = message.framed.length;
    const link = this.link;
    link.offered(size, now);
    // A catch-up hold lasts at most the age bound: past it what waits is too old anyway.
    if (this.holdProbeId !== null && now - this.holdStartedAt > this.limits.maxAgeMs) this.release(now);
    if (link.behind(now)) this.startDrain(now);
    // Off the live state a frame goes out only if it is a keyframe into an empty pipe (keyframes-only).
    if (link.state !== 'live' && (link.state === 'draining' || !key || !link.clear)) {
      this.holdForLink(sink);
      return;
    }
    if (sink.needsKey && !key) {
      this.countDropped(sink);
      return;
    }
    // Keyframes-only measures each keyframe's delivery; live probes every probeIntervalMs.
    const probe = this.probes && (link.state === 'keyframes-only' || link.probeDue(now));
    // The keyframe's probe times its delivery alone: audio written since the last probe was read meanwhile.
    if (link.state === 'keyframes-only') link.startKeyframeSample();
    if (this.queue.length === 0 && this.canWriteNow(size)) {
      sink.needsKey = false;
      this.writeThrough(sink, message, probe, now);
      return;
    }
    const oldest = this.queue.peek();
    // While a catch-up is held, the bytes bound waits: the held frames are the GOP caches' own buffers
    // (no copies), and the hold ends within the age bound. A joiner of a room holds several GOPs.
    const overBytes = this.holdProbeId === null && this.bytes + size > this.limits.maxBytes;
    const behind = overBytes || (oldest !== undefined && now - oldest.at > this.limits.maxAgeMs);
    if (behind) {
      this.shedFrames();
      if (!key || (this.holdProbeId === null && this.bytes + size > this.limits.maxBytes)) {
        this.skip(sink);
        return;
      }
    }
    if (key) sink.needsKey = false;
    this.enqueue({ message, sink, at: now });
    if (probe) this.writeProbe(now);
  }

  /** Offers one audio frame: sent in every link state, cut only when it would itself be too late. */
  private offerAudio(sink: FrameSink, message: Outgoing, now: number): void {
    if (!this.audio) return;
    const size = message.framed.length;
    const link = this.link;
    link.offered(size, now);
    if (this.holdProbeId !== null && now - this.holdStartedAt > this.limits.maxAgeMs) this.release(now);
    if (link.behind(now)) this.startDrain(now);
    if (this.probes) {
      // Measured, not predicted: audio is cut only for a backlog that is really there.
      const backlog = link.unansweredMs(now);
      if (this.audioCut) this.audioCut = backlog > this.limits.maxAgeMs;
      else this.audioCut = backlog > AUDIO_CUT_BOUNDS * this.limits.maxAgeMs;
      if (this.audioCut) {
        this.countAudioDropped(sink);
        return;
      }
    }
    const probe = this.probes && link.probeDue(now);
    if (this.queue.length === 0 && this.canWriteNow(size)) {
      this.writeThrough(sink, message, probe, now);
      return;
    }
    if (this.queuedAudio > 0 && now - this.oldestAudioAt > this.limits.maxAgeMs) this.shedAudio();
    this.enqueue({ message, sink, at: now });
    if (probe) this.writeProbe(now);
  }

  /** Writes a frame straight to the transport (nothing is queued and it has room), and a probe after it. */
  private writeThrough(sink: FrameSink, message: Outgoing, probe: boolean, now: number): void {
    sink.framesSent++;
    this.countSent(message);
    // One syscall for the frame and its probe, unless this turn's batch is already corked.
    const cork = probe && !this.corked;
    if (cork) this.transport.cork();
    this.write(message);
    if (probe) this.writeProbe(now);
    if (cork) this.transport.uncork();
  }

  /** Forgets a stream this viewer no longer watches (it must not be asked for a keyframe on its behalf). */
  forget(sink: FrameSink): void {
    this.waiting.delete(sink);
  }

  /** Takes a viewer's pong: it says how much of what was written the viewer has read. */
  onPong(id: number, now = performance.now()): void {
    const holdAnswered = this.holdProbeId !== null && id >= this.holdProbeId;
    const state = this.link.answered(id, now);
    // After the answer is counted: its delivery time is what says whether the rest can follow.
    if (holdAnswered) this.continueCatchUp(now);
    if (state === null) return;
    if (state === 'live') {
      // Back at the live edge: each stream that lost frames asks its publisher for a keyframe now.
      for (const sink of this.waiting) this.hooks.onSkip(sink);
      this.waiting.clear();
    }
    this.hooks.onLinkState(state, Math.round(this.link.backlogMs(now)));
  }

  /**
   * Starts `sink` on a cached GOP: the keyframe at once, the deltas after it once the link has shown it
   * can take them within the age bound. On a fresh connection that means once the probe written after the
   * keyframe comes back: on a fast link a round trip later; on a link slower than the stream the deltas
   * have grown older than the bound by then and are shed, and the viewer goes on from the next keyframe
   * rather than spending seconds reading a past it would then have to drain.
   */
  catchUp(sink: FrameSink, gop: readonly Outgoing[], now: number): void {
    const key = gop[0];
    if (key === undefined) return;
    this.offerFrame(sink, key, true, now);
    let rest = 0;
    for (let i = 1; i < gop.length; i++) rest += (gop[i] as Outgoing).framed.length;
    if (this.probes && rest > 0 && this.holdProbeId === null && !this.link.canTake(rest)) {
      this.holdProbeId = this.writeProbe(now);
      this.holdStartedAt = now;
      this.holdPortion = 0;
      // Everything from here queues behind the probe until its answer (pump() holds it back).
      for (let i = 1; i < gop.length; i++) {
        const message = gop[i] as Outgoing;
        if (this.audio || !message.audio) this.enqueue({ message, sink, at: now });
      }
      return;
    }
    for (let i = 1; i < gop.length; i++) this.offerFrame(sink, gop[i] as Outgoing, false, now);
  }

  /** Sends a control message (never dropped). Returns false if the peer has stopped reading. */
  sendControl(message: Outgoing): boolean {
    if (this.queue.length === 0 && this.canWriteNow(message.framed.length)) {
      this.write(message);
      return true;
    }
    this.enqueue({ message, sink: null, at: performance.now() });
    // A held catch-up is not a peer that stopped reading (see offerFrame).
    if (this.holdProbeId !== null) return true;
    if (this.bytes > this.limits.maxBytes + CONTROL_SLACK_BYTES) this.shedFrames();
    return this.bytes <= this.limits.maxBytes + CONTROL_SLACK_BYTES;
  }

  /** Moves queued messages to the transport while it has room; call when the transport drains. */
  pump(): void {
    if (this.holdProbeId !== null) return;
    while (this.transport.bufferedBytes < TRANSPORT_HIGH_WATER && this.sendNext() > 0);
  }

  /** Writes the first queued message; returns its size (0 when nothing waits). */
  private sendNext(): number {
    const item = this.queue.shift();
    if (item === undefined) return 0;
    this.queuedBytes -= item.message.framed.length;
    // The next queued audio frame was queued at or after this one: a bound one frame early at most.
    if (item.message.audio && --this.queuedAudio > 0) this.oldestAudioAt = item.at;
    if (item.sink) {
      item.sink.framesSent++;
      this.countSent(item.message);
    }
    this.write(item.message);
    return item.message.framed.length;
  }

  /** Ends this turn's batch: sends what was corked, then whatever the queue can add. */
  flushBatch(): void {
    this.corked = false;
    this.transport.uncork();
    this.pump();
  }

  /**
   * A held catch-up's probe came back. What waits goes out if the link is known to read it within half the
   * bound (or is shed if it has grown older than the bound). Else it goes out in portions, each with a probe
   * right behind it whose answer measures the link: a keyframe alone (a flat picture is a few KB) passes a
   * shaper's burst at line rate and says nothing of it, and a GOP's deltas sent whole on a link a third of
   * the stream's rate put seconds of frames in the pipe. The first portion is FIRST_PORTION_BYTES; each
   * next one twice the last, or what the last one's delivery (round trip included, so a rate at least as
   * low as the link's) says the link reads in half the bound, if less. Where that is under the first
   * portion, the rest is shed and the viewer goes on from the next keyframe.
   */
  private continueCatchUp(now: number): void {
    const oldest = this.queue.peek();
    if (
      oldest === undefined ||
      now - oldest.at > this.limits.maxAgeMs ||
      this.link.canTake(this.queuedBytes)
    ) {
      this.release(now);
      return;
    }
    let portion = FIRST_PORTION_BYTES;
    if (this.holdPortion > 0) {
      const readsInHalfBound =
        (this.holdPortion * this.limits.maxAgeMs) / 2 / Math.max(1, now - this.holdStartedAt);
      if (this.queuedBytes <= readsInHalfBound) {
        this.release(now);
        return;
      }
      portion = Math.min(2 * this.holdPortion, readsInHalfBound);
      if (portion < FIRST_PORTION_BYTES) {
        this.holdProbeId = null;
        this.shedFrames();
        this.pump();
        return;
      }
    }
    // Past the transport's high water if need be: the portion is bounded, and its probe must follow it.
    let moved = 0;
    while (moved < portion) {
      const size = this.sendNext();
      if (size === 0) break;
      moved += size;
    }
    this.holdPortion = moved;
    this.holdStartedAt = now;
    // Direct: the probe goes right after the portion, not behind what is still held.
    this.holdProbeId = this.writeProbe(now, true);
  }

  /** Ends a catch-up hold: what waited goes out, unless it has grown older than the bound meanwhile. */
  private release(now: number): void {
    this.holdProbeId = null;
    const oldest = this.queue.peek();
    if (oldest !== undefined && now - oldest.at > this.limits.maxAgeMs) this.shedFrames();
    this.pump();
  }

  /** Stops sending frames until everything written has been read; control messages still go. */
  private startDrain(now: number): void {
    this.shedFrames(false);
    const backlog = Math.round(this.link.backlogMs(now));
    this.link.startDrain(now, this.writeProbe(now));
    this.hooks.onLinkState('draining', backlog);
  }

  /** Drops a frame the link state holds back; its stream resumes at a keyframe. */
  private holdForLink(sink: FrameSink): void {
    this.countDropped(sink);
    if (!sink.needsKey) this.waitForKey(sink);
  }

  /** Holds `sink` until a keyframe, asked for when the link is live again (not now: it would be dropped). */
  private waitForKey(sink: FrameSink): void {
    sink.needsKey = true;
    this.waiting.add(sink);
  }

  /**
   * Writes a ping in line with the frames (queued behind them if they are queued, or straight to the
   * transport, ahead of them, if `direct`); returns its id.
   */
  private writeProbe(now: number, direct = false): number {
    const id = this.link.probe(now);
    // The time is for the viewer's clock-offset estimate; the queue times the answer with its own clock.
    const ping = outgoing(encodeMessage({ type: 'ping', id, time: Date.now() * 1000 }));
    if (direct) this.write(ping);
    else this.sendControl(ping);
    return id;
  }

  private write(message: Outgoing): void {
    this.link.written(message.framed.length);
    if (this.batching && !this.corked && this.batcher) {
      this.corked = true;
      this.transport.cork();
      this.batcher.hold(this);
    }
    this.transport.write(message);
  }

  // Bytes count the message without transport framing, as the totals' bytes in do, so out/in compare.
  private countSent(message: Outgoing): void {
    this.totals.framesOut++;
    this.totals.bytesOut += message.body.length;
  }

  private countAudioDropped(sink: FrameSink): void {
    sink.audioDropped++;
    this.totals.framesDropped++;
  }

  private countDropped(sink: FrameSink): void {
    sink.framesDropped++;
    this.totals.framesDropped++;
  }

  private canWriteNow(size: number): boolean {
    const buffered = this.transport.bufferedBytes;
    // An empty transport always takes one message, even one larger than the bound, so a huge keyframe
    // cannot wedge a viewer forever.
    return buffered === 0 || (buffered < TRANSPORT_HIGH_WATER && buffered + size <= this.limits.maxBytes);
  }

  private enqueue(item: Queued): void {
    this.queue.push(item);
    this.queuedBytes += item.message.framed.length;
    if (item.message.audio && this.queuedAudio++ === 0) this.oldestAudioAt = item.at;
  }

  /** Drops every queued audio frame: they are older than the bound, and the newest one is live. */
  private shedAudio(): void {
    const removed = this.queue.retain((item) => !item.message.audio);
    for (const item of removed) {
      this.queuedBytes -= item.message.framed.length;
      this.countAudioDropped(item.sink as FrameSink);
    }
    this.queuedAudio = 0;
  }

  /**
   * Drops every queued video frame (control messages and audio stay); each stream that lost one waits for
   * a keyframe, asked for now (`requestNow`) or when a drain ends.
   */
  private shedFrames(requestNow = true): void {
    const removed = this.queue.retain((item) => item.sink === null || item.message.audio);
    const skipped = new Set<FrameSink>();
    for (const item of removed) {
      this.queuedBytes -= item.message.framed.length;
      const sink = item.sink as FrameSink;
      this.countDropped(sink);
      skipped.add(sink);
    }
    for (const sink of skipped) {
      if (requestNow) this.skip(sink, false);
      else this.waitForKey(sink);
    }
  }

  private skip(sink: FrameSink, countThisFrame = true): void {
    if (countThisFrame) this.countDropped(sink);
    sink.needsKey = true;
    this.hooks.onSkip(sink);
  }
}
