import {
  badName,
  type DecoderConfig,
  decodeMessage,
  type ErrorCode,
  type FrameMessage,
  frameMessage,
  type HelloMessage,
  type Message,
  PROTOCOL_VERSION,
  ProtocolError,
  type PublishMessage,
  type ReceiverReportMessage,
  type SubscribeMessage,
} from '../../protocol/index.js';
import { AuthError, allows, type TokenVerifier } from './access.js';
import type { RelayConfig } from './config.js';
import { Connection } from './connection.js';
import { CountMap } from './count-map.js';
import type { Log } from './log.js';
import { Room } from './room.js';
import { type Publisher, Stream } from './stream.js';
import { Subscription } from './subscription.js';
import { TickBatcher } from './tick-batcher.js';
import { Totals } from './totals.js';
import { type Outgoing, outgoingFramed, type Transport } from './transport.js';

/** Identifies this server in its hello. */
export const SERVER_AGENT = 'framewire/0.1.0';

/** Drop log lines per viewer and stream at most this often. */
const DROP_LOG_INTERVAL_MS = 5000;

/**
 * The relay: rooms, streams and connections, and what each message does to them. Transports feed it
 * decoded bytes; it never decodes video, only the key/delta flag of each frame.
 */
export class Relay<C extends RelayConfig = RelayConfig> {
  readonly rooms = new Map<string, Room>();
  readonly streams = new Map<number, Stream>();
  readonly connections = new Set<Connection>();
  /** Open connections per IP address, for the per-address limit. */
  private readonly perIp = new CountMap<string>();
  private readonly batcher = new TickBatcher();
  /** Running totals since start, for /metrics. */
  readonly totals = new Totals();
  /** Called with each stream as it opens (recordings start here). */
  readonly streamListeners = new Set<(stream: Stream) => void>();
  /** Called with each receiver report from a viewer of the stream it names (/metrics keeps latencies). */
  readonly reportListeners = new Set<(report: ReceiverReportMessage) => void>();
  private nextStreamId = 1;
  private nextConnectionId = 1;

  constructor(
    readonly config: C,
    readonly log: Log,
    /** Checks hello tokens in token mode; null is open mode (anyone may publish and view). */
    readonly verifier: TokenVerifier | null = null,
  ) {}

  /** Registers a new connection; it must say hello within the configured time. */
  accept(transport: Transport): Connection {
    const conn = new Connection(
      this.nextConnectionId++,
      transport,
      { maxBytes: this.config.viewerQueueBytes, maxAgeMs: this.config.viewerQueueAgeMs },
      this.totals,
      {
        onSkip: (sink) => this.onSkip(sink as Subscription),
        batcher: this.batcher,
        onFail: (code, error) => {
          // Shutdown closes everyone for the same reason; the shutdown line already says so.
          if (code !== 'FW_SHUTDOWN') this.log.warn('closing', { conn: conn.id, code, error });
        },
      },
    );
    this.connections.add(conn);
    this.log.info('connect', { conn: conn.id, transport: transport.kind, remote: transport.remote });
    const fromIp = this.perIp.add(transport.ip);
    if (fromIp > this.config.maxConnectionsPerIp) {
      conn.fail(
        'FW_LIMIT',
        `too many connections from ${transport.ip} (limit ${this.config.maxConnectionsPerIp})`,
      );
      return conn;
    }
    setTimeout(() => {
      if (!conn.hello) conn.fail('FW_NOT_HELLO', `no hello within ${this.config.helloTimeoutMs} ms`);
    }, this.config.helloTimeoutMs).unref();
    return conn;
  }

  /** Handles one message from `conn`. `framed` is the same bytes with their length prefix, if at hand. */
  receive(conn: Connection, body: Uint8Array, framed?: Uint8Array): void {
    if (conn.closing) return;
    conn.lastSeenAt = Date.now();
    try {
      const message = decodeMessage(body);
      if (message.type === 'frame') this.onFrame(conn, message, body, framed);
      else this.onControl(conn, message);
    } catch (err) {
      this.reject(conn, err);
    }
  }

  /** Closes `conn` for an error raised while reading it: its reason goes to the peer, nobody else notices. */
  reject(conn: Connection, err: unknown): void {
    const code: ErrorCode = err instanceof ProtocolError ? err.code : 'FW_INTERNAL';
    const text = err instanceof Error ? err.message : String(err);
    // Bugs are errors in our log; a peer's bad bytes are logged as the connection closes (a warning).
    if (code === 'FW_INTERNAL') this.log.error('internal-error', { conn: conn.id, error: text });
    conn.fail(code, text);
  }

