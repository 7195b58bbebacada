import { frameMessage, LENGTH_PREFIX_BYTES } from '../../protocol/index.js';

/**
 * One message ready to send, encoded once and shared by every recipient: `framed` carries the TCP
 * length prefix, `body` is the same bytes without it (what a WebSocket message carries).
 */
export interface Outgoing {
  readonly framed: Uint8Array;
  readonly body: Uint8Array;
  /** A frame of a stream's audio track (protocol v2): the drop policy treats it apart from video. */
  readonly audio: boolean;
  /** The same message as a WebSocket frame, built by the first WebSocket recipient and kept for the rest. */
  wsFrame: Uint8Array | null;
}

/** The byte pipe under one connection (TCP, TLS or WebSocket): the relay only sees this. */
export interface Transport {
  /** `tls` is the TCP protocol inside TLS; WebSocket says `ws` over HTTP and HTTPS alike. */
  readonly kind: 'tcp' | 'tls' | 'ws';
  /** `host:port` of the peer, for logs. */
  readonly remote: string;
  /** The peer's IP address, for per-address limits. */
  readonly ip: string;
  /** Bytes written but not yet taken by the kernel: the part of the backlog we cannot drop. */
  readonly bufferedBytes: number;
  /** Sends one message; never blocks (the viewer queue decides what to write and when). */
  write(message: Outgoing): void;
  /** Holds writes in memory until {@link uncork}, so several go out in one syscall. */
  cork(): void;
  /** Sends what was held since {@link cork}. */
  uncork(): void;
  /** Flushes what was written, then closes. */
  end(): void;
  /** Closes now, discarding anything unsent. */
  destroy(): void;
}

/** Wraps an encoded message body for sending: one allocation holding the prefix and the body. */
export function outgoing(body: Uint8Array, audio = false): Outgoing {
  return outgoingFramed(frameMessage(body), audio);
}

/** Wraps a message that already has its length prefix (as read from TCP): no copy. */
export function outgoingFramed(framed: Uint8Array, audio = false): Outgoing {
  return { framed, body: framed.subarray(LENGTH_PREFIX_BYTES), audio, wsFrame: null };
}
