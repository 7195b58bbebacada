import { type ErrorCode, encodeMessage, type HelloMessage, type Message } from '../../protocol/index.js';
import type { Grant } from './access.js';
import type { Room } from './room.js';
import type { Stream } from './stream.js';
import type { Subscription } from './subscription.js';
import type { TickBatcher } from './tick-batcher.js';
import type { Totals } from './totals.js';
import { outgoing, type Transport } from './transport.js';
import { type FrameSink, type QueueLimits, ViewerQueue } from './viewer-queue.js';

/** How long a failed connection may take to read its error message before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** One client, over any transport: what it publishes, what it watches, and its outgoing queue. */
export class Connection {
  readonly queue: ViewerQueue;
  readonly published = new Map<number, Stream>();
  readonly subscriptions = new Map<number, Subscription>();
  /** Rooms subscribed to as a whole. */
  readonly rooms = new Set<Room>();
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

  constructor(
    readonly id: number,
    readonly transport: Transport,
    limits: QueueLimits,
    totals: Totals,
    private readonly hooks: {
      /** A subscription lost frames and waits for a keyframe. */
      onSkip: (sink: FrameSink) => void;
      /** The connection is being closed for `code` (for the log). */
      onFail: (code: ErrorCode, text: string) => void;
      /** Where a connection watching several streams batches its writes of one event-loop turn. */
      batcher: TickBatcher;
    },
  ) {
    this.queue = new ViewerQueue(transport, limits, totals, hooks.onSkip, hooks.batcher);
  }

  /** Sends a control message; a peer that has stopped reading even these is cut off. */
  send(message: Message): void {
    if (this.closing) return;
    if (!this.queue.sendControl(outgoing(encodeMessage(message)))) {
      this.fail('FW_SLOW_CONSUMER', 'connection stopped reading; closing it');
    }
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
