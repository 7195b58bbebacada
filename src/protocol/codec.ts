import { ByteReader, ByteWriter, utf8 } from './bytes.js';
import { ProtocolError } from './errors.js';
import {
  type DecoderConfig,
  FRAME_FLAG_KEY,
  FRAME_HEADER_BYTES,
  type FrameMessage,
  LINK_STATES,
  type Message,
  MessageType,
  ROLES,
} from './messages.js';

/** Size of a receiver-report: type, streamId, four counters, three f64 figures. */
const RECEIVER_REPORT_BYTES = 1 + 4 + 4 * 4 + 3 * 8;

// Encoding: each message's size is computed first, then written once into an exact-size buffer.

function configSize(codec: Uint8Array, c: DecoderConfig): number {
  return 2 + codec.length + 2 + 2 + 4 + (c.description?.length ?? 0);
}

function writeConfig(w: ByteWriter, codec: Uint8Array, c: DecoderConfig): void {
  w.str(codec).u16(c.codedWidth).u16(c.codedHeight);
  const d = c.description ?? new Uint8Array(0);
  w.u32(d.length).raw(d);
}

/** publish and stream-added share a layout: type, a u32 id, room, name, decoder config. */
function encodeStreamDescription(
  type: number,
  id: number,
  room: string,
  name: string,
  c: DecoderConfig,
): Uint8Array {
  const roomBytes = utf8(room);
  const nameBytes = utf8(name);
  const codec = utf8(c.codec);
  const w = new ByteWriter(1 + 4 + 2 + roomBytes.length + 2 + nameBytes.length + configSize(codec, c))
    .u8(type)
    .u32(id)
    .str(roomBytes)
    .str(nameBytes);
  writeConfig(w, codec, c);
  return w.done();
}

/** Encodes one message to its wire bytes (without TCP framing). Throws ProtocolError on unencodable fields. */
export function encodeMessage(m: Message): Uint8Array {
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
      return encodeStreamDescription(MessageType.publish, m.requestId, m.room, m.name, m.config);
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
      if (m.payload.length === 0) throw new ProtocolError('FW_BAD_MESSAGE', 'frame has no payload');
      return new ByteWriter(FRAME_HEADER_BYTES + m.payload.length)
        .u8(MessageType.frame)
        .u32(m.streamId)
        .u8(m.key ? FRAME_FLAG_KEY : 0)
        .u32(m.seq)
        .f64(m.timestamp)
        .f64(m.captureTime)
        .raw(m.payload)
        .done();
    case 'keyframe-request':
      return new ByteWriter(5).u8(MessageType.keyframeRequest).u32(m.streamId).done();
    case 'stream-added':
      return encodeStreamDescription(MessageType.streamAdded, m.streamId, m.room, m.name, m.config);
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
  }
}

// Decoding: every read is bounds-checked by ByteReader, so any input ends in a Message or a ProtocolError.

function readConfig(r: ByteReader): DecoderConfig {
  const codec = r.str('codec');
  const codedWidth = r.u16('codedWidth');
  const codedHeight = r.u16('codedHeight');
  const descLen = r.u32('description length');
  const config: DecoderConfig = { codec, codedWidth, codedHeight };
  if (descLen > 0) config.description = r.bytesOf(descLen, 'description');
  return config;
}

function readStreamDescription(r: ByteReader): { room: string; name: string; config: DecoderConfig } {
  const room = r.str('room');
  const name = r.str('name');
  return { room, name, config: readConfig(r) };
}

function finite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new ProtocolError('FW_BAD_MESSAGE', `${what} is not a finite number`);
  return v;
}

/**
 * Decodes one message from its wire bytes. Byte fields (payload, description) are views into `bytes`,
 * not copies. Any malformed input throws a ProtocolError with a code; nothing else is thrown.
 */
export function decodeMessage(bytes: Uint8Array): Message {
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
      const m = { type: 'publish', requestId: r.u32('requestId'), ...readStreamDescription(r) } as const;
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
      return decodeFrame(bytes, r);
    case MessageType.keyframeRequest: {
      const m = { type: 'keyframe-request', streamId: r.u32('streamId') } as const;
      r.end('keyframe-request');
      return m;
    }
    case MessageType.streamAdded: {
      const m = { type: 'stream-added', streamId: r.u32('streamId'), ...readStreamDescription(r) } as const;
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
    default:
      throw new ProtocolError('FW_UNKNOWN_TYPE', `unknown message type 0x${(typeByte ?? 0).toString(16)}`);
  }
}

function decodeFrame(bytes: Uint8Array, r: ByteReader): FrameMessage {
  const streamId = r.u32('streamId');
  const flags = r.u8('flags');
  if ((flags & ~FRAME_FLAG_KEY) !== 0) {
    throw new ProtocolError('FW_BAD_MESSAGE', `reserved frame flags set: 0x${flags.toString(16)}`);
  }
  const seq = r.u32('seq');
  const timestamp = finite(r.f64('timestamp'), 'timestamp');
  const captureTime = finite(r.f64('captureTime'), 'captureTime');
  // A frame with no payload carries nothing to decode: refuse it rather than relay it.
  if (bytes.length === FRAME_HEADER_BYTES) throw new ProtocolError('FW_BAD_MESSAGE', 'frame has no payload');
  return {
    type: 'frame',
    streamId,
    key: (flags & FRAME_FLAG_KEY) !== 0,
    seq,
    timestamp,
    captureTime,
    payload: r.rest(),
  };
}
