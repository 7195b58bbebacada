import {
  type ErrorCode,
  encodeMessage,
  type HelloMessage,
  type LinkState,
  type Message,
  PROTOCOL_VERSION,
} from '../../protocol/index.js';
import type { Grant } from './access.js';
import type { Room } from './room.js';
import type { Stream } from './stream.js';
import type { Subscription } from './subscription.js';
import type { TickBatcher } from './tick-batcher.js';
import type { Totals } from './totals.js';
import { type Outgoing, outgoing, type Transport } from './transport.js';
import { type FrameSink, type QueueLimits, ViewerQueue } from './viewer-queue.js';

/** How long a failed connection may take to read its error message before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** One client, over any transport: what it publishes, what it watches, and its outgoing queue. */
export class Connection {
  readonly queue: ViewerQueue;
  /** The streams this connection publishes, by id (each stream adds and removes itself). */
  readonly published = new Map<number, Stream>();
  private readonly subs = new Map<number, Subscription>();
  private readonly roomSet = new Set<Room>();
  readonly connectedAt = Date.now();
  hello: HelloMessage | null = null;
  /** True while the hello's token is being verified (it is async); other messages wait for the answer. */
  helloPending = false;
  /** What the hello's token allows; null in open mode. */
  grant: Grant | null = null;
  /** Date.now() when the last message arrived: the idle timeout counts from here. */
  lastSeenAt = Date.now();
  /** Date.now() of our last keep-alive ping, so an idle peer is pinged once per half timeout. */
  lastPingAt = 0;
  /** Set once the connection is being closed: nothing more is read from it or sent to it. */
  closing = false;
  /**
   * The codec families this connection said it decodes (protocol v3 `decoders`); null until it says, which
   * means it decodes anything (the CLI, v1 and v2 peers).
   */
  decoders: ReadonlySet<string> | null = null;
  // Both made on first use: most connections never view or publish, and a connection's size is what a
  // flood of connects costs.
  /** Rooms this connection views (subscribed to the room or to a stream in it): its declaration counts there. */
  private viewing: Set<Room> | null = null;
  /** Per room it publishes in: the room-codecs value it was last told, as a key (see tellRoomCodecs). */
  private roomCodecsSent: Map<Room, string> | null = null;

  constructor(
    readonly id: number,
    readonly transport: Transport,
    limits: QueueLimits,
    totals: Totals,
    private readonly hooks: {
      /** A subscription lost frames and waits for a keyframe. */
      onSkip: (sink: FrameSink) => void;
      /** The viewer's delivery state changed (the viewer is told by this connection). */
      onLinkState: (state: LinkState, backlogMs: number) => void;
      /** The server's own stalled time so far, left out of the viewer's backlog. */
      stalledMs?: () => number;
      /** The connection is being closed for `code` (for the log). */
      onFail: (code: ErrorCode, text: string) => void;
      /** Where a connection watching several streams batches its writes of one event-loop turn. */
      batcher: TickBatcher;
    },
  ) {
    this.queue = new ViewerQueue(
      transport,
      limits,
      totals,
      {
        onSkip: hooks.onSkip,
        stalledMs: hooks.stalledMs,
        onLinkState: (state, backlogMs) => {
          hooks.onLinkState(state, backlogMs);
          this.send({ type: 'link-state', state, backlogMs });
        },
      },
      hooks.batcher,
    );
  }

  /** The streams this connection watches, by stream id. */
  get subscriptions(): ReadonlyMap<number, Subscription> {
    return this.subs;
  }

  /** Rooms subscribed to as a whole. */
  get rooms(): ReadonlySet<Room> {
    return this.roomSet;
  }

  /** Called by a subscription as it opens; a connection watching several streams batches its writes. */
  addSubscription(sub: Subscription): void {
    this.subs.set(sub.stream.id, sub);
    if (this.subs.size > 1) this.queue.batching = true;
  }

