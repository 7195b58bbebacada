import { ByteReader, ByteWriter, utf8 } from './bytes.js';
import { checkCodecFamilies, MAX_CODEC_FAMILIES } from './codec-families.js';
import { ProtocolError } from './errors.js';
import {
  AUDIO_FRAME_HEADER_BYTES,
  type AudioConfig,
  type DecoderConfig,
  type DecodersMessage,
  FRAME_FLAG_AUDIO,
  FRAME_FLAG_KEY,
  FRAME_HEADER_BYTES,
  type FrameMessage,
  LINK_STATES,
  type Message,
  MessageType,
  PROTOCOL_VERSION,
  ROLES,
  type RoomCodecsMessage,
  type StreamTracks,
  type UpdateMessage,
} from './messages.js';

/** Size of a receiver-report: type, streamId, four counters, three f64 figures. */
const RECEIVER_REPORT_BYTES = 1 + 4 + 4 * 4 + 3 * 8;

// Encoding: each message's size is computed first, then written once into an exact-size buffer.

/** Bit 0 of a v2 stream description's tracks byte: a video config follows. */
const TRACK_VIDEO = 0x01;
/** Bit 1: an audio config follows (after the video one, if both). */
const TRACK_AUDIO = 0x02;
/** Bit 2 (v4): the video is a shared screen. Only with bit 0; bits 3–7 are reserved. */
const TRACK_SCREEN = 0x04;

function bad(message: string): ProtocolError {
  return new ProtocolError('FW_BAD_MESSAGE', message);
}

/** A stream's tracks as they go on the wire: the encoded strings beside the configs they come from. */
interface EncodedTracks {
  video?: { codec: Uint8Array; config: DecoderConfig };
  audio?: { codec: Uint8Array; config: AudioConfig };
  screen: boolean;
}

/** The version a message new in `since` needs; FW_BAD_MESSAGE in an older one, either way. */
function needVersion(version: number, since: number, type: string): void {
  if (version < since) throw bad(`protocol v${version} has no ${type} message (it is new in v${since})`);
}

/**
 * `allowNone`: an update's tracks byte may name no track, so that the server can refuse it as an answer
 * to its requestId (the connection goes on) rather than as unreadable bytes (which close it).
 */
function encodeTracks(t: StreamTracks, version: number, allowNone = false): EncodedTracks {
  if (version < 2) {
    // v1 has room for one video config and nothing else: the server never offers it other streams.
    if (!t.video || t.audio) throw bad('protocol v1 carries streams with a video track only');
  } else if (!t.video && !t.audio && !allowNone) {
    throw bad('a stream needs a video track, an audio track or both');
  }
  // Older versions have no screen bit: their viewers see a screen as a camera.
  const out: EncodedTracks = { screen: version >= 4 && t.screen === true && t.video !== undefined };
  if (t.video) out.video = { codec: utf8(t.video.codec), config: t.video };
  if (t.audio) out.audio = { codec: utf8(t.audio.codec), config: t.audio };
  return out;
}

function tracksSize(t: EncodedTracks, version: number): number {
  let size = version < 2 ? 0 : 1;
  if (t.video) size += 2 + t.video.codec.length + 2 + 2 + 4 + (t.video.config.description?.length ?? 0);
  if (t.audio) size += 2 + t.audio.codec.length + 4 + 1 + 4 + (t.audio.config.description?.length ?? 0);
  return size;
}

function writeTracks(w: ByteWriter, t: EncodedTracks, version: number): void {
  if (version >= 2)
    w.u8((t.video ? TRACK_VIDEO : 0) | (t.audio ? TRACK_AUDIO : 0) | (t.screen ? TRACK_SCREEN : 0));
  if (t.video) {
    const c = t.video.config;
    w.str(t.video.codec).u16(c.codedWidth).u16(c.codedHeight);
    const d = c.description ?? new Uint8Array(0);
    w.u32(d.length).raw(d);
  }
  if (t.audio) {
    const c = t.audio.config;
    w.str(t.audio.codec).u32(c.sampleRate).u8(c.numberOfChannels);
    const d = c.description ?? new Uint8Array(0);
    w.u32(d.length).raw(d);
  }
}

