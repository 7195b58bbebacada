import { type DecoderConfig, encodeMessage, type Message } from '../../protocol/index.js';
import { GopCache } from './gop-cache.js';
import type { Room } from './room.js';
import type { StreamTap } from './stream-tap.js';
import type { Subscription } from './subscription.js';
import type { Totals } from './totals.js';
import { type Outgoing, outgoing } from './transport.js';

/** Who feeds a stream: a client connection, or the server's own ingest of a pushed stream. */
export interface Publisher {
  /** The streams it feeds, by id: a stream adds itself as it opens and removes itself as it closes. */
  readonly published: Map<number, Stream>;
  /** Sends it a control message (a keyframe request); an ingest that cannot ask its encoder ignores it. */
  send(message: Message): void;
}

/** Seconds of average rate a publisher may send in one burst. */
const BURST_SECONDS = 3;

/**
 * A live stream: exists while its publisher is connected; fans each frame out to its subscribers. It
 * joins its room and its publisher as it is made and leaves both in {@link close}.
 */
export class Stream {
  private readonly subs = new Set<Subscription>();
  private readonly tapSet = new Set<StreamTap>();
  readonly gop: GopCache;
  /** The stream-added message, encoded once and sent to every viewer that joins. */
  readonly added: Outgoing;
  readonly startedAt = Date.now();
  framesIn = 0;
  bytesIn = 0;
  keyframes = 0;
  /** Frames and kbit/s over the last sampling interval (see {@link sampleRates}). */
  fps = 0;
  bitrateKbps = 0;
  /** Set once the stream has ended: nothing joins it after that. */
  closed = false;
  private sampledFrames = 0;
  private sampledBytes = 0;
  private lastKeyframeRequest = Number.NEGATIVE_INFINITY;
  /** Byte budget of the rate limit (a token bucket), and when it was last refilled. */
  private credit: number;
  private creditAt = performance.now();

  constructor(
    readonly id: number,
    readonly room: Room,
    readonly name: string,
    readonly config: DecoderConfig,
    readonly publisher: Publisher,
    gopCacheBytes: number,
    private readonly maxBytesPerSec: number,
    private readonly totals: Totals,
  ) {
    this.gop = new GopCache(gopCacheBytes);
    room.addStream(this);
    publisher.published.set(id, this);
    this.credit = maxBytesPerSec * BURST_SECONDS;
    this.added = outgoing(
      encodeMessage({ type: 'stream-added', streamId: id, room: room.name, name, config }),
    );
  }

  /**
   * Charges `bytes` to the stream's rate limit; false when the publisher has sent more than its average
   * allows. The bucket holds a few seconds of budget, so keyframes and short bursts pass.
   */
  spend(bytes: number, now: number): boolean {
    const cap = this.maxBytesPerSec * BURST_SECONDS;
    this.credit = Math.min(cap, this.credit + ((now - this.creditAt) * this.maxBytesPerSec) / 1000);
    this.creditAt = now;
    this.credit -= bytes;
    return this.credit >= 0;
  }

  /** Why {@link spend} refused, for the error the publisher gets: the limit in kbit/s. */
  get overLimitMessage(): string {
    return `stream ${this.name} sends more than ${Math.round((this.maxBytesPerSec * 8) / 1000)} kbit/s`;
  }

  /** Viewer connections receiving this stream. */
  get subscriptions(): ReadonlySet<Subscription> {
    return this.subs;
  }

  /** In-process consumers: live HTTP viewers and recordings. */
  get taps(): ReadonlySet<StreamTap> {
    return this.tapSet;
  }

  /** Relays one frame: the same bytes are offered to every subscriber's queue (hot path). */
  relay(frame: Outgoing, key: boolean, now: number): void {
    this.framesIn++;
    this.bytesIn += frame.body.length;
    this.totals.framesIn++;
    this.totals.bytesIn += frame.body.length;
    if (key) this.keyframes++;
    this.gop.add(frame, key);
    for (const sub of this.subs) sub.conn.queue.offerFrame(sub, frame, key, now);
    for (const tap of this.tapSet) tap.frame(frame, key);
  }

  /** Viewers of every kind: connections plus in-process taps (the per-stream viewer limit counts both). */
  get viewerCount(): number {
    return this.subs.size + this.tapSet.size;
  }

  /** Called by a subscription as it opens (see {@link Subscription}). */
  addSubscription(sub: Subscription): void {
    this.subs.add(sub);
  }

  /** Called by a subscription as it closes. */
  removeSubscription(sub: Subscription): void {
    this.subs.delete(sub);
  }

  /** Adds an in-process consumer and starts it on the cached GOP. */
  addTap(tap: StreamTap): void {
    this.tapSet.add(tap);
    const gop = this.gop.snapshot;
    for (let i = 0; i < gop.length; i++) tap.frame(gop[i] as Outgoing, i === 0);
  }

  /** Stops giving frames to `tap` (it has gone: a player hung up, a recording stopped). */
  removeTap(tap: StreamTap): void {
    this.tapSet.delete(tap);
  }

  /**
   * Ends the stream: each viewer is told why and unsubscribed, each tap finishes, the room and the
   * publisher forget it. The registry calls this (Relay.endStream); safe to call again.
   */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.room.removeStream(this);
    this.publisher.published.delete(this.id);
    const removed = outgoing(encodeMessage({ type: 'stream-removed', streamId: this.id, reason }));
    for (const sub of [...this.subs]) {
      sub.close();
      sub.conn.sendOutgoing(removed);
    }
    const taps = [...this.tapSet];
    this.tapSet.clear();
    for (const tap of taps) tap.end(reason);
    this.gop.clear();
  }

  /** Starts a new viewer on the cached GOP, so it decodes at once rather than at the next keyframe. */
  catchUp(sub: Subscription, now: number): void {
    sub.conn.queue.catchUp(sub, this.gop.snapshot, now);
  }

  /** Updates fps and bitrate from the counters; called on a timer, never on the frame path. */
  sampleRates(intervalMs: number): void {
    this.fps = ((this.framesIn - this.sampledFrames) * 1000) / intervalMs;
    this.bitrateKbps = ((this.bytesIn - this.sampledBytes) * 8) / intervalMs;
    this.sampledFrames = this.framesIn;
    this.sampledBytes = this.bytesIn;
  }

  /** Asks the publisher for a keyframe, at most once per `intervalMs` whoever asks. */
  requestKeyframe(intervalMs: number): void {
    const now = performance.now();
    if (now - this.lastKeyframeRequest < intervalMs) return;
    this.lastKeyframeRequest = now;
    this.publisher.send({ type: 'keyframe-request', streamId: this.id });
  }
}
