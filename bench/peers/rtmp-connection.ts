/**
 * One RTMP client connection: TCP, handshake, chunk streams, protocol control (chunk size,
 * acknowledgements, pings) and AMF0 commands with their transactions. Publisher and player build on it.
 */
import net from 'node:net';
import { type Amf0Object, type Amf0Value, decodeAmf0, encodeAmf0 } from './amf0.js';
import { ChunkReader, encodeChunks } from './rtmp-chunks.js';
import { clientHello, HandshakeReader } from './rtmp-handshake.js';
import { sharedRead } from './shared-read.js';

/** Message type ids we send or react to. */
export const MSG = {
  setChunkSize: 1,
  ack: 3,
  userControl: 4,
  windowAckSize: 5,
  audio: 8,
  video: 9,
  dataAmf0: 18,
  commandAmf3: 17,
  commandAmf0: 20,
} as const;

/** Chunk stream ids: commands on 3 and video on 6, as ffmpeg uses them. */
export const CSID = { control: 2, command: 3, video: 6 } as const;

/** Our outgoing chunk size: a whole 1 Mbit/s keyframe fits one chunk, so it is written with one header. */
const OUT_CHUNK_SIZE = 65536;
/** How long connect, createStream and publish/play may take in total before we give up. */
const CONNECT_TIMEOUT_MS = 10_000;

const USER_PING_REQUEST = 6;
const USER_PING_RESPONSE = 7;