/** publish and stream-added share a layout: type, a u32 id, room, name, the stream's tracks. */
function encodeStreamDescription(
  type: number,
  id: number,
  room: string,
  name: string,
  t: StreamTracks,
  version: number,
): Uint8Array {
  const roomBytes = utf8(room);
  const nameBytes = utf8(name);
  const tracks = encodeTracks(t, version);
  const w = new ByteWriter(1 + 4 + 2 + roomBytes.length + 2 + nameBytes.length + tracksSize(tracks, version))
    .u8(type)
    .u32(id)
    .str(roomBytes)
    .str(nameBytes);
  writeTracks(w, tracks, version);
  return w.done();
}

/** update: type, requestId, streamId, the new tracks (always the v2 layout, with its tracks byte). */
function encodeUpdate(m: UpdateMessage, version: number): Uint8Array {
  needVersion(version, 3, 'update');
  const tracks = encodeTracks(m, version, true);
  const w = new ByteWriter(1 + 4 + 4 + tracksSize(tracks, version))
    .u8(MessageType.update)
    .u32(m.requestId)
    .u32(m.streamId);
  writeTracks(w, tracks, version);
  return w.done();
}

/** A list of codec families as it goes on the wire: a u8 count, then each family as a str. */
function encodeFamilies(codecs: readonly string[]): { size: number; encoded: Uint8Array[] } {
  checkCodecFamilies(codecs);
  const encoded = codecs.map(utf8);
  return { size: 1 + encoded.reduce((n, e) => n + 2 + e.length, 0), encoded };
}

function writeFamilies(w: ByteWriter, encoded: readonly Uint8Array[]): void {
  w.u8(encoded.length);
  for (const e of encoded) w.str(e);
}

function encodeDecoders(m: DecodersMessage, version: number): Uint8Array {
  needVersion(version, 3, 'decoders');
  const list = encodeFamilies(m.codecs);
  const w = new ByteWriter(1 + list.size).u8(MessageType.decoders);
  writeFamilies(w, list.encoded);
  return w.done();
}

/** room-codecs: type, room, a byte saying whether a list follows (0: null, no viewer restricts), the list. */
function encodeRoomCodecs(m: RoomCodecsMessage, version: number): Uint8Array {
  needVersion(version, 3, 'room-codecs');
  const room = utf8(m.room);
  const list = m.codecs === null ? null : encodeFamilies(m.codecs);
  const w = new ByteWriter(1 + 2 + room.length + 1 + (list?.size ?? 0))
    .u8(MessageType.roomCodecs)
    .str(room)
    .u8(list === null ? 0 : 1);
  if (list !== null) writeFamilies(w, list.encoded);
  return w.done();
}

function encodeFrame(m: FrameMessage, version: number): Uint8Array {
  if (m.payload.length === 0) throw bad('frame has no payload');
  const audio = m.track === 'audio';
  if (audio && version < 2) throw bad('protocol v1 has no audio frames');
  if (!audio && m.audioLevel !== undefined) throw bad('only audio frames carry an audio level');
  const w = new ByteWriter((audio ? AUDIO_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES) + m.payload.length)
    .u8(MessageType.frame)
    .u32(m.streamId)
    .u8((m.key ? FRAME_FLAG_KEY : 0) | (audio ? FRAME_FLAG_AUDIO : 0))
    .u32(m.seq)
    .f64(m.timestamp)
    .f64(m.captureTime);
  if (audio) w.u8(m.audioLevel ?? 127);
  return w.raw(m.payload).done();
}

/**
 * Encodes one message to its wire bytes (without TCP framing), in the layout of protocol `version`.
 * Throws ProtocolError on unencodable fields, and on what that version cannot carry (audio in v1).
 */
