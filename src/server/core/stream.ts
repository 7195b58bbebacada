import {
  AUDIO_FRAME_HEADER_BYTES,
  AUDIO_LEVEL_SILENT,
  AUDIO_LEVEL_VOICE,
  type AudioConfig,
  type DecoderConfig,
  encodeMessage,
  type Message,
  type StreamAddedMessage,
  type StreamTracks,
} from '../../protocol/index.js';
import type { Connection } from './connection.js';
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
  /**
   * What the viewers of `room`, where it publishes, decode may have changed (protocol v3 connections tell
   * their peer in `room-codecs`); absent for publishers that cannot switch codec (ingest).
   */
  roomDecodersChanged?(room: Room): void;
  /**
   * The stream's viewer count (connections plus taps) changed; absent for publishers that do not care. A
   * cluster node pulls a remote stream only while its local copy has viewers.
   */
  viewersChanged?(stream: Stream): void;
  /** The cluster node the stream comes from, for a copy of another node's stream; absent for local ones. */
  readonly origin?: string;
}

/** Seconds of average rate a publisher may send in one burst. */
const BURST_SECONDS = 3;
/**
 * Updates a stream takes at once, and per second after that. Each one clears the GOP cache and tells every
 * viewer, so a publisher that sent them in a loop would make the server and all its viewers work for it;
 * real ones come with a codec switch or a window being resized (a few a second while dragging its edge).
 */
const UPDATE_BURST = 10;
const UPDATES_PER_SECOND = 1;
/** The audio level shown is the loudest of a window this long: one frame's level flickers. */
const LEVEL_WINDOW_MS = 300;

/**
 * A live stream: exists while its publisher is connected; fans each frame out to its subscribers. It
 * joins its room and its publisher as it is made and leaves both in {@link close}.
 */
export class Stream {
  private readonly subs = new Set<Subscription>();
  private readonly tapSet = new Set<StreamTap>();
  readonly gop: GopCache;
  /** The stream-added message, encoded once and sent to every viewer that joins (replaced by an update). */
  private added!: Outgoing;
  /** The same for protocol v2 and v3 viewers, which have no screen bit (the same bytes for a camera). */
  private addedV3!: Outgoing;
  /** The same for protocol v1 viewers (video only); null when the stream has no video for them. */
  private addedV1!: Outgoing | null;
  /** The tracks, as the publisher last declared them (publish, then each update). */
  video: DecoderConfig | undefined;
  audio: AudioConfig | undefined;
  /** Whether the video is a shared screen (v4 publishers say so). */
  screen = false;
  readonly startedAt = Date.now();
  /** Frames of both tracks, and their bytes. */
  framesIn = 0;
  bytesIn = 0;
  audioFramesIn = 0;
  keyframes = 0;
  /** Video frames per second and kbit/s of both tracks over the last sampling interval (see {@link sampleRates}). */
  fps = 0;
  bitrateKbps = 0;
  /**
   * The publisher's audio level (RFC 6464 byte: bit 7 voice, bits 0–6 -dBov), the loudest of the latest
   * window; silence when the stream has no audio or has sent none lately.
   */
  audioLevel = AUDIO_LEVEL_SILENT;
  private levelWindow = AUDIO_LEVEL_SILENT;
  private levelWindowAt = 0;
  private sampledAudio = 0;
  /** Set once the stream has ended: nothing joins it after that. */
  closed = false;
  private sampledFrames = 0;
  private sampledBytes = 0;
  private lastKeyframeRequest = Number.NEGATIVE_INFINITY;
  /** Byte budget of the rate limit (a token bucket), and when it was last refilled. */
  private credit: number;
  private creditAt = performance.now();
  private updateCredit = UPDATE_BURST;
  private updateCreditAt = performance.now();

  constructor(
    readonly id: number,
    readonly room: Room,
    readonly name: string,
    tracks: StreamTracks,
    readonly publisher: Publisher,
    gopCacheBytes: number,
    private readonly maxBytesPerSec: number,
    private readonly totals: Totals,
  ) {
    this.gop = new GopCache(gopCacheBytes);
    room.addStream(this);
    publisher.published.set(id, this);
    this.credit = maxBytesPerSec * BURST_SECONDS;
    this.setTracks(tracks);
  }

  /** Takes `tracks` as the stream's, and encodes the stream-added messages viewers get for them. */
  private setTracks(tracks: StreamTracks): void {
    this.video = tracks.video;
    this.audio = tracks.audio;
    this.screen = tracks.screen === true && tracks.video !== undefined;
    const added: StreamAddedMessage = {
      type: 'stream-added',
      streamId: this.id,
      room: this.room.name,
      name: this.name,
      ...tracks,
    };
    this.added = outgoing(encodeMessage(added));
    this.addedV3 = this.screen ? outgoing(encodeMessage(added, 3)) : this.added;
    this.addedV1 = tracks.video ? outgoing(encodeMessage({ ...added, audio: undefined }, 1)) : null;
  }

  /** The stream-added message in `conn`'s protocol version; null for a v1 viewer of a stream without video. */
  addedFor(conn: Connection): Outgoing | null {
    if (conn.version >= 4) return this.added;
    return conn.version >= 2 ? this.addedV3 : this.addedV1;
  }

