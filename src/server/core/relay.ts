import {
  describeTracks,
  type ErrorCode,
  type ReceiverReportMessage,
  type StreamTracks,
} from '../../protocol/index.js';
import type { TokenVerifier } from './access.js';
import type { RelayConfig } from './config.js';
import { Connection } from './connection.js';
import { CountMap } from './count-map.js';
import { describeError, type Log } from './log.js';
import { Room } from './room.js';
import { SERVER_AGENT, Session } from './session.js';
import { StallClock } from './stall-clock.js';
import { type Publisher, Stream } from './stream.js';
import { Subscription } from './subscription.js';
import { TickBatcher } from './tick-batcher.js';
import { Totals } from './totals.js';
import type { Transport } from './transport.js';

export { SERVER_AGENT };

/** Drop log lines per viewer and stream at most this often. */
const DROP_LOG_INTERVAL_MS = 5000;

/** Why the stream listeners hear of a stream: it opened, or an update replaced its tracks. */
export type StreamCause = 'opened' | 'reconfigured';

/** Why something the registry was asked for cannot be done; `code` goes on the wire. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/**
 * The relay's registry: rooms, streams and connections, and the rules that join them (limits, who
 * watches what, how a stream starts and ends). Each connection's messages are read by its
 * {@link Session}; streams, rooms and subscriptions change themselves through their own methods.
 */
export class Relay<C extends RelayConfig = RelayConfig> {
  readonly rooms = new Map<string, Room>();
  readonly streams = new Map<number, Stream>();
  readonly connections = new Set<Connection>();
  /** Open connections per IP address, for the per-address limit. */
  private readonly perIp = new CountMap<string>();
  private readonly batcher = new TickBatcher();
  /** The event loop's own stalls, left out of every viewer's measured backlog; stopped by the server. */
  readonly stallClock = new StallClock();
  /** Running totals since start, for /metrics. */
  readonly totals = new Totals();
  /**
   * Called with each stream as it opens (recordings start here), and again, with `reconfigured`, after an
   * update replaced its tracks (the taps built for the old ones have ended); a listener's throw is logged,
   * not passed on.
   */
  readonly streamListeners = new Set<(stream: Stream, cause: StreamCause) => void>();
  /**
   * Called with each stream as it ends, with the reason its viewers were told (a cluster node withdraws it
   * from the directory); a listener's throw is logged, not passed on.
   */
  readonly endListeners = new Set<(stream: Stream, reason: string) => void>();
  /** Called with each receiver report from a viewer of the stream it names (/metrics keeps latencies). */
  readonly reportListeners = new Set<(report: ReceiverReportMessage) => void>();
  /** What the server says it is in its hello; a cluster node adds its name (so clients can tell nodes apart). */
  agent: string = SERVER_AGENT;
  private nextStreamId = 1;
  private nextConnectionId = 1;

  constructor(
    readonly config: C,
    readonly log: Log,
    /** Checks hello tokens in token mode; null is open mode (anyone may publish and view). */
    readonly verifier: TokenVerifier | null = null,
  ) {}

