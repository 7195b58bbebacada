import { DEFAULT_MAX_MESSAGE_BYTES } from '../../protocol/index.js';
import type { RelayConfig } from '../core/config.js';
import type { Relay } from '../core/relay.js';

/** Default TCP port of `framewire serve` (the socket protocol). */
export const DEFAULT_TCP_PORT = 7420;

/** Default HTTP port: the web app, its WebSocket endpoint (/ws) and the JSON API (/api). */
export const DEFAULT_HTTP_PORT = 7480;

/** Every limit and knob of the server, with its default in {@link DEFAULT_CONFIG}. */
export interface ServerConfig extends RelayConfig {
  /** Address to listen on; loopback by default so a fresh install is not open to the network. */
  host: string;
  /** TCP port for the socket protocol; 0 picks a free one. */
  tcpPort: number;
  /** HTTP port for the web app, WebSocket and API; 0 picks a free one. */
  httpPort: number;
  /** Folder of the built web app; null serves a hint to build it. Defaults to dist/web when present. */
  webRoot: string | null;
  /** Largest message accepted, checked against the length prefix before anything is allocated. */
  maxMessageBytes: number;
  /** HTTP ingests (PUT /ingest/…) from one IP address at once; each holds a demuxer worker and its buffers. */
  maxIngestsPerIp: number;
  /**
   * HS256 secret that access tokens are signed with; null is open mode (anyone may publish and view).
   * `serve` reads it from FRAMEWIRE_SECRET.
   */
  secret: string | null;
  /**
   * PEM certificate chain file; with {@link tlsKey}, the TCP port speaks TLS and the HTTP port HTTPS (and
   * WSS). Both or neither; null is plain TCP and HTTP.
   */
  tlsCert: string | null;
  /** PEM private key file of {@link tlsCert}. */
  tlsKey: string | null;
  /**
   * Folder recordings are written to (`<dir>/<room>/<name>-<UTC time>.webm|mp4`); every stream is recorded
   * from the moment it opens, and the API can stop and restart a recording. Null: nothing is recorded and
   * the API refuses to start a recording. `serve --record DIR` sets it.
   */
  recordDir: string | null;
}

/** The defaults: sized for a few Mbit/s per stream with well under a second of queued latency. */
export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  tcpPort: DEFAULT_TCP_PORT,
  httpPort: DEFAULT_HTTP_PORT,
  webRoot: null,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  viewerQueueBytes: 1024 * 1024,
  viewerQueueAgeMs: 500,
  gopCacheBytes: 8 * 1024 * 1024,
  keyframeRequestIntervalMs: 1000,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxStreamsPerConnection: 8,
  maxViewersPerStream: 2000,
  maxRooms: 1000,
  maxConnectionsPerIp: 500,
  maxIngestsPerIp: 8,
  // 20 Mbit/s: several times a 1080p camera stream; above that someone is flooding, not streaming.
  maxStreamBytesPerSec: 2_500_000,
  secret: null,
  tlsCert: null,
  tlsKey: null,
  recordDir: null,
};

/** The relay as the server runs it: its core limits plus everything the server around it reads. */
export type ServerRelay = Relay<ServerConfig>;
