import type { AudioClipFrame } from './audio-clip.js';
import type { PacedPublisher } from './pacing.js';
import { SampleLog } from './stats.js';

/** Delivery to one subscription (one viewer watching one stream). */
export class SubTally {
  /** Frames sent inside the window that reached this viewer before collection closed. */
  frames = 0;
  /** Their payload bytes. */
  bytes = 0;
  /** Every frame seen, inside the window or not (a viewer is "ready" once it has one). */
  seen = 0;
  /** Frames whose identity (seq or timestamp) matched nothing the publisher sent. */
  unmatched = 0;
  /** Audio frames, counted apart from the video ones above (same rules, by the audio track's own seq). */
  audioFrames = 0;
  audioBytes = 0;
  audioSeen = 0;
  audioUnmatched = 0;

  constructor(
    readonly publisher: PacedPublisher,
    /** The stream's audio pacer, when the run sends audio. */
    readonly audioPublisher: PacedPublisher<AudioClipFrame> | null = null,
  ) {}
}

/**
 * Counts what viewers receive during the steady-state window. A frame belongs to the window by the
 * time the publisher sent it; its latency is arrival minus send, both performance.now() of this process.
 */
export class Collector {
  readonly tallies: SubTally[] = [];
  readonly latencies: SampleLog;
  /** Audio latency (arrival minus send), apart from the video's. */
  readonly audioLatencies: SampleLog;
  private from = Number.POSITIVE_INFINITY;
  private to = Number.POSITIVE_INFINITY;
  private open = true;

  constructor(latencyCapacity: number, audioLatencyCapacity = 0) {
    this.latencies = new SampleLog(latencyCapacity);
    this.audioLatencies = new SampleLog(audioLatencyCapacity);
  }

  /** A tally for a new subscription to `publisher`'s stream (and its audio pacer, if it sends audio). */
  subscribe(
    publisher: PacedPublisher,
    audioPublisher: PacedPublisher<AudioClipFrame> | null = null,
  ): SubTally {
    const t = new SubTally(publisher, audioPublisher);
    this.tallies.push(t);
    return t;
  }

  /** Frames sent from now on are in the window. */
  startWindow(now: number): void {
    this.from = now;
  }

  /** Frames sent from now on are not; frames of the window may still arrive until {@link close}. */
  endWindow(now: number): void {
    this.to = now;
  }

  /** Stops counting: a window frame that has not arrived by now counts as dropped. */
  close(): void {
    this.open = false;
  }

  get window(): { from: number; to: number } {
    return { from: this.from, to: this.to };
  }

  /** Hot path: one frame (number `index` of its publisher) reached a viewer at `now`. */
  arrive(t: SubTally, index: number, bytes: number, now: number): void {
    t.seen++;
    const sent = index >= 0 ? t.publisher.sentAt[index] : undefined;
    if (sent === undefined || sent < 0) {
      t.unmatched++;
      return;
    }
    if (!this.open || sent < this.from || sent >= this.to) return;
    t.frames++;
    t.bytes += bytes;
    this.latencies.push(now - sent);
  }

  /** Hot path: audio frame number `index` (its seq) reached a viewer at `now`; video tallies are untouched. */
  arriveAudio(t: SubTally, index: number, bytes: number, now: number): void {
    t.audioSeen++;
    const sent = t.audioPublisher?.sentAt[index];
    if (sent === undefined || sent < 0) {
      t.audioUnmatched++;
      return;
    }
    if (!this.open || sent < this.from || sent >= this.to) return;
    t.audioFrames++;
    t.audioBytes += bytes;
    this.audioLatencies.push(now - sent);
  }
}
