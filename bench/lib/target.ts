import type { AudioClip, AudioClipFrame } from './audio-clip.js';
import type { Clip } from './clip.js';
import type { Collector } from './collector.js';
import type { FrameOutput, PacedPublisher } from './pacing.js';

/**
 * The servers compared: Framewire over TCP and WebSocket, the two peers, and WebRTC (issue 19): WHEP
 * players of Framewire's own WHEP (node-datachannel) or of a werift sidecar fed by Framewire, with a TCP
 * publisher, and WHEP players of a WHIP publisher.
 */
export const TARGETS = [
  'framewire-tcp',
  'framewire-ws',
  'nginx-rtmp',
  'node-media-server',
  'framewire-whep',
  'werift-whep',
  'framewire-whip-whep',
] as const;
export type TargetName = (typeof TARGETS)[number];

/** What a run without `--targets` compares: the WebRTC targets are asked for by name (bench:webrtc). */
export const DEFAULT_TARGETS: readonly TargetName[] = [
  'framewire-tcp',
  'framewire-ws',
  'nginx-rtmp',
  'node-media-server',
];

/** The targets whose viewers play over WebRTC (a PeerConnection each, so runs stay at 100 or fewer). */
export const WEBRTC_TARGETS: readonly TargetName[] = ['framewire-whep', 'werift-whep', 'framewire-whip-whep'];

/** Where the load process finds the server under test. */
export interface Endpoints {
  /** Framewire TCP port, or the peer's RTMP port. */
  port: number;
  /** Framewire HTTP port (WebSocket), or node-media-server's HTTP-FLV port; 0 when unused. */
  httpPort: number;
}

/** A publisher connection as the load process sees it. */
export interface PublisherHandle {
  output: FrameOutput;
  /** Where the stream's audio frames go; set when the run sends audio and the target carries it. */
  audio?: FrameOutput<AudioClipFrame>;
  close(): void;
}

/** What the protocol-specific side of a load run shares with the scenario logic. */
export interface LoadContext {
  clip: Clip;
  endpoints: Endpoints;
  collector: Collector;
  /** One pacer per stream, by stream number; filled as publishers connect. */
  pacers: PacedPublisher[];
  /** The audio clip every publisher sends beside the video (`--audio`), or null for video only. */
  audio: AudioClip | null;
  /** One audio pacer per stream, by stream number, when `audio` is set (and the target carries audio). */
  audioPacers: PacedPublisher<AudioClipFrame>[];
  timeoutMs: number;
}

/**
 * One protocol's load clients. Stream k is published by `openPublisher(k)`; `openViewer` opens what one
 * viewer needs to watch streams `watch` (one connection for Framewire, one per stream for RTMP/FLV),
 * registering a tally per stream with the collector. `peer` is set in a conference: the viewer is that
 * participant, whose own publisher connection Framewire reuses.
 */
export interface LoadTarget {
  openPublisher(k: number): Promise<PublisherHandle>;
  /** Resolves with the number of connections opened and a closer. */
  openViewer(watch: readonly number[], peer: number | null): Promise<{ connections: number; close(): void }>;
}

/** The stream name (and RTMP key) of stream k. */
export function streamName(k: number): string {
  return `s${k}`;
}

/** The room every bench stream lives in. */
export const BENCH_ROOM = 'bench';