  /** Registers a new connection and returns the session that reads its messages; hello is due in time. */
  accept(transport: Transport): Session {
    const conn = new Connection(
      this.nextConnectionId++,
      transport,
      { maxBytes: this.config.viewerQueueBytes, maxAgeMs: this.config.viewerQueueAgeMs },
      this.totals,
      {
        onSkip: (sink) => this.onSkip(sink as Subscription),
        stalledMs: () => this.stallClock.stalledMs,
        onLinkState: (state, backlogMs) => {
          // One line per change: a viewer whose link flaps says so here, not once per dropped frame.
          const line = { conn: conn.id, state, backlogMs };
          if (state === 'live') this.log.info('viewer-link', line);
          else this.log.warn('viewer-link', line);
        },
        batcher: this.batcher,
        onFail: (code, error) => {
          // Shutdown closes everyone for the same reason; the shutdown line already says so.
          if (code !== 'FW_SHUTDOWN') this.log.warn('closing', { conn: conn.id, code, error });
        },
      },
    );
    const session = new Session(this, conn);
    this.connections.add(conn);
    this.log.info('connect', { conn: conn.id, transport: transport.kind, remote: transport.remote });
    const fromIp = this.perIp.add(transport.ip);
    if (fromIp > this.config.maxConnectionsPerIp) {
      conn.fail(
        'FW_LIMIT',
        `too many connections from ${transport.ip} (limit ${this.config.maxConnectionsPerIp})`,
      );
      return session;
    }
    setTimeout(() => {
      if (!conn.hello) conn.fail('FW_NOT_HELLO', `no hello within ${this.config.helloTimeoutMs} ms`);
    }, this.config.helloTimeoutMs).unref();
    return session;
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
    for (const stream of [...conn.published.values()]) this.endStream(stream, 'disconnected');
    for (const sub of [...conn.subscriptions.values()]) sub.close();
    for (const room of [...conn.rooms]) {
      conn.leaveRoom(room);
      this.forgetIfEmpty(room);
    }
    this.log.info('disconnect', {
      conn: conn.id,
      reason,
      seconds: Math.round((Date.now() - conn.connectedAt) / 1000),
    });
  }

  /**
   * Opens stream `name` in room `roomName` fed by `publisher`, and starts every room subscriber on it;
   * or says why not. Names and access are the caller's to check.
   */
  openStream(publisher: Publisher, roomName: string, name: string, tracks: StreamTracks): Stream | Refusal {
    const room = this.roomFor(roomName);
    if (!room) return this.roomLimit();
    const taken = this.nameTaken(roomName, name);
    if (taken) {
      this.forgetIfEmpty(room);
      return taken;
    }
    const { gopCacheBytes, maxStreamBytesPerSec } = this.config;
    const stream = new Stream(
      this.nextStreamId++,
      room,
      name,
      tracks,
      publisher,
      gopCacheBytes,
      maxStreamBytesPerSec,
      this.totals,
    );
    this.streams.set(stream.id, stream);
    for (const viewer of room.subscribers) this.attach(viewer, stream);
    this.tellListeners(stream, 'opened');
    return stream;
  }

  /**
   * Replaces the tracks of `stream` (its publisher switched codec or picture size): its viewers reconfigure
   * (see Stream.reconfigure), its taps end and the listeners start new ones. Checks are the caller's.
   */
  updateStream(stream: Stream, tracks: StreamTracks): void {
    const from = describeTracks(stream);
    stream.reconfigure(tracks);
    // A v1 room viewer had nothing of a stream without video; it has something now if video came.
    for (const viewer of stream.room.subscribers) this.attach(viewer, stream);
    this.log.info('stream-update', {
      stream: stream.id,
      room: stream.room.name,
      name: stream.name,
      from,
      to: describeTracks(stream),
    });
    this.tellListeners(stream, 'reconfigured');
  }

  private tellListeners(stream: Stream, cause: StreamCause): void {
    for (const listener of this.streamListeners) {
      try {
        listener(stream, cause);
      } catch (err) {
        // A feature that fails to follow a stream (a recording) must not refuse the publisher.
        this.log.error('stream-listener-error', { ...streamFields(stream), error: describeError(err) });
      }
    }
  }

  /** Ends `stream`: its viewers are told why, its taps finish, and its name is free again. */
  endStream(stream: Stream, reason: string): void {
    if (!this.streams.delete(stream.id)) return;
    stream.close(reason);
    this.forgetIfEmpty(stream.room);
    this.log.info('stream-end', {
      stream: stream.id,
      room: stream.room.name,
      name: stream.name,
      reason,
      frames: stream.framesIn,
    });
    for (const listener of this.endListeners) {
      try {
        listener(stream, reason);
      } catch (err) {
        this.log.error('stream-listener-error', { ...streamFields(stream), error: describeError(err) });
      }
    }
  }

  /** The live stream `name` in room `room`, if any. */
  findStream(room: string, name: string): Stream | undefined {
    return this.rooms.get(room)?.streams.get(name);
  }

