import { EventEmitter } from 'node:events';
import { backoffDelay } from '../protocol/backoff.js';
import type {
  FrameMessage,
  KeyframeRequestMessage,
  LinkStateMessage,
  ReceiverReportMessage,
  RoomCodecsMessage,
  StreamAddedMessage,
  StreamRemovedMessage,
  StreamTracks,
} from '../protocol/messages.js';
import type { ServerClock } from '../protocol/server-clock.js';
import { type ConnectOptions, connect, type FramewireClient } from './client.js';
import { ClientError, type ClientErrorCode } from './errors.js';
import type { OutgoingAudioFrame, OutgoingFrame, Publication, PublicationStats } from './publication.js';

// Re-exported: the backoff is part of the client library's API, and the browser app shares the formula.
export { backoffDelay } from '../protocol/backoff.js';

/** Default first retry delay (250 ms) and the cap the doubling stops at (5 s). */
export const DEFAULT_MIN_DELAY_MS = 250;
export const DEFAULT_MAX_DELAY_MS = 5000;

/** Connect options plus the backoff between reconnect attempts. */
export interface ReconnectOptions extends ConnectOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Other nodes of the same cluster (same TLS setting): when the connection drops, each attempt goes to the
   * next address in turn, so a client whose node died goes on at another. The first connect tries them too.
   */
  alternates?: readonly { host: string; port: number }[];
}

/** Typed events of a {@link ReconnectingClient}. */
export interface ReconnectingClientEvents {
  'stream-added': [message: StreamAddedMessage];
  /** A stream already added changed its tracks (see FramewireClientEvents). */
  'stream-updated': [message: StreamAddedMessage, previous: StreamAddedMessage];
  /** Also emitted, with reason `disconnected`, for every stream known when the connection dropped. */
  'stream-removed': [message: StreamRemovedMessage];
  frame: [message: FrameMessage];
  'keyframe-request': [message: KeyframeRequestMessage];
  /** The server changed how it delivers to us; a new connection starts `live` again (without this event). */
  'link-state': [message: LinkStateMessage];
  /** What the viewers of a room we publish in decode (see FramewireClientEvents); again after a reconnect. */
  'room-codecs': [message: RoomCodecsMessage];
  'server-error': [error: ClientError, requestId: number];
  /** The connection dropped; the first attempt to reconnect starts in `retryInMs`. */
  disconnected: [error: ClientError, retryInMs: number];
  /** An attempt to reconnect failed; the next starts in `retryInMs`. */
  'reconnect-failed': [error: ClientError, retryInMs: number];
  /** A new connection is up and publications and subscriptions are being restored on it. */
  reconnected: [];
  /** Final: `null` after close(), otherwise an error that reconnecting cannot fix. */
  close: [error: ClientError | null];
}

// Errors that say "this client is wrong", not "the network or the server had a moment": reconnecting
// would get the same answer forever.
const FATAL_CODES: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  'FW_BAD_VERSION',
  'FW_UNAUTHORIZED',
  'FW_NOT_HELLO',
  'FW_HANDSHAKE_FAILED',
  'FW_BAD_MESSAGE',
  'FW_UNKNOWN_TYPE',
  'FW_TRUNCATED',
  'FW_TOO_LARGE',
  // An HTTP server answered: retrying the same address cannot help.
  'FW_NOT_FRAMEWIRE',
]);

/**
 * Connects (failing at once if no address is reachable now: the server's, then each alternate), then
 * reconnects after any later loss.
 */
export async function connectWithReconnect(options: ReconnectOptions): Promise<ReconnectingClient> {
  const addresses = addressesOf(options);
  let firstError: unknown = null;
  for (const [i, at] of addresses.entries()) {
    try {
      const client = await connect({ ...options, ...at });
      return new ReconnectingClient(options, client, i);
    } catch (err) {
      // A refusal of this client (bad token...) would be the same at every node.
      if (err instanceof ClientError && FATAL_CODES.has(err.code)) throw err;
      firstError ??= err;
    }
  }
  throw firstError;
}

/** The server's address, then the alternates. */
function addressesOf(options: ReconnectOptions): { host: string; port: number }[] {
  return [{ host: options.host, port: options.port }, ...(options.alternates ?? [])];
}

/**
 * A client that survives server restarts and network drops: after an unexpected close it reconnects
 * with exponential backoff and jitter, re-publishes its streams and re-subscribes what it watched.
 */
export class ReconnectingClient extends EventEmitter<ReconnectingClientEvents> {
  private client: FramewireClient | null = null;
  private readonly publications = new Set<ReconnectingPublication>();
  private readonly subscriptions = new Map<string, { room: string; name: string }>();
  /** What we said we decode, said again on each new connection; null while never said. */
  private decoders: string[] | null = null;
  /** Streams announced on the current connection, so a drop can announce their removal. */
  private readonly streams = new Map<number, StreamAddedMessage>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private attempt = 0;
  /** Which of the addresses (the server's, then the alternates) the current or last connection went to. */
  private addressIndex: number;
  private readonly addresses: { host: string; port: number }[];
  private closing = false;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;

