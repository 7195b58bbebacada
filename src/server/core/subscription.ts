import type { ReceiverReportMessage } from '../../protocol/index.js';
import type { Connection } from './connection.js';
import type { Stream } from './stream.js';
import type { FrameSink } from './viewer-queue.js';

/**
 * One viewer connection receiving one stream: its delivery state and counters. It joins both ends as it
 * opens and leaves both as it closes, so neither the stream nor the connection is edited from outside.
 */
export class Subscription implements FrameSink {
  /** A new viewer starts by waiting for a keyframe (the cached GOP usually supplies one at once). */
  needsKey = true;
  framesSent = 0;
  framesDropped = 0;
  audioDropped = 0;
  /** Date.now() of the last drop log line, to rate-limit them. */
  lastDropLog = 0;
  /** The viewer's latest receiver report, with the server's receive time (ms since the epoch). */
  report: (ReceiverReportMessage & { at: number }) | null = null;

  constructor(
    readonly conn: Connection,
    readonly stream: Stream,
  ) {
    conn.addSubscription(this);
    stream.addSubscription(this);
  }

  /** Stops delivery: the stream and the connection forget this subscription. Safe to call again. */
  close(): void {
    this.stream.removeSubscription(this);
    this.conn.removeSubscription(this);
  }
}
