/**
 * The newest protocol version this code speaks. Version 2 adds audio (a stream's tracks, audio frames);
 * version 3 adds codec choice (`decoders`, `room-codecs`, `update`); version 4 marks a stream whose video
 * is a shared screen (the tracks byte's `screen` bit). Version 1 to 3 peers are still served (see
 * {@link MIN_PROTOCOL_VERSION}). Any other version is refused with FW_BAD_VERSION.
 */
export const PROTOCOL_VERSION = 4;
/** The oldest version still spoken: a v1 peer gets video only (docs/protocol.md, section 7). */
export const MIN_PROTOCOL_VERSION = 1;

/** Message type bytes: the first byte of every message. Never renumbered; new types take new values. */
export const MessageType = {
  hello: 0x01,
  publish: 0x02,
  published: 0x03,
  subscribe: 0x04,
  unsubscribe: 0x05,
  unpublish: 0x06,
  update: 0x07,
  decoders: 0x08,
  frame: 0x10,
  keyframeRequest: 0x11,
  streamAdded: 0x20,
  streamRemoved: 0x21,
  roomCodecs: 0x22,
  error: 0x30,
  ping: 0x40,
  pong: 0x41,
  receiverReport: 0x50,
  linkState: 0x51,
} as const;

/** What a peer says it is in its hello; the server says `server`. */
export type Role = 'server' | 'publisher' | 'viewer' | 'peer';
export const ROLES: readonly Role[] = ['server', 'publisher', 'viewer', 'peer'];

/** What a decoder needs before the first frame: WebCodecs' VideoDecoderConfig, reduced to its wire fields. */
export interface DecoderConfig {
  /** WebCodecs codec string, e.g. `vp8`, `avc1.42e01f`. */
  codec: string;
  codedWidth: number;
  codedHeight: number;
  /** Codec-specific setup bytes (avcC for H.264 in AVC format); absent for VP8 and Annex B H.264. */
  description?: Uint8Array;
}

/**
 * What an audio decoder needs before the first frame: WebCodecs' AudioDecoderConfig, reduced to its wire
 * fields (protocol v2).
 */
export interface AudioConfig {
  /** WebCodecs codec string: `opus`, or `mp4a.40.2` for AAC-LC passed through from ingest. */
  codec: string;
  /** Samples per second, e.g. 48000. */
  sampleRate: number;
  /** 1 (mono) to 255. */
  numberOfChannels: number;
  /** Codec setup bytes (AudioSpecificConfig for AAC, OpusHead when the sender has one); absent when none. */
  description?: Uint8Array;
}

/**
 * The tracks of a stream: video, audio or both (at least one). Protocol v1 carries `video` only, and a
 * stream without video does not exist for a v1 viewer.
 */
export interface StreamTracks {
  video?: DecoderConfig;
  audio?: AudioConfig;
  /**
   * The video shows a screen, a window or a tab rather than a camera (v4): viewers show it large and
   * scale it to fit, never crop it. Absent (false) for a camera, and for every stream of an older peer.
   */
  screen?: boolean;
}

/** First message each way: who is speaking and, optionally, a token for access control. */
export interface HelloMessage {
  type: 'hello';
  version: number;
  role: Role;
  /** Free text naming the client software, for logs (e.g. `framewire-cli/0.1.0`). */
  agent: string;
  /** Access token; empty when none. */
  token: string;
}

/** Publisher → server: start a stream. Answered by `published` (or `error` with the same requestId). */
export interface PublishMessage extends StreamTracks {
  type: 'publish';
  requestId: number;
  room: string;
  name: string;
}

/** Server → publisher: the stream exists; send its frames with this streamId. */
export interface PublishedMessage {
  type: 'published';
  requestId: number;
  streamId: number;
}

/** Viewer → server: receive one stream (`name` set) or a whole room, now and later (`name` empty). */
export interface SubscribeMessage {
  type: 'subscribe';
  requestId: number;
  room: string;
  name: string;
}

/** Viewer → server: undo a subscribe with the same room and name. */
export interface UnsubscribeMessage {
  type: 'unsubscribe';
  requestId: number;
  room: string;
  name: string;
}

/** Publisher → server: end one of this connection's streams without disconnecting. */
export interface UnpublishMessage {
  type: 'unpublish';
  streamId: number;
}

/**
 * One encoded frame of a stream's track (a WebCodecs EncodedVideoChunk or EncodedAudioChunk plus relay
 * metadata).
 */
export interface FrameMessage {
  type: 'frame';
  streamId: number;
  /** Decoding may start here: a video keyframe; every Opus and AAC frame is one. */
  key: boolean;
  /**
   * `audio` for a frame of the audio track (v2); absent for video, so v1 frames and v2 video frames are
   * the same message.
   */
  track?: 'audio';
  /**
   * Audio frames only: the publisher's level of this frame, as RFC 6464 carries it for RTP: bit 7 set when
   * it holds voice, bits 0–6 the level in -dBov (0 loudest, 127 silence). Lets the server tell who speaks
   * without decoding.
   */
  audioLevel?: number;
  /** Publisher's frame counter of this track, +1 per frame; a gap tells the viewer frames were dropped. */
  seq: number;
  /** Media timestamp in microseconds (the chunk's `timestamp`). */
  timestamp: number;
  /** Wall-clock capture time, microseconds since the Unix epoch: latency is now minus this. */
  captureTime: number;
  /** The encoded bytes. On decode this is a view into the message, not a copy. */
  payload: Uint8Array;
}

/** Ask the stream's publisher for a keyframe (viewer → server → publisher). */
export interface KeyframeRequestMessage {
  type: 'keyframe-request';
  streamId: number;
}

