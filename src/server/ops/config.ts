import { DEFAULT_MAX_MESSAGE_BYTES, LENGTH_PREFIX_BYTES } from '../../protocol/index.js';
import type { ClusterConfig } from '../cluster/config.js';
import type { RelayConfig } from '../core/config.js';
import type { Relay } from '../core/relay.js';

/** Default TCP port of `framewire serve` (the socket protocol). */
export const DEFAULT_TCP_PORT = 7420;

/** Default HTTP port: the web app, its WebSocket endpoint (/ws) and the JSON API (/api). */
export const DEFAULT_HTTP_PORT = 7480;

/** Default port of the metrics listener, when one is asked for (`--metrics-host`). */
export const DEFAULT_METRICS_PORT = 7490;

/** Default UDP port of WebRTC (WHIP/WHEP): one port for every session (ICE UDP mux). */
export const DEFAULT_WEBRTC_PORT = 7483;

/** Every limit and knob of the server, with its default in {@link DEFAULT_CONFIG} and range in {@link CONFIG_RANGES}. */
export interface ServerConfig extends RelayConfig {
  /** Address to listen on; loopback by default so a fresh install is not open to the network. */
  host: string;
  /** TCP port for the socket protocol; 0 picks a free one. */
  tcpPort: number;
  /** HTTP port for the web app, WebSocket and API; 0 picks a free one. */
  httpPort: number;
  /**
   * Address of a second HTTP listener that answers only `GET /metrics`, with no token (for a Prometheus on
   * this machine or a private network); null: none, and /metrics is served on the HTTP port only (where,
   * with a secret, it takes an admin token). `serve --metrics-host`.
   */
  metricsHost: string | null;
  /** Port of the metrics listener (with {@link metricsHost}); 0 picks a free one. `serve --metrics-port`. */
  metricsPort: number;
  /**
   * UDP port every WebRTC session (WHIP, WHEP) shares on {@link host} (ICE UDP mux); 0 picks a free one
   * when the first session opens. `serve --webrtc-port`.
   */
  webrtcPort: number;
  /**
   * Address put first in WebRTC answers, for a server behind NAT (its public address); null: the addresses
   * gathered on {@link host}. `serve --webrtc-public-ip`.
   */
  webrtcPublicIp: string | null;
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
   * Folder kept across restarts: `serve` keeps its self-made TLS certificate there (in `tls/`) when it
   * listens beyond loopback without {@link tlsCert}, and with a secret the server keeps its list of revoked
   * tokens there (`revoked-tokens.jsonl`). `serve` defaults it to `$XDG_STATE_HOME/framewire`, else
   * `~/.local/state/framewire` (`--state-dir`); null (startServer's default) keeps revocations in memory.
   */
  stateDir: string | null;
  /**
   * Folder recordings are written to (`<dir>/<room>/<name>-<UTC time>.webm|mp4`); every stream is recorded
   * from the moment it opens, and the API can stop and restart a recording. Null: nothing is recorded and
   * the API refuses to start a recording. `serve --record DIR` sets it.
   */
  recordDir: string | null;
  /**
   * Media time after which a recording continues in a new file, at the next keyframe, so no file grows
   * without end and each closed file is whole; 0 keeps one file per recording. `serve --record-segment`.
   */
  recordSegmentMs: number;
  /**
   * Join a cluster of relay nodes coordinated through NATS (`serve --cluster`); null: a single node, no
   * NATS, as before. See src/server/cluster/.
   */
  cluster: ClusterConfig | null;
}

/** The defaults: sized for a few Mbit/s per stream with well under a second of queued latency. */
export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  tcpPort: DEFAULT_TCP_PORT,
  httpPort: DEFAULT_HTTP_PORT,
  metricsHost: null,
  metricsPort: DEFAULT_METRICS_PORT,
  webrtcPort: DEFAULT_WEBRTC_PORT,
  webrtcPublicIp: null,
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
  stateDir: null,
  recordDir: null,
  // Ten minutes: a file small enough to copy and scrub through, few enough files for a day of cameras.
  recordSegmentMs: 10 * 60 * 1000,
  cluster: null,
};

