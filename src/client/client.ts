import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { formatAddress } from '../protocol/address.js';
import { decodeMessage, encodeMessage } from '../protocol/codec.js';
import { ProtocolError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, lengthPrefix, MessageDeframer } from '../protocol/framing.js';
import {
  type FrameMessage,
  type KeyframeRequestMessage,
  type LinkStateMessage,
  type Message,
  PROTOCOL_VERSION,
  type ReceiverReportMessage,
  type RoomCodecsMessage,
  type StreamAddedMessage,
  type StreamRemovedMessage,
  type StreamTracks,
} from '../protocol/messages.js';
// Sub-millisecond wall clock: Date.now() would round a loopback round trip to 0.
import { localNowUs as nowMicros, ServerClock } from '../protocol/server-clock.js';
import { ClientError, connectFailed, NotFramewireError, tlsFailed } from './errors.js';
import { type FrameSink, Publication } from './publication.js';

/** Default socket backlog (2 MiB) above which a publication drops frames until the next keyframe. */
export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 2 * 1024 * 1024;

/** Default time allowed for connecting, the hello exchange, and each request's answer. */
export const DEFAULT_TIMEOUT_MS = 10_000;

// Requests and pings in flight are keyed by ids we hand out; a bound keeps a stalled server from
// growing these maps without limit.
const MAX_PENDING = 1024;

/** TLS to the server (a `serve --tls-cert` server): the certificate is always verified, host name included. */
export interface ClientTlsOptions {
  /** PEM CA certificate(s) trusted in addition to Node's default CAs, e.g. the CA of a self-signed setup. */
  ca?: string | Buffer;
}

/** How to reach the server and who we say we are. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** Speak TLS on the TCP port; absent for plain TCP. */
  tls?: ClientTlsOptions;
  role: 'publisher' | 'viewer' | 'peer';
  /** Names the client software in the server's logs. */
  agent?: string;
  /** Access token; empty when the server needs none. */
  token?: string;
  /** Largest message accepted from the server, and the largest frame we send. */
  maxMessageBytes?: number;
  /** Socket backlog above which publications drop frames until the next keyframe. */
  maxWriteBufferBytes?: number;
  /** Time allowed for connecting plus hello, and for each request's answer. */
  timeoutMs?: number;
}

/** Typed events of a {@link FramewireClient}. */
export interface FramewireClientEvents {
  'stream-added': [message: StreamAddedMessage];
  /**
   * A stream already added changed its tracks (its publisher switched codec or picture size): same
   * streamId, new tracks in `message`, the old ones in `previous`. Its frames from here on are of the new
   * tracks, starting at a keyframe. Protocol v3 says this with a second `stream-added` for the same id.
   */
  'stream-updated': [message: StreamAddedMessage, previous: StreamAddedMessage];
  'stream-removed': [message: StreamRemovedMessage];
  /** A frame of a subscribed stream; `payload` is a view into the received bytes. */
  frame: [message: FrameMessage];
  'keyframe-request': [message: KeyframeRequestMessage];
  /** The server changed how it delivers to us (live, draining a backlog, keyframes only). */
  'link-state': [message: LinkStateMessage];
  /**
   * The video codec families every viewer of a room we publish in decodes (null: no viewer restricts);
   * after each publish and whenever it changes. A publisher that can encode several picks one listed.
   */
  'room-codecs': [message: RoomCodecsMessage];
  /** An `error` from the server that no pending request claimed (requestId 0, or a late answer). */
  'server-error': [error: ClientError, requestId: number];
  /** The connection is gone: `null` after our own close(), otherwise why it ended. */
  close: [error: ClientError | null];
}

type Pending =
  | { kind: 'publish'; room: string; name: string; tracks: StreamTracks; resolve: (p: Publication) => void }
  | { kind: 'subscribe'; room: string; name: string; resolve: () => void }
  | { kind: 'update'; streamId: number; resolve: () => void };

interface PendingEntry {
  request: Pending;
  reject: (e: ClientError) => void;
  timer: NodeJS.Timeout;
}