/** Server → viewer: a stream the viewer subscribed to (directly or by room) exists; decode with its tracks. */
export interface StreamAddedMessage extends StreamTracks {
  type: 'stream-added';
  streamId: number;
  room: string;
  name: string;
}

/** Server → viewer: the stream ended (`reason` is a short word such as `unpublished` or `disconnected`). */
export interface StreamRemovedMessage {
  type: 'stream-removed';
  streamId: number;
  reason: string;
}

/** Either way: something failed. `requestId` names the request it answers, 0 when none. */
export interface ErrorMessage {
  type: 'error';
  requestId: number;
  /** A stable code (see ERROR_CODES); kept as a string so newer peers' codes still decode. */
  code: string;
  message: string;
}

/** Either way: a round-trip probe. `time` is the sender's clock in microseconds. */
export interface PingMessage {
  type: 'ping';
  id: number;
  time: number;
}

/** Answer to a ping: the ping's id and time echoed, plus the responder's wall clock (for clock offset). */
export interface PongMessage {
  type: 'pong';
  id: number;
  echoTime: number;
  responderTime: number;
}

/**
 * Viewer → server, about once a second per stream: how playback is going, as the viewer sees it. Counts are
 * cumulative since the viewer subscribed; rates and latencies cover the last interval. The server keeps the
 * latest one per viewer and shows it in its API.
 */
export interface ReceiverReportMessage {
  type: 'receiver-report';
  streamId: number;
  framesReceived: number;
  framesDecoded: number;
  /** Frames lost before decoding: sequence gaps, and deltas skipped while waiting for a keyframe. */
  framesDropped: number;
  /** Frames decoded but never shown, because a newer one was ready first (the newest always wins). */
  framesLate: number;
  /** Frames shown per second over the last interval. */
  fps: number;
  /** Glass-to-glass latency (shown time minus capture time), ms, over the last interval; -1 if unknown. */
  latencyP50Ms: number;
  latencyP95Ms: number;
}

/** How the server is delivering to one viewer connection, from its measured backlog. */
export type LinkState = 'live' | 'draining' | 'keyframes-only';
/** Wire values of LinkState, by index. */
export const LINK_STATES: readonly LinkState[] = ['live', 'draining', 'keyframes-only'];

/**
 * Server → viewer, when its delivery state changes: `draining` while the backlog between the server and
 * the viewer (every buffer, the kernel's and the viewer's included) runs out, `keyframes-only` while its
 * link cannot carry the streams it watches. `backlogMs` is the backlog measured when the state changed.
 */
export interface LinkStateMessage {
  type: 'link-state';
  state: LinkState;
  backlogMs: number;
}

/**
 * Publisher → server (v3): replaces the tracks of one of this connection's streams (a codec switch, a new
 * picture size) without ending it. Answered by `published` with the same requestId and streamId, or
 * `error` with the same requestId. The publisher's next video frame is a keyframe of the new tracks.
 */
export interface UpdateMessage extends StreamTracks {
  type: 'update';
  requestId: number;
  streamId: number;
}

/**
 * Any client → server (v3): the codec families this connection can decode (see codec-families.ts),
 * replacing what it said before. A connection that never sends it decodes anything.
 */
export interface DecodersMessage {
  type: 'decoders';
  codecs: string[];
}

/**
 * Server → publisher (v3): the video codec families every viewer of `room` that declared its decoders can
 * decode (the publisher's own connection left out); null when no viewer restricts, an empty list when they
 * have none in common. Sent after each `published` and whenever the value changes.
 */
export interface RoomCodecsMessage {
  type: 'room-codecs';
  room: string;
  codecs: string[] | null;
}

/** Every message of protocol v3 (v2's, with codec choice; v2's are v1's with tracks and audio frames). */
export type Message =
  | HelloMessage
  | PublishMessage
  | PublishedMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | UnpublishMessage
  | FrameMessage
  | KeyframeRequestMessage
  | StreamAddedMessage
  | StreamRemovedMessage
  | ErrorMessage
  | PingMessage
  | PongMessage
  | ReceiverReportMessage
  | LinkStateMessage
  | UpdateMessage
  | DecodersMessage
  | RoomCodecsMessage;

/** Bytes before the payload in a frame message: type, streamId, flags, seq, timestamp, captureTime. */
export const FRAME_HEADER_BYTES = 1 + 4 + 1 + 4 + 8 + 8;

/** An audio frame's header is one byte longer: the audio level follows captureTime (v2). */
export const AUDIO_FRAME_HEADER_BYTES = FRAME_HEADER_BYTES + 1;

/** Bit 0 of a frame's flags byte: decoding may start here. */
export const FRAME_FLAG_KEY = 0x01;
/** Bit 1 of a frame's flags byte (v2): a frame of the audio track. Bits 2–7 are reserved and must be 0. */
export const FRAME_FLAG_AUDIO = 0x02;

/** Bit 7 of an audio level byte: the frame holds voice (RFC 6464's V bit). */
export const AUDIO_LEVEL_VOICE = 0x80;
/** An audio level byte for silence with no voice. */
export const AUDIO_LEVEL_SILENT = 127;

/** The audio level byte (RFC 6464) for a frame whose loudest sample is `peak` (0–1 of full scale). */
export function audioLevelByte(peak: number, voice = false): number {
  const dbov = peak > 0 ? Math.round(-20 * Math.log10(Math.min(1, peak))) : AUDIO_LEVEL_SILENT;
  return Math.min(AUDIO_LEVEL_SILENT, Math.max(0, dbov)) | (voice ? AUDIO_LEVEL_VOICE : 0);
}
