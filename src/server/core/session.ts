import {
  badName,
  decodeMessage,
  type ErrorCode,
  type FrameMessage,
  frameMessage,
  type HelloMessage,
  type Message,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ProtocolError,
  type PublishMessage,
  type StreamTracks,
  type SubscribeMessage,
  type UpdateMessage,
} from '../../protocol/index.js';
import { AuthError, allows } from './access.js';
import type { Connection } from './connection.js';
import { describeError } from './log.js';
import { type Relay, streamFields } from './relay.js';
import { Stream } from './stream.js';
import { type Outgoing, outgoingFramed } from './transport.js';

/** Identifies this server in its hello. */
export const SERVER_AGENT = 'framewire/0.1.0';

/** Longest codec string a publisher may declare (WebCodecs strings are a few dozen characters). */
const MAX_CODEC_CHARS = 128;

/**
 * One connection's side of the protocol: what each message it sends does, in the relay's registry.
 * Transports hand it whole messages; a message that breaks the rules closes this connection (with the
 * reason on the wire) and touches nobody else.
 */
export class Session {
  constructor(
    private readonly relay: Relay,
    readonly conn: Connection,
  ) {}

  /** Handles one message. `framed` is the same bytes with their length prefix, if at hand (TCP). */
  receive(body: Uint8Array, framed?: Uint8Array): void {
    const { conn } = this;
    if (conn.closing) return;
    conn.lastSeenAt = Date.now();
    try {
      // The hello reads the same in every version; what follows is read in the version it chose.
      const message = decodeMessage(body, conn.version);
      if (message.type === 'frame') this.onFrame(message, body, framed);
      else this.onControl(message);
    } catch (err) {
      this.reject(err);
    }
  }

  /** Closes the connection for an error raised while reading it: its reason goes to the peer. */
  reject(err: unknown): void {
    const code: ErrorCode = err instanceof ProtocolError ? err.code : 'FW_INTERNAL';
    const text = err instanceof Error ? err.message : String(err);
    // Bugs are errors in our log, with their stack; a peer's bad bytes are logged as the connection closes.
    if (code === 'FW_INTERNAL')
      this.relay.log.error('internal-error', { conn: this.conn.id, error: describeError(err) });
    this.conn.fail(code, text);
  }

  private onFrame(frame: FrameMessage, body: Uint8Array, framed?: Uint8Array): void {
    const { conn } = this;
    if (!conn.hello) throw new ProtocolError('FW_NOT_HELLO', 'frame before hello');
    const stream = conn.published.get(frame.streamId);
    if (!stream)
      throw new ProtocolError('FW_NOT_OWNER', `stream ${frame.streamId} is not published by this connection`);
    const audio = frame.track === 'audio';
    if (audio ? stream.audio === undefined : stream.video === undefined) {
      const track = audio ? 'audio' : 'video';
      throw new ProtocolError(
        'FW_BAD_MESSAGE',
        `stream ${frame.streamId} was published without a ${track} track`,
      );
    }
    const now = performance.now();
    if (!stream.spend(body.length, now)) throw new ProtocolError('FW_LIMIT', stream.overLimitMessage);
    stream.relay(frameOutgoing(body, audio, framed), frame.key, now);
  }