  /** Why `name` cannot be published in `room` now (a stream of that name is live), or null. */
  nameTaken(room: string, name: string): Refusal | null {
    if (!this.findStream(room, name)) return null;
    return { code: 'FW_STREAM_EXISTS', message: `room ${room} already has a stream named ${name}` };
  }

  /** Why `stream` takes no more viewers (connections and taps count alike), or null when it has room. */
  viewerLimitRefusal(stream: Stream): Refusal | null {
    const limit = this.config.maxViewersPerStream;
    if (stream.viewerCount < limit) return null;
    return { code: 'FW_LIMIT', message: `stream ${stream.name} has its maximum of ${limit} viewers` };
  }

  /** Subscribes `conn` to every stream of `roomName`, now and later; or says why not. */
  subscribeRoom(conn: Connection, roomName: string): Refusal | null {
    const room = this.roomFor(roomName);
    if (!room) return this.roomLimit();
    conn.joinRoom(room);
    this.log.info('subscribe', { conn: conn.id, room: roomName, streams: room.streams.size });
    for (const stream of room.streams.values()) this.attach(conn, stream);
    return null;
  }

  /** Subscribes `conn` to one live stream; or says why not. */
  subscribeStream(conn: Connection, roomName: string, name: string): Refusal | null {
    const stream = this.findStream(roomName, name);
    if (!stream) return { code: 'FW_NO_SUCH_STREAM', message: `no stream ${name} in room ${roomName}` };
    const full = this.viewerLimitRefusal(stream);
    if (full) return full;
    this.log.info('subscribe', { conn: conn.id, room: roomName, name, stream: stream.id });
    this.attach(conn, stream);
    return null;
  }

  /** Stops `conn` watching stream `name` of `roomName`, or the whole room when `name` is ''. */
  unsubscribe(conn: Connection, roomName: string, name: string): void {
    const room = this.rooms.get(roomName);
    if (!room) return;
    if (name === '') conn.leaveRoom(room);
    for (const sub of [...conn.subscriptions.values()]) {
      if (sub.stream.room === room && (name === '' || sub.stream.name === name)) sub.close();
    }
    this.forgetIfEmpty(room);
  }

  /** Hands a viewer's receiver report to the listeners (metrics); a listener's throw is logged only. */
  reported(report: ReceiverReportMessage): void {
    for (const listener of this.reportListeners) {
      try {
        listener(report);
      } catch (err) {
        this.log.error('report-listener-error', { stream: report.streamId, error: describeError(err) });
      }
    }
  }

  /** Starts `conn` on `stream`: decoder config, then the cached GOP at once, then live frames. */
  private attach(conn: Connection, stream: Stream): void {
    // A peer in a call watches its room but not its own camera.
    if (stream.publisher === conn || conn.subscriptions.has(stream.id)) return;
    const full = this.viewerLimitRefusal(stream);
    if (full) {
      // A room viewer is told, and simply does not get this stream; its other streams go on.
      conn.send({ type: 'error', requestId: 0, ...full });
      return;
    }
    // A v1 viewer cannot decode audio: it gets the video of a stream, and nothing of one without video.
    const added = stream.addedFor(conn);
    if (added === null) return;
    const sub = new Subscription(conn, stream);
    conn.sendOutgoing(added);
    if (conn.closing) return;
    stream.catchUp(sub, performance.now());
    // The cached GOP may be long; a fresh keyframe lets the viewer reach the live edge sooner.
    stream.requestKeyframe(this.config.keyframeRequestIntervalMs);
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

  private roomLimit(): Refusal {
    return { code: 'FW_LIMIT', message: `the server has reached its limit of ${this.config.maxRooms} rooms` };
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

/** The log fields that name a stream and say what it carries. */
export function streamFields(stream: Stream): Record<string, string | number> {
  return {
    stream: stream.id,
    room: stream.room.name,
    name: stream.name,
    tracks: describeTracks(stream),
  };
}