  /** Pings connections gone quiet and closes those silent past the idle timeout; called on a timer. */
  sweepIdle(now = Date.now()): void {
    const timeout = this.config.idleTimeoutMs;
    for (const conn of this.connections) {
      const silent = now - conn.lastSeenAt;
      if (silent > timeout) {
        conn.fail(
          'FW_TIMEOUT',
          `nothing received for ${Math.round(silent / 1000)} s (idle timeout ${timeout / 1000} s)`,
        );
      } else if (silent > timeout / 2 && now - conn.lastPingAt > timeout / 2 && conn.hello) {
        // Any message resets the clock; a pong is the cheapest one a quiet viewer can send.
        conn.lastPingAt = now;
        conn.send({ type: 'ping', id: 0, time: now * 1000 });
      }
    }
  }

  /** Samples every stream's rates; the server calls this once per `intervalMs`. */
  sampleRates(intervalMs: number): void {
    for (const stream of this.streams.values()) stream.sampleRates(intervalMs);
  }

  /** Forgets everything `conn` published or watched; call once its transport has closed. */
  disconnect(conn: Connection, reason: string): void {
    if (!this.connections.delete(conn)) return;
    conn.closing = true;
    this.perIp.remove(conn.transport.ip);
    for (const stream of conn.published.values()) this.endStream(stream, 'disconnected');
    for (const sub of conn.subscriptions.values()) sub.stream.subscriptions.delete(sub);
    conn.subscriptions.clear();
    for (const room of conn.rooms) {
      room.subscribers.delete(conn);
      this.forgetIfEmpty(room);
    }
    conn.rooms.clear();
    this.log.info('disconnect', {
      conn: conn.id,
      reason,
      seconds: Math.round((Date.now() - conn.connectedAt) / 1000),
    });
  }

  private onFrame(conn: Connection, frame: FrameMessage, body: Uint8Array, framed?: Uint8Array): void {
    if (!conn.hello) throw new ProtocolError('FW_NOT_HELLO', 'frame before hello');
    const stream = conn.published.get(frame.streamId);
    if (!stream)
      throw new ProtocolError('FW_NOT_OWNER', `stream ${frame.streamId} is not published by this connection`);
    const now = performance.now();
    if (!stream.spend(body.length, now)) throw new ProtocolError('FW_LIMIT', stream.overLimitMessage);
    stream.relay(frameOutgoing(body, framed), frame.key, now);
  }

  private onControl(conn: Connection, m: Exclude<Message, FrameMessage>): void {
    if (m.type !== 'hello' && !conn.hello) throw new ProtocolError('FW_NOT_HELLO', `${m.type} before hello`);
    switch (m.type) {
      case 'hello':
        this.onHello(conn, m);
        return;
      case 'publish':
        this.onPublish(conn, m);
        return;
      case 'subscribe':
        this.onSubscribe(conn, m);
        return;
      case 'unsubscribe':
        this.onUnsubscribe(conn, m.room, m.name);
        return;
      case 'unpublish': {
        const stream = conn.published.get(m.streamId);
        if (!stream)
          throw new ProtocolError('FW_NOT_OWNER', `stream ${m.streamId} is not published by this connection`);
        this.endStream(stream, 'unpublished');
        return;
      }
      case 'keyframe-request': {
        // Only a viewer of the stream may ask, and the stream rate-limits what reaches the publisher.
        const sub = conn.subscriptions.get(m.streamId);
        if (sub) sub.stream.requestKeyframe(this.config.keyframeRequestIntervalMs);
        return;
      }
      case 'ping':
        conn.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
        return;
      case 'pong':
        return;
      case 'receiver-report': {
        // Reports for streams this connection does not watch are ignored, not an error: they race unsubscribes.
        const sub = conn.subscriptions.get(m.streamId);
        if (!sub) return;
        sub.report = { ...m, at: Date.now() };
        for (const listener of this.reportListeners) listener(m);
        return;
      }
      case 'error':
        this.log.warn('client-error', { conn: conn.id, code: m.code, error: m.message });
        return;
      case 'published':
      case 'stream-added':
      case 'stream-removed':
        throw new ProtocolError('FW_BAD_MESSAGE', `${m.type} is sent by servers only`);
    }
  }