  private onControl(m: Exclude<Message, FrameMessage>): void {
    const { conn, relay } = this;
    if (m.type !== 'hello' && !conn.hello) throw new ProtocolError('FW_NOT_HELLO', `${m.type} before hello`);
    switch (m.type) {
      case 'hello':
        this.onHello(m);
        return;
      case 'publish':
        this.onPublish(m);
        return;
      case 'subscribe':
        this.onSubscribe(m);
        return;
      case 'unsubscribe':
        relay.unsubscribe(conn, m.room, m.name);
        return;
      case 'unpublish': {
        const stream = conn.published.get(m.streamId);
        if (!stream)
          throw new ProtocolError('FW_NOT_OWNER', `stream ${m.streamId} is not published by this connection`);
        relay.endStream(stream, 'unpublished');
        return;
      }
      case 'keyframe-request': {
        // Only a viewer of the stream may ask, and the stream rate-limits what reaches the publisher.
        const sub = conn.subscriptions.get(m.streamId);
        if (sub) sub.stream.requestKeyframe(relay.config.keyframeRequestIntervalMs);
        return;
      }
      case 'ping':
        conn.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
        return;
      case 'pong':
        // Keep-alive pings use id 0; the others are the queue's in-line probes.
        if (m.id !== 0) conn.queue.onPong(m.id);
        return;
      case 'receiver-report': {
        // Reports for streams this connection does not watch are ignored, not an error: they race unsubscribes.
        const sub = conn.subscriptions.get(m.streamId);
        if (!sub) return;
        sub.report = { ...m, at: Date.now() };
        relay.reported(m);
        return;
      }
      case 'error':
        relay.log.warn('client-error', { conn: conn.id, code: m.code, error: m.message });
        return;
      case 'decoders':
        // The codec read it in v3 only, with at most 16 well-formed families (else it closed us).
        conn.declareDecoders(m.codecs);
        relay.log.info('decoders', { conn: conn.id, codecs: m.codecs.join(',') });
        return;
      case 'update':
        this.onUpdate(m);
        return;
      case 'published':
      case 'stream-added':
      case 'stream-removed':
      case 'link-state':
      case 'room-codecs':
        throw new ProtocolError('FW_BAD_MESSAGE', `${m.type} is sent by servers only`);
    }
  }

  private onHello(m: HelloMessage): void {
    const { conn, relay } = this;
    if (conn.hello || conn.helloPending) throw new ProtocolError('FW_BAD_MESSAGE', 'hello sent twice');
    if (m.version < MIN_PROTOCOL_VERSION || m.version > PROTOCOL_VERSION) {
      throw new ProtocolError(
        'FW_BAD_VERSION',
        `protocol version ${m.version} is not supported (this server speaks ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION})`,
      );
    }
    // The server answers in the peer's version and sends it nothing that version lacks (no audio to v1).
    conn.version = m.version;
    conn.queue.audio = m.version >= 2;
    const welcome = () => {
      conn.hello = m;
      conn.send({ type: 'hello', version: m.version, role: 'server', agent: relay.agent, token: '' });
      relay.log.info('hello', { conn: conn.id, role: m.role, agent: m.agent, room: conn.grant?.room });
    };
    const { verifier } = relay;
    if (verifier === null) {
      welcome();
      return;
    }
    // Verifying is async (WebCrypto); until it answers, the peer has no hello and may send nothing else.
    conn.helloPending = true;
    verifier(m.token).then(
      (grant) => {
        if (conn.closing) return;
        conn.helloPending = false;
        conn.grant = grant;
        welcome();
      },
      (err: unknown) => {
        // The token itself is never logged: it is a credential.
        if (err instanceof AuthError) conn.fail(err.code, `${err.message} (${err.reason})`);
        else this.reject(err);
      },
    );
  }

  /**
   * In token mode, answers `requestId` with FW_UNAUTHORIZED unless the grant allows `action` on `room`;
   * true when allowed.
   */
  private authorized(requestId: number, action: 'publish' | 'view', room: string): boolean {
    const { conn } = this;
    if (this.relay.verifier === null) return true;
    const denied = conn.grant ? allows(conn.grant, action, room) : new AuthError('missing', 'no token');
    if (!denied) return true;
    // Only this request is refused: a viewer who presses "Start camera" with a view token keeps watching.
    // The hello already proved the token genuine, so the connection has done nothing wrong.
    this.relay.log.warn('request-unauthorized', { conn: conn.id, action, room, reason: denied.reason });
    this.requestError(requestId, denied.code, `${denied.message} (${denied.reason})`);
    return false;
  }