  /** Called by a subscription as it closes. */
  removeSubscription(sub: Subscription): void {
    if (this.subs.get(sub.stream.id) === sub) this.subs.delete(sub.stream.id);
    this.queue.forget(sub);
  }

  /** Subscribes to every stream of `room`, now and later (the caller starts the current ones). */
  joinRoom(room: Room): void {
    this.roomSet.add(room);
    room.addSubscriber(this);
  }

  /** Undoes {@link joinRoom}; streams already watched go on until unsubscribed. */
  leaveRoom(room: Room): void {
    this.roomSet.delete(room);
    room.removeSubscriber(this);
  }

  /** Called by a room as this connection starts viewing it. */
  enteredRoom(room: Room): void {
    this.viewing ??= new Set();
    this.viewing.add(room);
  }

  /** Called by a room as this connection stops viewing it. */
  leftRoom(room: Room): void {
    this.viewing?.delete(room);
  }

  /** Replaces what this connection decodes (a `decoders` message); the rooms it views recount. */
  declareDecoders(codecs: readonly string[]): void {
    const before = this.decoders;
    this.decoders = new Set(codecs);
    for (const room of this.viewing ?? []) room.redeclared(this, before);
  }

  /** Publisher hook: what the viewers of `room` decode may have changed; told only if it did. */
  roomDecodersChanged(room: Room): void {
    this.tellRoomCodecs(room, false);
  }

  /**
   * Sends a v3 publisher `room-codecs` for `room`: always when `always` (right after `published`), else
   * only when the value differs from the last one it was told. Older peers have no such message.
   */
  tellRoomCodecs(room: Room, always: boolean): void {
    if (this.version < 3 || this.closing) return;
    const sent = this.roomCodecsSent;
    if (!always && !sent?.has(room)) return;
    const codecs = room.codecsFor(this);
    // null and [] must differ: "nobody restricts" is not "nothing in common".
    const key = codecs === null ? 'null' : `[${codecs.join(',')}]`;
    if (!always && sent?.get(room) === key) return;
    if (always) this.forgetRoomCodecs();
    this.roomCodecsSent ??= new Map();
    this.roomCodecsSent.set(room, key);
    this.send({ type: 'room-codecs', room: room.name, codecs });
  }

  /** Drops what rooms it no longer publishes in were told, so the map stays as small as its streams. */
  private forgetRoomCodecs(): void {
    const sent = this.roomCodecsSent;
    if (sent === null) return;
    for (const room of sent.keys()) {
      let publishes = false;
      for (const stream of this.published.values()) publishes ||= stream.room === room;
      if (!publishes) sent.delete(room);
    }
  }

  /**
   * The protocol version this peer speaks, set from its hello as soon as it arrives (before its token is
   * verified); the newest until then. Everything to and from the peer is in this version's layouts.
   */
  version = PROTOCOL_VERSION;

  /** Sends a control message, in the peer's protocol version; a peer that has stopped reading even these is cut off. */
  send(message: Message): void {
    this.sendOutgoing(outgoing(encodeMessage(message, this.version)));
  }

  /** Sends a control message already encoded (one encoding shared by many recipients). */
  sendOutgoing(message: Outgoing): void {
    if (this.closing) return;
    if (!this.queue.sendControl(message))
      this.fail('FW_SLOW_CONSUMER', 'connection stopped reading; closing it');
  }

  /** Tells the peer why, then closes this connection (and only this one). */
  fail(code: ErrorCode, text: string, requestId = 0): void {
    if (this.closing) return;
    this.hooks.onFail(code, text);
    // Bypass the queue's bound: the reason must go out even to a peer that is far behind.
    this.transport.write(outgoing(encodeMessage({ type: 'error', requestId, code, message: text })));
    this.close();
  }

  /** Flushes and closes; forces the close if the peer does not read within a grace period. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.transport.end();
    setTimeout(() => this.transport.destroy(), CLOSE_GRACE_MS).unref();
  }
}