  /**
   * Replaces the tracks (the publisher switched codec or picture size) without ending the stream. The
   * cached GOP is of the old codec, so it goes, and every viewer waits for the publisher's next keyframe,
   * as on a new stream. A v3 viewer gets `stream-added` again with the same id ("reconfigure your
   * decoders"); an older one, which would take that for a duplicate, gets the stream ended (`reconfigured`)
   * and added again (a v1 viewer only if it still has video). Taps were built for the old codec: they end
   * as for a stream end; the registry starts new ones.
   */
  reconfigure(tracks: StreamTracks): void {
    this.setTracks(tracks);
    this.gop.clear();
    const reason = 'reconfigured';
    let removed: Outgoing | null = null;
    for (const sub of [...this.subs]) {
      // Frames queued before this still go out ahead of the message; after it, only from a keyframe.
      sub.needsKey = true;
      const { conn } = sub;
      if (conn.version >= 3) {
        conn.sendOutgoing(this.addedFor(conn) ?? this.added);
        continue;
      }
      removed ??= outgoing(encodeMessage({ type: 'stream-removed', streamId: this.id, reason }));
      conn.sendOutgoing(removed);
      const added = this.addedFor(conn);
      if (added === null) sub.close();
      else conn.sendOutgoing(added);
    }
    const taps = [...this.tapSet];
    this.tapSet.clear();
    for (const tap of taps) tap.end(reason);
  }

  /** Takes one update from the stream's budget (see {@link UPDATE_BURST}); false when it is spent. */
  takeUpdate(now = performance.now()): boolean {
    const refill = ((now - this.updateCreditAt) / 1000) * UPDATES_PER_SECOND;
    this.updateCredit = Math.min(UPDATE_BURST, this.updateCredit + refill);
    this.updateCreditAt = now;
    if (this.updateCredit < 1) return false;
    this.updateCredit -= 1;
    return true;
  }

  /** The stream's tracks, as its publisher declared them. */
  get tracks(): StreamTracks {
    return { video: this.video, audio: this.audio, ...(this.screen ? { screen: true } : {}) };
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
    if (frame.audio) this.hearLevel(frame.body[AUDIO_FRAME_HEADER_BYTES - 1] as number, now);
    else if (key) this.keyframes++;
    this.gop.add(frame, key);
    for (const sub of this.subs) sub.conn.queue.offerFrame(sub, frame, key, now);
    for (const tap of this.tapSet) tap.frame(frame, key);
  }

  /** Viewers of every kind: connections plus in-process taps (the per-stream viewer limit counts both). */
  get viewerCount(): number {
    return this.subs.size + this.tapSet.size;
  }

  /** Called by a subscription as it opens (see {@link Subscription}); its connection now views the room. */
  addSubscription(sub: Subscription): void {
    if (this.subs.has(sub)) return;
    this.subs.add(sub);
    this.room.viewerIn(sub.conn);
    this.publisher.viewersChanged?.(this);
  }

  /** Called by a subscription as it closes. */
  removeSubscription(sub: Subscription): void {
    if (!this.subs.delete(sub)) return;
    this.room.viewerOut(sub.conn);
    this.publisher.viewersChanged?.(this);
  }

  /** Adds an in-process consumer and starts it on the cached GOP. */
  addTap(tap: StreamTap): void {
    this.tapSet.add(tap);
    const gop = this.gop.snapshot;
    for (let i = 0; i < gop.length; i++) tap.frame(gop[i] as Outgoing, i === 0);
    this.publisher.viewersChanged?.(this);
  }

  /** Stops giving frames to `tap` (it has gone: a player hung up, a recording stopped). */
  removeTap(tap: StreamTap): void {
    if (this.tapSet.delete(tap)) this.publisher.viewersChanged?.(this);
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
    const videoFrames = this.framesIn - this.audioFramesIn - (this.sampledFrames - this.sampledAudio);
    this.fps = (videoFrames * 1000) / intervalMs;
    this.bitrateKbps = ((this.bytesIn - this.sampledBytes) * 8) / intervalMs;
    this.sampledFrames = this.framesIn;
    this.sampledAudio = this.audioFramesIn;
    this.sampledBytes = this.bytesIn;
    // A publisher that stopped sending audio is silent, not stuck at its last level.
    if (performance.now() - this.levelWindowAt > 2 * LEVEL_WINDOW_MS) this.audioLevel = AUDIO_LEVEL_SILENT;
  }

  /** Takes one audio frame's level byte into the shown level (the loudest of each window). */
  private hearLevel(level: number, now: number): void {
    this.audioFramesIn++;
    if (now - this.levelWindowAt >= LEVEL_WINDOW_MS) {
      this.audioLevel = this.levelWindow;
      this.levelWindow = level;
      this.levelWindowAt = now;
      return;
    }
    // Louder is fewer -dBov; voice in any frame of the window counts.
    const loudest = Math.min(this.levelWindow & 0x7f, level & 0x7f);
    this.levelWindow = loudest | ((this.levelWindow | level) & AUDIO_LEVEL_VOICE);
  }

  /** Asks the publisher for a keyframe, at most once per `intervalMs` whoever asks. */
  requestKeyframe(intervalMs: number): void {
    const now = performance.now();
    if (now - this.lastKeyframeRequest < intervalMs) return;
    this.lastKeyframeRequest = now;
    this.publisher.send({ type: 'keyframe-request', streamId: this.id });
  }
}