  /** @internal Use {@link connectWithReconnect}. */
  constructor(
    private readonly options: ReconnectOptions,
    first: FramewireClient,
    firstAddress = 0,
  ) {
    super();
    this.addresses = addressesOf(options);
    this.addressIndex = firstAddress;
    this.minDelayMs = options.minDelayMs ?? DEFAULT_MIN_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.attach(first);
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** What the server of the current connection said it is (names the node in a cluster); null between. */
  get serverAgent(): string | null {
    return this.client?.serverAgent ?? null;
  }

  /** The address of the current (or, while reconnecting, the last) connection. */
  get address(): { host: string; port: number } {
    return this.addresses[this.addressIndex] as { host: string; port: number };
  }

  /** The current connection's client, or null while reconnecting. */
  get current(): FramewireClient | null {
    return this.client;
  }

  /** Publishes now (rejecting on the server's error) and re-publishes after every reconnect. */
  async publish(room: string, name: string, tracks: StreamTracks): Promise<ReconnectingPublication> {
    const publication = await this.requireClient().publish(room, name, tracks);
    const rp = new ReconnectingPublication(room, name, tracks, (p) => this.publications.delete(p));
    rp.attach(publication);
    this.publications.add(rp);
    return rp;
  }

  /** Subscribes now (rejecting on the server's error) and re-subscribes after every reconnect. */
  async subscribe(room: string, name = ''): Promise<void> {
    await this.requireClient().subscribe(room, name);
    this.subscriptions.set(`${room}\0${name}`, { room, name });
  }

  /** Says which codec families we decode (see FramewireClient.declareDecoders), now and after each reconnect. */
  declareDecoders(codecs: readonly string[]): void {
    this.decoders = [...codecs];
    this.current?.declareDecoders(this.decoders);
  }

  /** Sends a receiver report on the current connection; dropped while reconnecting (the next one follows). */
  sendReceiverReport(report: Omit<ReceiverReportMessage, 'type'>): boolean {
    return this.current?.sendReceiverReport(report) ?? false;
  }

  /** The server's clock as the current connection estimates it (see ping()); null while reconnecting. */
  get clock(): ServerClock | null {
    return this.client?.clock ?? null;
  }

  /** Asks for a keyframe of `streamId` on the current connection; false while reconnecting. */
  requestKeyframe(streamId: number): boolean {
    return this.current?.requestKeyframe(streamId) ?? false;
  }

  /** Round-trip time in ms on the current connection; rejects while reconnecting. */
  ping(): Promise<number> {
    try {
      return this.requireClient().ping();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Stops reconnecting and closes the current connection after flushing it. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const client = this.client;
    this.client = null;
    if (client) await client.close();
    this.emit('close', null);
  }

  private requireClient(): FramewireClient {
    if (this.closing) throw new ClientError('FW_CLIENT_CLOSED', 'the client was closed');
    if (!this.client?.connected) {
      throw new ClientError('FW_CONNECTION_LOST', 'not connected to the server (reconnecting)');
    }
    return this.client;
  }

  private attach(client: FramewireClient): void {
    this.client = client;
    this.streams.clear();
    client.on('stream-added', (m) => {
      this.streams.set(m.streamId, m);
      this.emit('stream-added', m);
    });
    client.on('stream-updated', (m, previous) => {
      this.streams.set(m.streamId, m);
      this.emit('stream-updated', m, previous);
    });
    client.on('stream-removed', (m) => {
      if (this.streams.delete(m.streamId)) this.emit('stream-removed', m);
    });
    client.on('room-codecs', (m) => this.emit('room-codecs', m));
    client.on('frame', (m) => this.emit('frame', m));
    client.on('keyframe-request', (m) => this.emit('keyframe-request', m));
    client.on('link-state', (m) => this.emit('link-state', m));
    client.on('server-error', (err, requestId) => this.emit('server-error', err, requestId));
    client.on('close', (err) => this.onClientClose(client, err));
  }

  private onClientClose(client: FramewireClient, err: ClientError | null): void {
    if (this.client !== client || this.closing) return;
    this.client = null;
    for (const m of this.streams.values()) {
      this.emit('stream-removed', { type: 'stream-removed', streamId: m.streamId, reason: 'disconnected' });
    }
    this.streams.clear();
    const error = err ?? new ClientError('FW_CONNECTION_LOST', 'the connection was closed');
    if (FATAL_CODES.has(error.code)) {
      this.closing = true;
      this.emit('close', error);
      return;
    }
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: ClientError): void {
    const delay = backoffDelay(this.attempt, this.minDelayMs, this.maxDelayMs);
    this.emit(this.attempt === 0 ? 'disconnected' : 'reconnect-failed', error, delay);
    this.attempt++;
    // With alternates, the next node first: the one just lost is the likeliest to be down.
    this.addressIndex = (this.addressIndex + 1) % this.addresses.length;
    this.later(delay, () => {
      connect({ ...this.options, ...this.address }).then(
        (client) => {
          if (this.closing) {
            void client.close();
            return;
          }
          this.attempt = 0;
          this.attach(client);
          this.emit('reconnected');
          // Before the subscribes, so that no publisher in those rooms is told a value without ours.
          if (this.decoders !== null) client.declareDecoders(this.decoders);
          for (const p of this.publications) this.restorePublication(client, p, 0);
          for (const s of this.subscriptions.values()) this.restoreSubscription(client, s.room, s.name, 0);
        },
        (err: unknown) => {
          if (this.closing) return;
          const e = err instanceof ClientError ? err : new ClientError('FW_CONNECT_FAILED', String(err));
          if (FATAL_CODES.has(e.code)) {
            this.closing = true;
            this.emit('close', e);
          } else {
            this.scheduleReconnect(e);
          }
        },
      );
    });
  }

  // After a restart the publisher may come back after the viewer (FW_NO_SUCH_STREAM), and after a drop
  // the server may still hold our old stream (FW_STREAM_EXISTS): both resolve themselves, so retry on
  // the same connection with the same backoff.
  private restorePublication(client: FramewireClient, p: ReconnectingPublication, n: number): void {
    if (!this.publications.has(p)) return;
    client.publish(p.room, p.name, p.tracks).then(
      (publication) => {
        if (this.publications.has(p)) p.attach(publication);
        else publication.unpublish();
      },
      (err: unknown) => this.retryOn(client, err, n, () => this.restorePublication(client, p, n + 1)),
    );
  }

  private restoreSubscription(client: FramewireClient, room: string, name: string, n: number): void {
    client.subscribe(room, name).then(
      () => {},
      (err: unknown) =>
        this.retryOn(client, err, n, () => this.restoreSubscription(client, room, name, n + 1)),
    );
  }

  private retryOn(client: FramewireClient, err: unknown, n: number, again: () => void): void {
    if (this.client !== client || this.closing) return;
    if (err instanceof ClientError) this.emit('server-error', err, 0);
    this.later(backoffDelay(n, this.minDelayMs, this.maxDelayMs), () => {
      if (this.client === client && client.connected) again();
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

/** Events of a {@link ReconnectingPublication}. */
export interface ReconnectingPublicationEvents {
  'keyframe-request': [];
}

/** A publication that outlives connections: frames go to the current stream, and are dropped between. */
export class ReconnectingPublication extends EventEmitter<ReconnectingPublicationEvents> {
  private current: Publication | null = null;
  private readonly retired: PublicationStats = {
    framesSent: 0,
    bytesSent: 0,
    framesDropped: 0,
    audioFramesSent: 0,
    audioBytesSent: 0,
    audioFramesDropped: 0,
  };
  private ended = false;

  constructor(
    readonly room: string,
    readonly name: string,
    /** The tracks it is published with after a reconnect: the latest update's. */
    public tracks: StreamTracks,
    private readonly onEnd: (p: ReconnectingPublication) => void,
  ) {
    super();
  }

  /**
   * Replaces the stream's tracks (see Publication.update); kept for re-publishing after a reconnect. While
   * reconnecting it only takes them: the next publish carries them.
   */
  async update(tracks: StreamTracks): Promise<void> {
    const previous = this.tracks;
    this.tracks = tracks;
    if (!this.current?.active) return;
    try {
      await this.current.update(tracks);
    } catch (err) {
      if (this.tracks === tracks) this.tracks = previous;
      throw err;
    }
  }

  /** The stream id on the current connection, or null while reconnecting. */
  get streamId(): number | null {
    return this.current?.active ? this.current.streamId : null;
  }

  /** Counters summed over every connection this publication has used. */
  get stats(): PublicationStats {
    const c = this.current?.stats;
    const sum = { ...this.retired };
    if (c) for (const k of Object.keys(sum) as (keyof PublicationStats)[]) sum[k] += c[k];
    return sum;
  }

  /** Sends a frame on the current stream; false (counted as dropped) while there is none. */
  sendFrame(frame: OutgoingFrame): boolean {
    if (this.current?.active) return this.current.sendFrame(frame);
    this.retired.framesDropped++;
    return false;
  }

  /** Sends an audio frame on the current stream; false (counted as dropped) while there is none. */
  sendAudio(frame: OutgoingAudioFrame): boolean {
    if (this.current?.active) return this.current.sendAudio(frame);
    this.retired.audioFramesDropped++;
    return false;
  }

  /** Ends the stream and stops re-publishing it. */
  unpublish(): void {
    if (this.ended) return;
    this.ended = true;
    this.current?.unpublish();
    this.onEnd(this);
  }

  /** @internal Switches to the stream published on a new connection. */
  attach(publication: Publication): void {
    if (this.current) {
      const s = this.current.stats;
      for (const k of Object.keys(s) as (keyof PublicationStats)[]) this.retired[k] += s[k];
    }
    this.current = publication;
    publication.on('keyframe-request', () => this.emit('keyframe-request'));
  }
}