interface PendingPing {
  resolve: (rttMs: number) => void;
  reject: (e: ClientError) => void;
  timer: NodeJS.Timeout;
}

// How every HTTP response starts. A Framewire server's first bytes are the length of its hello, whose
// first byte is 0 (messages are far below 16 MiB), so "H" never starts a Framewire answer.
const HTTP_RESPONSE_START = Buffer.from('HTTP/', 'latin1');

// Enough of an HTTP answer to quote its status line in an error.
const MAX_STATUS_LINE = 80;

/** Connects to a Framewire server over TCP and completes the hello exchange. */
export async function connect(options: ConnectOptions): Promise<FramewireClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = await openSocket(options.host, options.port, options.tls, timeoutMs);
  const client = new FramewireClient(socket, options);
  await client.handshake(timeoutMs);
  return client;
}

/** Options of tls.connect: `ca` is added to the default CAs (tls.connect's own `ca` would replace them). */
function tlsConnectOptions(host: string, port: number, options: ClientTlsOptions): tls.ConnectionOptions {
  return {
    host,
    port,
    // SNI takes host names only; an IP address is still checked against the certificate's IP entries.
    servername: net.isIP(host) === 0 ? host : undefined,
    ca: options.ca === undefined ? undefined : [...tls.rootCertificates, options.ca],
  };
}