export function encodeMessage(m: Message, version = PROTOCOL_VERSION): Uint8Array {
  switch (m.type) {
    case 'hello': {
      if (!ROLES.includes(m.role)) throw new ProtocolError('FW_BAD_MESSAGE', `unknown role ${m.role}`);
      const agent = utf8(m.agent);
      const token = utf8(m.token);
      return new ByteWriter(1 + 1 + 1 + 2 + agent.length + 2 + token.length)
        .u8(MessageType.hello)
        .u8(m.version)
        .u8(ROLES.indexOf(m.role))
        .str(agent)
        .str(token)
        .done();
    }
    case 'publish':
      return encodeStreamDescription(MessageType.publish, m.requestId, m.room, m.name, m, version);
    case 'published':
      return new ByteWriter(9).u8(MessageType.published).u32(m.requestId).u32(m.streamId).done();
    case 'subscribe':
    case 'unsubscribe': {
      const room = utf8(m.room);
      const name = utf8(m.name);
      return new ByteWriter(1 + 4 + 2 + room.length + 2 + name.length)
        .u8(m.type === 'subscribe' ? MessageType.subscribe : MessageType.unsubscribe)
        .u32(m.requestId)
        .str(room)
        .str(name)
        .done();
    }
    case 'unpublish':
      return new ByteWriter(5).u8(MessageType.unpublish).u32(m.streamId).done();
    case 'frame':
      return encodeFrame(m, version);
    case 'keyframe-request':
      return new ByteWriter(5).u8(MessageType.keyframeRequest).u32(m.streamId).done();
    case 'stream-added':
      return encodeStreamDescription(MessageType.streamAdded, m.streamId, m.room, m.name, m, version);
    case 'stream-removed': {
      const reason = utf8(m.reason);
      return new ByteWriter(1 + 4 + 2 + reason.length)
        .u8(MessageType.streamRemoved)
        .u32(m.streamId)
        .str(reason)
        .done();
    }
    case 'error': {
      const code = utf8(m.code);
      const text = utf8(m.message);
      return new ByteWriter(1 + 4 + 2 + code.length + 2 + text.length)
        .u8(MessageType.error)
        .u32(m.requestId)
        .str(code)
        .str(text)
        .done();
    }
    case 'ping':
      return new ByteWriter(13).u8(MessageType.ping).u32(m.id).f64(m.time).done();
    case 'pong':
      return new ByteWriter(21).u8(MessageType.pong).u32(m.id).f64(m.echoTime).f64(m.responderTime).done();
    case 'receiver-report':
      return new ByteWriter(RECEIVER_REPORT_BYTES)
        .u8(MessageType.receiverReport)
        .u32(m.streamId)
        .u32(m.framesReceived)
        .u32(m.framesDecoded)
        .u32(m.framesDropped)
        .u32(m.framesLate)
        .f64(m.fps)
        .f64(m.latencyP50Ms)
        .f64(m.latencyP95Ms)
        .done();
    case 'link-state':
      return new ByteWriter(6)
        .u8(MessageType.linkState)
        .u8(LINK_STATES.indexOf(m.state))
        .u32(m.backlogMs)
        .done();
    case 'update':
      return encodeUpdate(m, version);
    case 'decoders':
      return encodeDecoders(m, version);
    case 'room-codecs':
      return encodeRoomCodecs(m, version);
  }
}

// Decoding: every read is bounds-checked by ByteReader, so any input ends in a Message or a ProtocolError.

function readVideo(r: ByteReader): DecoderConfig {
  const codec = r.str('codec');
  const codedWidth = r.u16('codedWidth');
  const codedHeight = r.u16('codedHeight');
  const descLen = r.u32('description length');
  const config: DecoderConfig = { codec, codedWidth, codedHeight };
  if (descLen > 0) config.description = r.bytesOf(descLen, 'description');
  return config;
}

function readAudio(r: ByteReader): AudioConfig {
  const codec = r.str('audio codec');
  const sampleRate = r.u32('sampleRate');
  const numberOfChannels = r.u8('numberOfChannels');
  const descLen = r.u32('audio description length');
  const config: AudioConfig = { codec, sampleRate, numberOfChannels };
  if (descLen > 0) config.description = r.bytesOf(descLen, 'audio description');
  return config;
}

function readStreamDescription(
  r: ByteReader,
  version: number,
): { room: string; name: string } & StreamTracks {
  const room = r.str('room');
  const name = r.str('name');
  if (version < 2) return { room, name, video: readVideo(r) };
  return { room, name, ...readTracks(r, false, version) };
}

