import net from 'node:net';
import {
  type DecoderConfig,
  decodeMessage,
  encodeMessage,
  type FrameMessage,
  frameMessage,
  type Message,
  MessageDeframer,
  PROTOCOL_VERSION,
  type StreamTracks,
} from '../../src/protocol/index.js';

/**
 * A raw protocol client for tests: sends exactly what it is told, records everything it receives. The
 * one thing it does by itself is answer the relay's in-line probes (pings with an id), as every viewer
 * must or the relay holds its frames back; a test that wants a viewer that stops reading pauses the socket.
 */
export class WireClient {
  readonly received: Message[] = [];
  readonly closed: Promise<void>;
  private waiters: (() => void)[] = [];
  private readonly deframer = new MessageDeframer(64 * 1024 * 1024);
  /** The protocol version this client speaks (its hello's); messages are encoded and decoded in it. */
  version = PROTOCOL_VERSION;
  /** Ids of this client's own pings (barrier()), apart from the server's probe ids. */
  private nextPingId = 0x40000000;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.deframer.push(chunk, (body) => {
        const m = decodeMessage(body, this.version);
        // Copy payloads: the chunk they point into is not ours to keep.
        if (m.type === 'frame') m.payload = new Uint8Array(m.payload);
        // Keep-alive pings (id 0) are left to the test: some check what an idle peer gets.
        if (m.type === 'ping' && m.id !== 0)
          this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
        this.received.push(m);
      });
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.wake();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:port without saying anything. */
  static connect(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new WireClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects and completes the hello exchange, speaking protocol `version` from then on. */
  static async hello(
    port: number,
    role: 'publisher' | 'viewer' | 'peer' = 'peer',
    version = PROTOCOL_VERSION,
  ): Promise<WireClient> {
    const c = await WireClient.connect(port);
    c.version = version;
    c.send({ type: 'hello', version, role, agent: 'test', token: '' });
    await c.next((m) => m.type === 'hello');
    return c;
  }

  send(m: Message): void {
    this.socket.write(frameMessage(encodeMessage(m, this.version)));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Publishes a video stream and resolves with its id. */
  publish(
    room: string,
    name: string,
    config: DecoderConfig = { codec: 'vp8', codedWidth: 64, codedHeight: 48 },
  ): Promise<number> {
    return this.publishTracks(room, name, { video: config });
  }

  /** Publishes a stream with these tracks (video, audio or both) and resolves with its id. */
  async publishTracks(room: string, name: string, tracks: StreamTracks): Promise<number> {
    const requestId = Math.floor(Math.random() * 1e9);
    this.send({ type: 'publish', requestId, room, name, ...tracks });
    const m = await this.next(
      (x) => (x.type === 'published' || x.type === 'error') && x.requestId === requestId,
    );
    if (m.type !== 'published') throw new Error(`publish failed: ${JSON.stringify(m)}`);
    return m.streamId;
  }

  /**
   * Replaces the tracks of `streamId` (protocol v3 `update`) and resolves with the server's answer:
   * `published` (taken) or `error` (refused), both with the update's requestId.
   */
  async update(streamId: number, tracks: StreamTracks): Promise<Message> {
    const requestId = Math.floor(Math.random() * 1e9);
    this.send({ type: 'update', requestId, streamId, ...tracks });
    return this.next((x) => (x.type === 'published' || x.type === 'error') && x.requestId === requestId);
  }

  /** The room-codecs messages received so far, oldest first (for room `room` if given). */
  roomCodecs(room?: string): Extract<Message, { type: 'room-codecs' }>[] {
    return this.received.filter(
      (m): m is Extract<Message, { type: 'room-codecs' }> =>
        m.type === 'room-codecs' && (room === undefined || m.room === room),
    );
  }

  /**
   * Pings the server and resolves once the pong is back: the server has handled everything this client
   * sent before, and everything it sent this client before the pong has been received.
   */
  async barrier(): Promise<void> {
    const id = this.nextPingId++;
    this.send({ type: 'ping', id, time: Date.now() * 1000 });
    await this.next((m) => m.type === 'pong' && m.id === id);
  }

  /** Resolves with the first received message (from the start) matching `pred`, waiting up to `ms`. */
  async next(pred: (m: Message) => boolean, ms = 5000): Promise<Message> {
    const found = await this.until(() => this.received.find(pred), ms);
    return found;
  }

  /** Polls `probe` whenever a message arrives, until it returns a value or `ms` passes. */
  async until<T>(probe: () => T | undefined | false, ms = 5000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms; received ${this.received.length} messages`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  frames(streamId?: number): Extract<Message, { type: 'frame' }>[] {
    return this.received.filter(
      (m): m is Extract<Message, { type: 'frame' }> =>
        m.type === 'frame' && (streamId === undefined || m.streamId === streamId),
    );
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** An audio frame of `streamId` (Opus-sized, 20 ms) with a recognisable payload and the given level byte. */
export function testAudioFrame(streamId: number, seq: number, level = 40): FrameMessage {
  return {
    ...testFrame(streamId, seq, true, 80),
    track: 'audio',
    audioLevel: level,
    timestamp: seq * 20_000,
  };
}

/** A frame message with a recognisable payload: `size` bytes derived from `seq`. */
export function testFrame(streamId: number, seq: number, key: boolean, size = 1000): FrameMessage {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (seq * 31 + i * 7) & 0xff;
  return {
    type: 'frame',
    streamId,
    key,
    seq,
    timestamp: seq * 33_333,
    captureTime: Date.now() * 1000,
    payload,
  };
}