// A TLS socket is a net.Socket once connected, so everything after this (framing, cork + prefix + body
// writes, backpressure) is the same for both.
function openSocket(
  host: string,
  port: number,
  tlsOptions: ClientTlsOptions | undefined,
  timeoutMs: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = tlsOptions
      ? tls.connect(tlsConnectOptions(host, port, tlsOptions))
      : net.connect({ host, port });
    // Errors after the TCP connect and before the handshake ends are TLS failures (certificate, not TLS).
    let tcpConnected = false;
    socket.once('connect', () => {
      tcpConnected = true;
    });
    const fail = (err: unknown): void => {
      socket.destroy();
      reject(tlsOptions && tcpConnected ? tlsFailed(host, port, err) : connectFailed(host, port, err));
    };
    socket.setTimeout(timeoutMs, () => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    socket.once('error', fail);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      socket.off('error', fail);
      // Frames are latency-sensitive and already batched by the encoder: no Nagle delay.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * One connection to a Framewire server: publish streams, subscribe to rooms or streams, ping.
 * Created by {@link connect}; emits typed events (see {@link FramewireClientEvents}).
 */
export class FramewireClient extends EventEmitter<FramewireClientEvents> implements FrameSink {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly maxWriteBufferBytes: number;
  /** The server's clock as estimated from this connection's ping() round trips; each ping refines it. */
  readonly clock = new ServerClock();
  private readonly timeoutMs: number;
  private readonly deframer: MessageDeframer;
  private readonly pending = new Map<number, PendingEntry>();
  private readonly pings = new Map<number, PendingPing>();
  private readonly publications = new Map<number, Publication>();
  /** Streams the server added for us and has not removed: a second stream-added for one is an update. */
  private readonly viewed = new Map<number, StreamAddedMessage>();
  private nextRequestId = 1;
  private nextPingId = 1;
  private handshakeDone = false;
  /** What the server said it is in its hello (`framewire/0.1.0 (node N)` for a cluster node); null before. */
  serverAgent: string | null = null;
  private onHandshake: ((err: ClientError | null) => void) | null = null;
  private closeError: ClientError | null = null;
  private closedByUs = false;
  private closed = false;
  /** Bytes received before the first message, while they could still be the start of "HTTP/". */
  private head: Buffer | null = Buffer.alloc(0);

  /** @internal Use {@link connect}. */
  constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectOptions,
  ) {
    super();
    this.host = options.host;
    this.port = options.port;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxWriteBufferBytes = options.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.deframer = new MessageDeframer(this.maxMessageBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.closeError ??= new ClientError(
        'FW_CONNECTION_LOST',
        `connection to the server at ${formatAddress(this.host, this.port)} failed: ${err.message}`,
        undefined,
        { cause: err },
      );
    });
    socket.on('close', () => this.onClose());
  }

  /** True while the connection is open and the hello exchange is done. */
  get connected(): boolean {
    return this.handshakeDone && !this.closed;
  }

  /** Bytes written but not yet handed to the kernel (what a slow uplink costs us). */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** @internal Sends hello and waits for the server's. */
  handshake(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ClientError('FW_TIMEOUT', `the server sent no hello within ${timeoutMs} ms`));
      }, timeoutMs);
      this.onHandshake = (err) => {
        clearTimeout(timer);
        this.onHandshake = null;
        if (err) reject(err);
        else resolve();
      };
      this.send({
        type: 'hello',
        version: PROTOCOL_VERSION,
        role: this.options.role,
        agent: this.options.agent ?? 'framewire-client/0.1.0',
        token: this.options.token ?? '',
      });
    });
  }

  /**
   * Starts a stream with its tracks (video, audio or both); resolves once the server answers
   * `published`, rejects with its error code.
   */
  publish(room: string, name: string, tracks: StreamTracks): Promise<Publication> {
    return new Promise((resolve, reject) => {
      const requestId = this.addPending({ kind: 'publish', room, name, tracks, resolve }, reject);
      if (requestId !== 0) this.send({ type: 'publish', requestId, room, name, ...tracks });
    });
  }

  /**
   * Subscribes to one stream (`name`) or a whole room (`name` empty): stream-added and frame events
   * follow. Resolves once the server has taken the request; rejects with its error (FW_NO_SUCH_STREAM).
   */
  subscribe(room: string, name = ''): Promise<void> {
    return new Promise((resolve, reject) => {
      const requestId = this.addPending({ kind: 'subscribe', room, name, resolve }, reject);
      if (requestId === 0) return;
      this.send({ type: 'subscribe', requestId, room, name });
      // The protocol has no "subscribed" answer, but the server handles one connection's messages in
      // order: when the pong to a ping sent right after arrives with no error, the subscribe stood.
      this.ping().then(
        () => this.settle(requestId, null),
        () => {},
      );
    });
  }

  /**
   * Tells the server which codec families this connection decodes (lowercase WebCodecs prefixes: `avc1`,
   * `vp8`, `vp09`, `av01`, `opus`, `mp4a`...), replacing what it said before. A connection that never says
   * decodes anything, which is what this library does with frames: it passes them on undecoded.
   */
  declareDecoders(codecs: readonly string[]): boolean {
    return this.send({ type: 'decoders', codecs: [...codecs] });
  }

  /** @internal FrameSink: asks the server to replace a stream's tracks; Publication.update calls this. */
  updateStream(streamId: number, tracks: StreamTracks): Promise<void> {
    return new Promise((resolve, reject) => {
      const requestId = this.addPending({ kind: 'update', streamId, resolve }, reject);
      if (requestId !== 0) this.send({ type: 'update', requestId, streamId, ...tracks });
    });
  }

  /** Undoes a subscribe with the same room and name. */
  unsubscribe(room: string, name = ''): void {
    this.send({ type: 'unsubscribe', requestId: this.takeRequestId(), room, name });
  }

  /** Round-trip time to the server, in milliseconds. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.lostError());
      if (this.pings.size >= MAX_PENDING) {
        return reject(new ClientError('FW_TOO_MANY_PENDING', `${MAX_PENDING} pings already unanswered`));
      }
      const id = this.nextPingId;
      this.nextPingId = (this.nextPingId % 0xffffffff) + 1;
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new ClientError('FW_TIMEOUT', `no pong within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pings.set(id, { resolve, reject, timer });
      this.send({ type: 'ping', id, time: nowMicros() });
    });
  }

  /**
   * Asks the publisher of `streamId`, a stream this connection watches, for a keyframe (the server forwards
   * at most one per stream per keyframeRequestIntervalMs, whoever asks). False if the connection is gone.
   */
  requestKeyframe(streamId: number): boolean {
    return this.send({ type: 'keyframe-request', streamId });
  }

  /** Closes the connection after flushing what is queued; resolves when the socket is closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closedByUs = true;
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      // A server that never finishes its side must not hold us: end() waits for its FIN.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    });
  }

  /** Tells the server how playback of one stream is going (send about once a second per stream). */
  sendReceiverReport(report: Omit<ReceiverReportMessage, 'type'>): boolean {
    return this.send({ type: 'receiver-report', ...report });
  }

  /** @internal FrameSink: one frame, prefix and message written together. */
  writeFrame(message: FrameMessage): boolean {
    return this.send(message);
  }

  private send(m: Message): boolean {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return false;
    const body = encodeMessage(m);
    // Prefix and body go out in one writev (cork/uncork), without copying the body into a new buffer.
    this.socket.cork();
    this.socket.write(lengthPrefix(body.length));
    this.socket.write(body);
    this.socket.uncork();
    return true;
  }

  private takeRequestId(): number {
    const id = this.nextRequestId;
    // 0 means "no request" on the wire, so ids run 1..2^32-1.
    this.nextRequestId = (this.nextRequestId % 0xffffffff) + 1;
    return id;
  }

  /** Registers a request; returns its id, or 0 after rejecting when the request cannot be sent. */
  private addPending(request: Pending, reject: (e: ClientError) => void): number {
    if (this.closed) {
      reject(this.lostError());
      return 0;
    }
    if (this.pending.size >= MAX_PENDING) {
      reject(new ClientError('FW_TOO_MANY_PENDING', `${MAX_PENDING} requests already unanswered`));
      return 0;
    }
    const requestId = this.takeRequestId();
    const timer = setTimeout(() => {
      this.settle(
        requestId,
        new ClientError('FW_TIMEOUT', `no answer to ${request.kind} within ${this.timeoutMs} ms`),
      );
    }, this.timeoutMs);
    this.pending.set(requestId, { request, reject, timer });
    return requestId;
  }

  /** Resolves (err null) or rejects a pending request; false when it was not pending. */
  private settle(requestId: number, err: ClientError | null, streamId?: number): boolean {
    const entry = this.pending.get(requestId);
    if (!entry) return false;
    this.pending.delete(requestId);
    clearTimeout(entry.timer);
    if (err) {
      entry.reject(err);
      return true;
    }
    const r = entry.request;
    if (r.kind === 'subscribe' || r.kind === 'update') {
      r.resolve();
    } else if (streamId !== undefined) {
      const publication = new Publication(this, streamId, r.room, r.name, r.tracks, (p) => {
        this.publications.delete(p.streamId);
        this.send({ type: 'unpublish', streamId: p.streamId });
      });
      this.publications.set(streamId, publication);
      r.resolve(publication);
    }
    return true;
  }

  private onData(chunk: Buffer): void {
    if (this.head !== null) {
      const bytes = this.sniffHttp(chunk);
      if (bytes === null) return;
      chunk = bytes;
    }
    try {
      this.deframer.push(chunk, (bytes) => this.onMessage(decodeMessage(bytes)));
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.fail(new ClientError(err.code, `the server sent bad bytes: ${err.message}`));
      } else {
        throw err;
      }
    }
  }

  /**
   * Before anything else arrived: catches an HTTP answer (the port is a web server, typically Framewire's
   * own HTTP port) before the deframer reads "HTTP" as a 1.2 GB length. Returns the bytes to deframe,
   * or null when they are held (still a prefix of "HTTP/") or the connection failed.
   */
  private sniffHttp(chunk: Buffer): Buffer | null {
    const head = this.head === null || this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    const n = Math.min(head.length, HTTP_RESPONSE_START.length);
    if (!head.subarray(0, n).equals(HTTP_RESPONSE_START.subarray(0, n))) {
      this.head = null;
      return head;
    }
    if (n < HTTP_RESPONSE_START.length) {
      this.head = head;
      return null;
    }
    this.head = null;
    const text = head.subarray(0, MAX_STATUS_LINE).toString('latin1');
    // Printable ASCII only: these are a stranger's bytes, bound for a terminal.
    const statusLine = (text.split(/\r?\n/, 1)[0] ?? text).replace(/[^\x20-\x7e]/g, '?');
    this.fail(new NotFramewireError(this.host, this.port, this.options.tls !== undefined, statusLine));
    return null;
  }

  private onMessage(m: Message): void {
    if (!this.handshakeDone) {
      if (m.type === 'hello' && m.role === 'server' && m.version === PROTOCOL_VERSION) {
        this.handshakeDone = true;
        this.serverAgent = m.agent;
        this.onHandshake?.(null);
      } else if (m.type === 'error') {
        this.fail(ClientError.fromServer(m.code, m.message));
      } else {
        const what = m.type === 'hello' ? `hello from a ${m.role} speaking version ${m.version}` : m.type;
        this.fail(new ClientError('FW_HANDSHAKE_FAILED', `expected the server's hello, got ${what}`));
      }
      return;
    }
    switch (m.type) {
      case 'frame':
        this.emit('frame', m);
        return;
      case 'published':
        this.settle(m.requestId, null, m.streamId);
        return;
      case 'error': {
        const err = ClientError.fromServer(m.code, m.message);
        if (m.requestId !== 0 && this.settle(m.requestId, err)) return;
        // Remembered so that, if the server closes right after (fatal errors), close reports why.
        if (m.requestId === 0) this.closeError = err;
        this.emit('server-error', err, m.requestId);
        return;
      }
      case 'stream-added': {
        this.settleNamedSubscribe(m);
        const previous = this.viewed.get(m.streamId);
        this.viewed.set(m.streamId, m);
        if (previous) this.emit('stream-updated', m, previous);
        else this.emit('stream-added', m);
        return;
      }
      case 'stream-removed':
        this.viewed.delete(m.streamId);
        this.publications.get(m.streamId)?.markEnded();
        this.publications.delete(m.streamId);
        this.emit('stream-removed', m);
        return;
      case 'room-codecs':
        this.emit('room-codecs', m);
        return;
      case 'keyframe-request':
        this.publications.get(m.streamId)?.emit('keyframe-request');
        this.emit('keyframe-request', m);
        return;
      case 'ping':
        this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: nowMicros() });
        return;
      case 'link-state':
        this.emit('link-state', m);
        return;
      case 'pong': {
        const p = this.pings.get(m.id);
        if (!p) return;
        this.pings.delete(m.id);
        clearTimeout(p.timer);
        const now = nowMicros();
        // echoTime is our own send time, so the pair times the round trip the server's time fell within.
        this.clock.addSample(m.echoTime, m.responderTime, now);
        p.resolve((now - m.echoTime) / 1000);
        return;
      }
      default:
        // hello again, publish, subscribe...: messages a server never sends.
        this.fail(new ClientError('FW_BAD_MESSAGE', `the server sent an unexpected ${m.type} message`));
    }
  }

  /** A named subscribe is certainly good once its stream arrives; no need to wait for the pong. */
  private settleNamedSubscribe(m: StreamAddedMessage): void {
    for (const [id, entry] of this.pending) {
      const r = entry.request;
      if (r.kind === 'subscribe' && r.name !== '' && r.room === m.room && r.name === m.name) {
        this.settle(id, null);
      }
    }
  }

  private lostError(): ClientError {
    return (
      this.closeError ??
      new ClientError(
        'FW_CONNECTION_LOST',
        `the connection to the server at ${formatAddress(this.host, this.port)} was closed`,
      )
    );
  }

  private fail(err: ClientError): void {
    this.closeError = err;
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = this.closedByUs
      ? new ClientError('FW_CLIENT_CLOSED', 'the client was closed')
      : this.lostError();
    this.onHandshake?.(err);
    for (const [, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.pending.clear();
    for (const [, p] of this.pings) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pings.clear();
    this.viewed.clear();
    for (const [, p] of this.publications) p.markEnded();
    this.publications.clear();
    // Before the hello completed nobody holds this client yet: the connect() promise carries the error.
    if (this.handshakeDone) this.emit('close', this.closedByUs ? null : err);
  }
}