/** The v2 tracks layout: a tracks byte, then the configs it names (none only where `allowNone`). */
function readTracks(r: ByteReader, allowNone: boolean, version: number): StreamTracks {
  const tracks = r.u8('tracks');
  const known = TRACK_VIDEO | TRACK_AUDIO | (version >= 4 ? TRACK_SCREEN : 0);
  const media = tracks & (TRACK_VIDEO | TRACK_AUDIO);
  if ((media === 0 && !allowNone) || (tracks & ~known) !== 0)
    throw bad(`tracks byte 0x${tracks.toString(16)} names no track or a reserved one`);
  if (tracks & TRACK_SCREEN && !(tracks & TRACK_VIDEO))
    throw bad(`tracks byte 0x${tracks.toString(16)} marks a screen with no video`);
  const out: StreamTracks = {};
  if (tracks & TRACK_SCREEN) out.screen = true;
  if (tracks & TRACK_VIDEO) out.video = readVideo(r);
  if (tracks & TRACK_AUDIO) out.audio = readAudio(r);
  return out;
}

/** A list of codec families: a u8 count, then each family as a str; checked as the encoder checks it. */
function readFamilies(r: ByteReader): string[] {
  const count = r.u8('codec count');
  if (count > MAX_CODEC_FAMILIES) throw bad(`${count} codec families listed; at most ${MAX_CODEC_FAMILIES}`);
  const codecs: string[] = [];
  for (let i = 0; i < count; i++) codecs.push(r.str('codec family'));
  checkCodecFamilies(codecs);
  return codecs;
}

function finite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new ProtocolError('FW_BAD_MESSAGE', `${what} is not a finite number`);
  return v;
}

/**
 * Decodes one message from its wire bytes, in the layout of protocol `version` (hello is the same in
 * every version). Byte fields (payload, description) are views into `bytes`, not copies. Any malformed
 * input throws a ProtocolError with a code; nothing else is thrown.
 */