/** The settings that are numbers: each has a range in {@link CONFIG_RANGES}. */
export type NumericKey = {
  [K in keyof ServerConfig]: ServerConfig[K] extends number ? K : never;
}[keyof ServerConfig];

/** The values a numeric setting accepts: integers from `min` to `max`, both included. */
export interface ConfigRange {
  min: number;
  max: number;
}

// Node's setTimeout (and socket/TLS timeouts built on it) treat a delay above 2**31-1 ms as 1 ms: a
// "very long" timeout would fire at once. About 24.8 days.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Comparisons only (counts, byte budgets): no ceiling short of where integers stop being exact.
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
// The TCP length prefix is a u32, and the deframer allocates prefix and body as one buffer, which must fit
// in a u32 length too (and in Node 20's 4 GiB buffer limit). So the body can be at most this.
const MAX_MESSAGE_BYTES = 2 ** (8 * LENGTH_PREFIX_BYTES) - 1 - LENGTH_PREFIX_BYTES;

/**
 * Every numeric setting's allowed range, next to {@link DEFAULT_CONFIG}; all are integers (bytes, counts,
 * whole milliseconds: timers do not resolve fractions of one). 0 is refused wherever it would not mean
 * "off" but "refuse everything" or "time out at once"; only ports (0 = the system picks a free one) and
 * recordSegmentMs (0 = one file per recording) take it.
 */
export const CONFIG_RANGES: Record<NumericKey, ConfigRange> = {
  tcpPort: { min: 0, max: 65535 },
  httpPort: { min: 0, max: 65535 },
  metricsPort: { min: 0, max: 65535 },
  webrtcPort: { min: 0, max: 65535 },
  maxMessageBytes: { min: 1, max: MAX_MESSAGE_BYTES },
  viewerQueueBytes: { min: 1, max: UNBOUNDED },
  gopCacheBytes: { min: 1, max: UNBOUNDED },
  maxStreamBytesPerSec: { min: 1, max: UNBOUNDED },
  helloTimeoutMs: { min: 1, max: MAX_TIMER_MS },
  idleTimeoutMs: { min: 1, max: MAX_TIMER_MS },
  // These two are compared with ages, not given to timers; they share the timer ceiling so every duration
  // has one range (nothing useful lies beyond 24 days).
  viewerQueueAgeMs: { min: 1, max: MAX_TIMER_MS },
  // 0 would forward every keyframe request, which is what this throttle exists to prevent.
  keyframeRequestIntervalMs: { min: 1, max: MAX_TIMER_MS },
  maxStreamsPerConnection: { min: 1, max: UNBOUNDED },
  maxViewersPerStream: { min: 1, max: UNBOUNDED },
  maxRooms: { min: 1, max: UNBOUNDED },
  maxConnectionsPerIp: { min: 1, max: UNBOUNDED },
  maxIngestsPerIp: { min: 1, max: UNBOUNDED },
  // A file rolls only at a keyframe, so a segment shorter than the keyframe interval holds one GOP.
  recordSegmentMs: { min: 0, max: MAX_TIMER_MS },
};

/** Settings that cannot be used (out of range, wrong type); the message names where, the key and the rule. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'FW_BAD_CONFIG';
}

/**
 * Checks every numeric setting present in `config` against {@link CONFIG_RANGES}; throws a one-line
 * {@link ConfigError} starting with `where` (e.g. `config /etc/framewire.json`) for the first one outside.
 */
export function checkConfig(config: Partial<ServerConfig>, where: string): void {
  for (const [key, value] of Object.entries(config)) {
    if (!Object.hasOwn(CONFIG_RANGES, key)) continue;
    const { min, max } = CONFIG_RANGES[key as NumericKey];
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) continue;
    const got = typeof value === 'number' ? String(value) : JSON.stringify(value);
    throw new ConfigError(`${where}: "${key}" must be an integer from ${min} to ${max} (got ${got})`);
  }
}

/** The relay as the server runs it: its core limits plus everything the server around it reads. */
export type ServerRelay = Relay<ServerConfig>;