/** Failure to set up an RTMP session; `code` says which step. */
export class RtmpClientError extends Error {
  constructor(
    readonly code:
      | 'FW_BENCH_RTMP_URL'
      | 'FW_BENCH_RTMP_CLOSED'
      | 'FW_BENCH_RTMP_REJECTED'
      | 'FW_BENCH_RTMP_TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

/** The parts of rtmp://host:port/app/key we need. */
export interface RtmpUrl {
  host: string;
  port: number;
  app: string;
  key: string;
  tcUrl: string;
}

/** Parses rtmp://HOST[:PORT]/APP/KEY. */
export function parseRtmpUrl(url: string): RtmpUrl {
  const u = new URL(url);
  const parts = u.pathname.split('/').filter((p) => p !== '');
  if (u.protocol !== 'rtmp:' || parts.length !== 2) {
    throw new RtmpClientError('FW_BENCH_RTMP_URL', `expected rtmp://host:port/app/key, got ${url}`);
  }
  const [app, key] = parts as [string, string];
  const port = u.port === '' ? 1935 : Number(u.port);
  return { host: u.hostname, port, app, key, tcUrl: `rtmp://${u.hostname}:${port}/${app}` };
}

/** Called for audio, video and data messages (types 8, 9, 18); body is a view valid during the call. */
export type MediaHandler = (type: number, timestampMs: number, body: Buffer) => void;

interface Pending {
  resolve: (values: Amf0Value[]) => void;
  reject: (err: Error) => void;
}

/** An RTMP client session over one socket. */
export class RtmpConnection {
  /** Resolves when the socket has closed: with the error that closed it, or null if we closed it. */
  readonly closed: Promise<Error | null>;
  private readonly reader: ChunkReader;
  private readonly transactions = new Map<number, Pending>();
  private statusWaiter: { code: string; pending: Pending } | null = null;
  private nextTransaction = 1;
  private bytesIn = 0;
  private lastAck = 0;
  private ackWindow = 0;
  private closedByUs = false;
  private failure: Error | null = null;
  onMedia: MediaHandler | null = null;

  readonly socket: net.Socket;
  /** Set while the handshake runs; reads go to it instead of the chunk reader. */
  private handshakeRead: ((data: Buffer) => void) | null = null;

  private constructor(readonly url: RtmpUrl) {
    const socket = net.connect({
      host: url.host,
      port: url.port,
      noDelay: true,
      onread: sharedRead((data) => (this.handshakeRead ?? this.onData)(data)),
    });
    this.socket = socket;
    this.reader = new ChunkReader(this.onMessage);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        const err =
          this.failure ??
          (this.closedByUs
            ? null
            : new RtmpClientError('FW_BENCH_RTMP_CLOSED', 'server closed the connection'));
        this.rejectAll(err ?? new RtmpClientError('FW_BENCH_RTMP_CLOSED', 'connection closed'));
        resolve(err);
      });
    });
    socket.on('error', (err) => {
      this.failure ??= err;
    });
  }

  /** Connects, handshakes and sends `connect` for the URL's app; resolves after its `_result`. */
  static async open(url: string): Promise<RtmpConnection> {
    const parsed = parseRtmpUrl(url);
    const conn = new RtmpConnection(parsed);
    const timer = setTimeout(() => {
      conn.fail(new RtmpClientError('FW_BENCH_RTMP_TIMEOUT', `RTMP setup with ${url} timed out`));
    }, CONNECT_TIMEOUT_MS);
    try {
      await conn.handshake();
      conn.send(CSID.control, MSG.setChunkSize, 0, 0, u32(OUT_CHUNK_SIZE));
      await conn.call('connect', [
        { app: parsed.app, type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl: parsed.tcUrl, fpad: false },
      ]);
      return conn;
    } catch (err) {
      conn.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs the given step under the setup deadline (used for createStream + publish/play). */
  async withTimeout<T>(what: string, step: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RtmpClientError('FW_BENCH_RTMP_TIMEOUT', `${what} timed out`)),
        CONNECT_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([step, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      const hs = new HandshakeReader();
      this.handshakeRead = (data: Buffer): void => {
        if (!hs.push(data)) return;
        this.handshakeRead = null;
        try {
          const { c2, rest } = hs.done();
          this.socket.write(c2);
          if (rest.length > 0) this.onData(rest);
          resolve();
        } catch (err) {
          this.fail(err as Error);
          reject(err);
        }
      };
      this.socket.once('connect', () => this.socket.write(clientHello()));
      this.closed.then((err) =>
        reject(err ?? new RtmpClientError('FW_BENCH_RTMP_CLOSED', 'closed in handshake')),
      );
    });
  }

  private readonly onData = (data: Buffer): void => {
    this.bytesIn += data.length;
    try {
      this.reader.push(data);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    // Acknowledge every window's worth of bytes: a server that asked for acks may stop sending without them.
    if (this.ackWindow > 0 && this.bytesIn - this.lastAck >= this.ackWindow) {
      this.lastAck = this.bytesIn;
      this.send(CSID.control, MSG.ack, 0, 0, u32(this.bytesIn >>> 0));
    }
  };

  private readonly onMessage = (type: number, streamId: number, timestampMs: number, body: Buffer): void => {
    switch (type) {
      case MSG.video:
      case MSG.audio:
      case MSG.dataAmf0:
        this.onMedia?.(type, timestampMs, body);
        return;
      case MSG.setChunkSize:
        if (body.length >= 4) this.reader.chunkSize = body.readUInt32BE(0) & 0x7fffffff;
        return;
      case MSG.windowAckSize:
        if (body.length >= 4) this.ackWindow = body.readUInt32BE(0);
        return;
      case MSG.userControl:
        if (body.length >= 6 && body.readUInt16BE(0) === USER_PING_REQUEST) {
          // Unanswered pings make nginx drop the session after ping + ping_timeout (90 s by default).
          const reply = Buffer.allocUnsafe(6);
          reply.writeUInt16BE(USER_PING_RESPONSE, 0);
          body.copy(reply, 2, 2, 6);
          this.send(CSID.control, MSG.userControl, 0, 0, reply);
        }
        return;
      case MSG.commandAmf0:
        this.onCommand(decodeAmf0(body), streamId);
        return;
      case MSG.commandAmf3:
        // AMF3 command messages start with a format byte, then carry AMF0.
        this.onCommand(decodeAmf0(body.subarray(1)), streamId);
        return;
      default:
      // Abort, Acknowledgement, Set Peer Bandwidth, AMF3 data: nothing to do for a bench client.
    }
  };

  private onCommand(values: Amf0Value[], _streamId: number): void {
    const [name, transaction] = values;
    if ((name === '_result' || name === '_error') && typeof transaction === 'number') {
      const pending = this.transactions.get(transaction);
      if (pending === undefined) return;
      this.transactions.delete(transaction);
      if (name === '_result') pending.resolve(values);
      else pending.reject(rejected(`command ${transaction}`, values[3]));
      return;
    }
    if (name === 'onStatus' && this.statusWaiter !== null) {
      const info = values[3];
      const code = isObject(info) ? info.code : undefined;
      const level = isObject(info) ? info.level : undefined;
      const waiter = this.statusWaiter;
      if (code === waiter.code) {
        this.statusWaiter = null;
        waiter.pending.resolve(values);
      } else if (level === 'error') {
        this.statusWaiter = null;
        waiter.pending.reject(rejected(waiter.code, info));
      }
    }
  }

  /** Sends a command and resolves with its `_result` values (name, transaction, properties, info...). */
  call(name: string, args: Amf0Value[], streamId = 0): Promise<Amf0Value[]> {
    const transaction = this.nextTransaction++;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new RtmpClientError('FW_BENCH_RTMP_CLOSED', `connection closed before ${name}`));
        return;
      }
      this.transactions.set(transaction, { resolve, reject });
      this.send(CSID.command, MSG.commandAmf0, streamId, 0, encodeAmf0([name, transaction, ...args]));
    });
  }

  /** Sends a stream command (publish, play) that answers with onStatus, and waits for `okCode`. */
  command(name: string, args: Amf0Value[], streamId: number, okCode: string): Promise<Amf0Value[]> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new RtmpClientError('FW_BENCH_RTMP_CLOSED', `connection closed before ${name}`));
        return;
      }
      this.statusWaiter = { code: okCode, pending: { resolve, reject } };
      this.send(CSID.command, MSG.commandAmf0, streamId, 0, encodeAmf0([name, 0, null, ...args]));
    });
  }

  /** Creates a message stream and returns its id. */
  async createStream(): Promise<number> {
    const reply = await this.call('createStream', [null]);
    const id = reply[3];
    if (typeof id !== 'number') throw rejected('createStream', reply[3]);
    return id;
  }

  /** Writes one message, chunked at our outgoing chunk size, in a single writev. */
  send(csid: number, type: number, streamId: number, timestampMs: number, payload: Uint8Array): void {
    if (this.socket.destroyed) return;
    const pieces = encodeChunks(csid, type, streamId, timestampMs, payload, OUT_CHUNK_SIZE);
    this.socket.cork();
    for (const piece of pieces) this.socket.write(piece);
    this.socket.uncork();
  }

  /** Closes the socket at once (no deleteStream: the server sees the close either way). */
  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
  }

  private rejectAll(err: Error): void {
    for (const pending of this.transactions.values()) pending.reject(err);
    this.transactions.clear();
    this.statusWaiter?.pending.reject(err);
    this.statusWaiter = null;
  }
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function isObject(v: Amf0Value): v is Amf0Object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejected(what: string, info: Amf0Value): RtmpClientError {
  const code = isObject(info) && typeof info.code === 'string' ? info.code : 'unknown';
  const desc = isObject(info) && typeof info.description === 'string' ? `: ${info.description}` : '';
  return new RtmpClientError('FW_BENCH_RTMP_REJECTED', `${what} rejected by server (${code})${desc}`);
}