  private onPublish(m: PublishMessage): void {
    const { conn, relay } = this;
    const bad = badName(m.room, 'room') ?? badName(m.name, 'stream name');
    if (bad) {
      this.requestError(m.requestId, 'FW_BAD_NAME', bad);
      return;
    }
    if (!this.authorized(m.requestId, 'publish', m.room)) return;
    if (!this.codecsOk(m.requestId, m)) return;
    if (conn.published.size >= relay.config.maxStreamsPerConnection) {
      const limit = relay.config.maxStreamsPerConnection;
      this.requestError(m.requestId, 'FW_LIMIT', `a connection may publish at most ${limit} streams`);
      return;
    }
    const opened = relay.openStream(conn, m.room, m.name, {
      video: m.video,
      audio: m.audio,
      screen: m.screen,
    });
    if (!(opened instanceof Stream)) {
      this.requestError(m.requestId, opened.code, opened.message);
      return;
    }
    conn.send({ type: 'published', requestId: m.requestId, streamId: opened.id });
    // Always, right after: the publisher learns the starting value before it picks a codec.
    conn.tellRoomCodecs(opened.room, true);
    relay.log.info('publish', { conn: conn.id, ...streamFields(opened) });
  }

  /**
   * Replaces the tracks of one of this connection's streams, with the checks a publish makes of them; a
   * refusal answers the request and the connection (and the stream) go on.
   */
  private onUpdate(m: UpdateMessage): void {
    const { conn, relay } = this;
    const stream = conn.published.get(m.streamId);
    if (!stream) {
      this.requestError(
        m.requestId,
        'FW_NO_SUCH_STREAM',
        `stream ${m.streamId} is not published by this connection`,
      );
      return;
    }
    if (m.video === undefined && m.audio === undefined) {
      this.requestError(
        m.requestId,
        'FW_BAD_MESSAGE',
        'an update needs a video track, an audio track or both',
      );
      return;
    }
    if (!this.authorized(m.requestId, 'publish', stream.room.name)) return;
    if (!this.codecsOk(m.requestId, m)) return;
    if (!stream.takeUpdate()) {
      this.requestError(m.requestId, 'FW_LIMIT', 'too many updates: at most 10 at once, then 1 a second');
      return;
    }
    relay.updateStream(stream, { video: m.video, audio: m.audio, screen: m.screen });
    conn.send({ type: 'published', requestId: m.requestId, streamId: stream.id });
  }

  /** Answers `requestId` with FW_BAD_MESSAGE unless every codec string of `t` is 1 to 128 characters. */
  private codecsOk(requestId: number, t: StreamTracks): boolean {
    const bad = [t.video?.codec, t.audio?.codec].some(
      (c) => c !== undefined && (c.length === 0 || c.length > MAX_CODEC_CHARS),
    );
    if (!bad) return true;
    this.requestError(
      requestId,
      'FW_BAD_MESSAGE',
      `decoder config needs a codec string of 1 to ${MAX_CODEC_CHARS} characters`,
    );
    return false;
  }

  private onSubscribe(m: SubscribeMessage): void {
    const { conn, relay } = this;
    const bad = badName(m.room, 'room') ?? (m.name === '' ? undefined : badName(m.name, 'stream name'));
    if (bad) {
      this.requestError(m.requestId, 'FW_BAD_NAME', bad);
      return;
    }
    if (!this.authorized(m.requestId, 'view', m.room)) return;
    const refused =
      m.name === '' ? relay.subscribeRoom(conn, m.room) : relay.subscribeStream(conn, m.room, m.name);
    if (refused) this.requestError(m.requestId, refused.code, refused.message);
  }

  private requestError(requestId: number, code: ErrorCode, message: string): void {
    this.conn.send({ type: 'error', requestId, code, message });
  }
}

/**
 * The frame as it will be sent to every viewer. TCP input already has its prefix (no copy). A frame
 * inside a much larger read buffer is copied once, so the GOP cache holds the frame, not the buffer.
 */
function frameOutgoing(body: Uint8Array, audio: boolean, framed?: Uint8Array): Outgoing {
  let f = framed;
  if (!f || f.buffer.byteLength > 2 * f.byteLength) f = frameMessage(body);
  return outgoingFramed(f, audio);
}