export function decodeMessage(bytes: Uint8Array, version = PROTOCOL_VERSION): Message {
  if (bytes.length === 0) throw new ProtocolError('FW_TRUNCATED', 'empty message');
  const r = new ByteReader(bytes, 1);
  const typeByte = bytes[0];
  switch (typeByte) {
    case MessageType.hello: {
      const version = r.u8('version');
      const roleByte = r.u8('role');
      const role = ROLES[roleByte];
      if (role === undefined) throw new ProtocolError('FW_BAD_MESSAGE', `unknown role ${roleByte}`);
      const m = { type: 'hello', version, role, agent: r.str('agent'), token: r.str('token') } as const;
      r.end('hello');
      return m;
    }
    case MessageType.publish: {
      const requestId = r.u32('requestId');
      const m = { type: 'publish', requestId, ...readStreamDescription(r, version) } as const;
      r.end('publish');
      return m;
    }
    case MessageType.published: {
      const m = { type: 'published', requestId: r.u32('requestId'), streamId: r.u32('streamId') } as const;
      r.end('published');
      return m;
    }
    case MessageType.subscribe:
    case MessageType.unsubscribe: {
      const type = typeByte === MessageType.subscribe ? 'subscribe' : 'unsubscribe';
      const m = { type, requestId: r.u32('requestId'), room: r.str('room'), name: r.str('name') } as const;
      r.end(type);
      return m;
    }
    case MessageType.unpublish: {
      const m = { type: 'unpublish', streamId: r.u32('streamId') } as const;
      r.end('unpublish');
      return m;
    }
    case MessageType.frame:
      return decodeFrame(bytes, r, version);
    case MessageType.keyframeRequest: {
      const m = { type: 'keyframe-request', streamId: r.u32('streamId') } as const;
      r.end('keyframe-request');
      return m;
    }
    case MessageType.streamAdded: {
      const streamId = r.u32('streamId');
      const m = { type: 'stream-added', streamId, ...readStreamDescription(r, version) } as const;
      r.end('stream-added');
      return m;
    }
    case MessageType.streamRemoved: {
      const m = { type: 'stream-removed', streamId: r.u32('streamId'), reason: r.str('reason') } as const;
      r.end('stream-removed');
      return m;
    }
    case MessageType.error: {
      const m = {
        type: 'error',
        requestId: r.u32('requestId'),
        code: r.str('code'),
        message: r.str('message'),
      } as const;
      r.end('error');
      return m;
    }
    case MessageType.ping: {
      const m = { type: 'ping', id: r.u32('id'), time: finite(r.f64('time'), 'time') } as const;
      r.end('ping');
      return m;
    }
    case MessageType.pong: {
      const m = {
        type: 'pong',
        id: r.u32('id'),
        echoTime: finite(r.f64('echoTime'), 'echoTime'),
        responderTime: finite(r.f64('responderTime'), 'responderTime'),
      } as const;
      r.end('pong');
      return m;
    }
    case MessageType.receiverReport: {
      const m = {
        type: 'receiver-report',
        streamId: r.u32('streamId'),
        framesReceived: r.u32('framesReceived'),
        framesDecoded: r.u32('framesDecoded'),
        framesDropped: r.u32('framesDropped'),
        framesLate: r.u32('framesLate'),
        fps: finite(r.f64('fps'), 'fps'),
        latencyP50Ms: finite(r.f64('latencyP50Ms'), 'latencyP50Ms'),
        latencyP95Ms: finite(r.f64('latencyP95Ms'), 'latencyP95Ms'),
      } as const;
      r.end('receiver-report');
      return m;
    }
    case MessageType.linkState: {
      const index = r.u8('state');
      const state = LINK_STATES[index];
      if (state === undefined) throw new ProtocolError('FW_BAD_MESSAGE', `unknown link state ${index}`);
      const m = { type: 'link-state', state, backlogMs: r.u32('backlogMs') } as const;
      r.end('link-state');
      return m;
    }
    case MessageType.update: {
      needVersion(version, 3, 'update');
      const requestId = r.u32('requestId');
      const streamId = r.u32('streamId');
      const m = { type: 'update', requestId, streamId, ...readTracks(r, true, version) } as const;
      r.end('update');
      return m;
    }
    case MessageType.decoders: {
      needVersion(version, 3, 'decoders');
      const m = { type: 'decoders', codecs: readFamilies(r) } as const;
      r.end('decoders');
      return m;
    }
    case MessageType.roomCodecs: {
      needVersion(version, 3, 'room-codecs');
      const room = r.str('room');
      const restricted = r.u8('restricted');
      if (restricted > 1) throw bad(`room-codecs list byte ${restricted} is neither 0 (none) nor 1`);
      const m = { type: 'room-codecs', room, codecs: restricted === 0 ? null : readFamilies(r) } as const;
      r.end('room-codecs');
      return m;
    }
    default:
      throw new ProtocolError('FW_UNKNOWN_TYPE', `unknown message type 0x${(typeByte ?? 0).toString(16)}`);
  }
}

function decodeFrame(bytes: Uint8Array, r: ByteReader, version: number): FrameMessage {
  const streamId = r.u32('streamId');
  const flags = r.u8('flags');
  const known = version < 2 ? FRAME_FLAG_KEY : FRAME_FLAG_KEY | FRAME_FLAG_AUDIO;
  if ((flags & ~known) !== 0) throw bad(`reserved frame flags set: 0x${flags.toString(16)}`);
  const seq = r.u32('seq');
  const timestamp = finite(r.f64('timestamp'), 'timestamp');
  const captureTime = finite(r.f64('captureTime'), 'captureTime');
  const key = (flags & FRAME_FLAG_KEY) !== 0;
  if ((flags & FRAME_FLAG_AUDIO) === 0) {
    // A frame with no payload carries nothing to decode: refuse it rather than relay it.
    if (bytes.length === FRAME_HEADER_BYTES) throw bad('frame has no payload');
    return { type: 'frame', streamId, key, seq, timestamp, captureTime, payload: r.rest() };
  }
  const audioLevel = r.u8('audioLevel');
  if (bytes.length === AUDIO_FRAME_HEADER_BYTES) throw bad('frame has no payload');
  return {
    type: 'frame',
    streamId,
    key,
    track: 'audio',
    audioLevel,
    seq,
    timestamp,
    captureTime,
    payload: r.rest(),
  };
}