  private onHello(conn: Connection, m: HelloMessage): void {
    if (conn.hello || conn.helloPending) throw new ProtocolError('FW_BAD_MESSAGE', 'hello sent twice');
    if (m.version !== PROTOCOL_VERSION) {
      throw new ProtocolError(
        'FW_BAD_VERSION',
        `protocol version ${m.version} is not supported (this server speaks ${PROTOCOL_VERSION})`,
      );
    }
    const welcome = () => {
      conn.hello = m;
      conn.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'server', agent: SERVER_AGENT, token: '' });
      this.log.info('hello', { conn: conn.id, role: m.role, agent: m.agent, room: conn.grant?.room });
    };
    const { verifier } = this;
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
        else this.reject(conn, err);
      },
    );
  }

  /** In token mode, closes `conn` unless its grant allows `action` on `room`; true when allowed. */
  private authorized(conn: Connection, action: 'publish' | 'view', room: string): boolean {
    if (this.verifier === null) return true;
    const denied = conn.grant ? allows(conn.grant, action, room) : new AuthError('missing', 'no token');
    if (!denied) return true;
    conn.fail(denied.code, `${denied.message} (${denied.reason})`);
    return false;
  }

  private onPublish(conn: Connection, m: PublishMessage): void {
    const bad = badName(m.room, 'room') ?? badName(m.name, 'stream name');
    if (bad) {
      requestError(conn, m.requestId, 'FW_BAD_NAME', bad);
      return;
    }
    if (!this.authorized(conn, 'publish', m.room)) return;
    if (m.config.codec.length === 0 || m.config.codec.length > 128) {
      requestError(
        conn,
        m.requestId,
        'FW_BAD_MESSAGE',
        'decoder config needs a codec string of 1 to 128 characters',
      );
      return;
    }
    if (conn.published.size >= this.config.maxStreamsPerConnection) {
      const limit = this.config.maxStreamsPerConnection;
      requestError(conn, m.requestId, 'FW_LIMIT', `a connection may publish at most ${limit} streams`);
      return;
    }
    const opened = this.openStream(conn, m.room, m.name, m.config);
    if (!(opened instanceof Stream)) {
      requestError(conn, m.requestId, opened.code, opened.message);
      return;
    }
    conn.send({ type: 'published', requestId: m.requestId, streamId: opened.id });
    this.log.info('publish', { conn: conn.id, ...streamFields(opened) });
  }

  /**
   * Opens stream `name` in room `roomName` fed by `publisher`, and starts every room subscriber on it;
   * or says why not. Names and access are the caller's to check.
   */
  openStream(
    publisher: Publisher,
    roomName: string,
    name: string,
    config: DecoderConfig,
  ): Stream | { code: ErrorCode; message: string } {
    const room = this.roomFor(roomName);
    if (!room) return { code: 'FW_LIMIT', message: this.roomLimitMessage };
    if (room.streams.has(name)) {
      this.forgetIfEmpty(room);
      return { code: 'FW_STREAM_EXISTS', message: `room ${roomName} already has a stream named ${name}` };
    }
    const { gopCacheBytes, maxStreamBytesPerSec } = this.config;
    const stream = new Stream(
      this.nextStreamId++,
      room,
      name,
      config,
      publisher,
      gopCacheBytes,
      maxStreamBytesPerSec,
      this.totals,
    );
    room.streams.set(name, stream);
    this.streams.set(stream.id, stream);
    publisher.published.set(stream.id, stream);
    for (const viewer of room.subscribers) this.attach(viewer, stream);
    for (const listener of this.streamListeners) listener(stream);
    return stream;
  }

  /** The live stream `name` in room `room`, if any. */
  findStream(room: string, name: string): Stream | undefined {
    return this.rooms.get(room)?.streams.get(name);
  }

  private onSubscribe(conn: Connection, m: SubscribeMessage): void {
    const bad = badName(m.room, 'room') ?? (m.name === '' ? undefined : badName(m.name, 'stream name'));
    if (bad) {
      requestError(conn, m.requestId, 'FW_BAD_NAME', bad);
      return;
    }
    if (!this.authorized(conn, 'view', m.room)) return;
    if (m.name === '') {
      const room = this.roomFor(m.room);
      if (!room) {
        requestError(conn, m.requestId, 'FW_LIMIT', this.roomLimitMessage);
        return;
      }
      room.subscribers.add(conn);
      conn.rooms.add(room);
      this.log.info('subscribe', { conn: conn.id, room: m.room, streams: room.streams.size });
      for (const stream of room.streams.values()) this.attach(conn, stream);
      return;
    }
    const stream = this.rooms.get(m.room)?.streams.get(m.name);
    if (!stream) {
      requestError(conn, m.requestId, 'FW_NO_SUCH_STREAM', `no stream ${m.name} in room ${m.room}`);
      return;
    }
    if (stream.viewerCount >= this.config.maxViewersPerStream) {
      requestError(
        conn,
        m.requestId,
        'FW_LIMIT',
        `stream ${m.name} has its maximum of ${this.config.maxViewersPerStream} viewers`,
      );
      return;
    }
    this.log.info('subscribe', { conn: conn.id, room: m.room, name: m.name, stream: stream.id });
    this.attach(conn, stream);
  }

  private onUnsubscribe(conn: Connection, roomName: string, name: string): void {
    const room = this.rooms.get(roomName);
    if (!room) return;
    if (name === '') {
      room.subscribers.delete(conn);
      conn.rooms.delete(room);
    }
    for (const sub of conn.subscriptions.values()) {
      if (sub.stream.room === room && (name === '' || sub.stream.name === name)) {
        sub.stream.subscriptions.delete(sub);
        conn.subscriptions.delete(sub.stream.id);
      }
    }
    this.forgetIfEmpty(room);
  }

  /** Starts `conn` on `stream`: decoder config, then the cached GOP at once, then live frames. */
  private attach(conn: Connection, stream: Stream): void {
    // A peer in a call watches its room but not its own camera.
    if (stream.publisher === conn || conn.subscriptions.has(stream.id)) return;
    if (stream.viewerCount >= this.config.maxViewersPerStream) {
      // A room viewer is told, and simply does not get this stream; its other streams go on.
      const limit = this.config.maxViewersPerStream;
      conn.send({
        type: 'error',
        requestId: 0,
        code: 'FW_LIMIT',
        message: `stream ${stream.name} has its maximum of ${limit} viewers`,
      });
      return;
    }
    const sub = new Subscription(conn, stream);
    conn.subscriptions.set(stream.id, sub);
    if (conn.subscriptions.size > 1) conn.queue.batching = true;
    stream.subscriptions.add(sub);
    if (!conn.queue.sendControl(stream.added)) {
      conn.fail('FW_SLOW_CONSUMER', 'connection stopped reading');
      return;
    }
    stream.catchUp(sub, performance.now());
    // The cached GOP may be long; a fresh keyframe lets the viewer reach the live edge sooner.
    stream.requestKeyframe(this.config.keyframeRequestIntervalMs);
  }

  /** Ends `stream`: its viewers are told why, its taps finish, and its name is free again. */
  endStream(stream: Stream, reason: string): void {
    if (!this.streams.delete(stream.id)) return;
    stream.room.streams.delete(stream.name);
    stream.publisher.published.delete(stream.id);
    for (const sub of stream.subscriptions) {
      sub.conn.subscriptions.delete(stream.id);
      sub.conn.send({ type: 'stream-removed', streamId: stream.id, reason });
    }
    stream.subscriptions.clear();
    for (const tap of stream.taps) tap.end(reason);
    stream.taps.clear();
    stream.gop.clear();
    this.forgetIfEmpty(stream.room);
    this.log.info('stream-end', {
      stream: stream.id,
      room: stream.room.name,
      name: stream.name,
      reason,
      frames: stream.framesIn,
    });
  }

  private onSkip(sub: Subscription): void {
    sub.stream.requestKeyframe(this.config.keyframeRequestIntervalMs);
    const now = Date.now();
    if (now - sub.lastDropLog >= DROP_LOG_INTERVAL_MS) {
      sub.lastDropLog = now;
      this.log.warn('viewer-behind', {
        conn: sub.conn.id,
        stream: sub.stream.id,
        dropped: sub.framesDropped,
        queued: sub.conn.queue.bytes,
      });
    }
  }

  private get roomLimitMessage(): string {
    return `the server has reached its limit of ${this.config.maxRooms} rooms`;
  }

  /** The room named `name`, created if needed; null when creating it would pass the room limit. */
  private roomFor(name: string): Room | null {
    let room = this.rooms.get(name);
    if (!room) {
      if (this.rooms.size >= this.config.maxRooms) return null;
      room = new Room(name);
      this.rooms.set(name, room);
    }
    return room;
  }

  private forgetIfEmpty(room: Room): void {
    if (room.isEmpty) this.rooms.delete(room.name);
  }
}

function requestError(conn: Connection, requestId: number, code: ErrorCode, message: string): void {
  conn.send({ type: 'error', requestId, code, message });
}

/**
 * The frame as it will be sent to every viewer. TCP input already has its prefix (no copy). A frame
 * inside a much larger read buffer is copied once, so the GOP cache holds the frame, not the buffer.
 */
function frameOutgoing(body: Uint8Array, framed?: Uint8Array): Outgoing {
  let f = framed;
  if (!f || f.buffer.byteLength > 2 * f.byteLength) f = frameMessage(body);
  return outgoingFramed(f);
}

/** The log fields that name a stream and say what it carries. */
export function streamFields(stream: Stream): Record<string, string | number> {
  const { codec, codedWidth, codedHeight } = stream.config;
  return {
    stream: stream.id,
    room: stream.room.name,
    name: stream.name,
    codec,
    size: `${codedWidth}x${codedHeight}`,
  };
}
