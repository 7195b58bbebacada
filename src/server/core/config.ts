/**
 * The limits the relay core enforces (the server's whole configuration, with defaults and ranges, is
 * ops/config.ts, which extends this).
 */
export interface RelayConfig {
  /** Bytes a viewer connection may have queued (ours plus the socket's) before it skips to a keyframe. */
  viewerQueueBytes: number;
  /** Age of the oldest queued frame after which a viewer skips ahead instead of catching up slowly. */
  viewerQueueAgeMs: number;
  /** Bytes of the current GOP kept per stream for late joiners; a longer GOP is not cached. */
  gopCacheBytes: number;
  /** Keyframe requests forwarded to a publisher at most this often, per stream. */
  keyframeRequestIntervalMs: number;
  /** A connection that has not said hello within this time is closed. */
  helloTimeoutMs: number;
  /** A connection that sends nothing (not even a pong to our ping) for this long is closed. */
  idleTimeoutMs: number;
  /** Streams one connection may publish at once. */
  maxStreamsPerConnection: number;
  /** Viewers of one stream. */
  maxViewersPerStream: number;
  /** Rooms that exist at once (a room lives while it has a stream or a subscriber). */
  maxRooms: number;
  /** Connections from one IP address at once (TCP and WebSocket together). */
  maxConnectionsPerIp: number;
  /** Average bytes per second one published stream may send, measured over a few seconds. */
  maxStreamBytesPerSec: number;
}
