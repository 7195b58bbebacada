import net from 'node:net';
import { WebSocket } from 'ws';
import {
  AUDIO_FRAME_HEADER_BYTES,
  decodeMessage,
  encodeMessage,
  FRAME_FLAG_AUDIO,
  FRAME_FLAG_KEY,
  FRAME_HEADER_BYTES,
  frameMessage,
  type Message,
  MessageType,
  PROTOCOL_VERSION,
  type Role,
  type StreamTracks,
} from '../../src/protocol/index.js';
import { FrameSkimmer } from './skim.js';

/** Which Framewire transport a link uses. */
export type FwTransport = 'tcp' | 'ws';

/**
 * Called per frame received: header fields only, at the time its last byte arrived. `audio` marks a frame
 * of the audio track, whose `seq` counts audio frames only.
 */
export type FwFrameHandler = (
  streamId: number,
  seq: number,
  key: boolean,
  payloadBytes: number,
  audio: boolean,
) => void;

const SEND_OPTIONS = { binary: true } as const;
const READ_BUFFER = Buffer.alloc(256 * 1024);

/**
 * One bench connection to a Framewire server, over raw TCP or WebSocket: hello, publish, subscribe, and
 * frames read header-only. Deliberately not the client library: a viewer here must cost the load
 * process as little as possible (no full decode, no payload copy, no per-frame event objects).
 */
export class FwLink {
  /** Streams announced by stream-added: id → name. */
  readonly streams = new Map<number, string>();
  onFrame: FwFrameHandler = () => {};
  /** Why the connection ended, or null while it is open (or after our own close). */
  failure: string | null = null;
  private readonly pending = new Map<number, (m: Message) => void>();
  private nextRequest = 1;
  private helloSeen: (() => void) | null = null;
  private streamsWanted = 0;
  private streamsReady: (() => void) | null = null;
  private closing = false;
  private readonly skimmer = new FrameSkimmer(
    (id, seq, key, bytes, audio) => this.onFrame(id, seq, key, bytes, audio),
    (body) => this.onControl(body),
  );

  private constructor(
    private readonly socket: net.Socket | null,
    private readonly ws: WebSocket | null,
  ) {}

  /** Connects (TCP port, or HTTP port for `/ws`) and completes the hello exchange within `timeoutMs`. */
  static async connect(transport: FwTransport, port: number, role: Role, timeoutMs: number): Promise<FwLink> {
    let link: FwLink | null = null;
    if (transport === 'tcp') {
      // Reads land in one buffer shared by every bench socket (the skimmer keeps nothing that points into
      // it): no Buffer allocation and no 'data' event per read, so 1000 viewers stay cheap.
      const callback = (n: number): boolean => {
        link?.skimmer.push(READ_BUFFER, n);
        return true;
      };
      const onread = { buffer: READ_BUFFER, callback };
      link = new FwLink(net.connect({ host: '127.0.0.1', port, onread }), null);
    } else {
      link = new FwLink(null, new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false }));
    }
    await link.handshake(role, timeoutMs);
    return link;
  }

  /** Bytes written and not yet taken by the kernel. */
  get backlogBytes(): number {
    return this.socket ? this.socket.writableLength : (this.ws?.bufferedAmount ?? 0);
  }

  /** Publishes a stream with its tracks (video, audio or both); resolves with its id. */
  publish(room: string, name: string, tracks: StreamTracks, timeoutMs: number): Promise<number> {
    const requestId = this.nextRequest++;
    return this.request(requestId, { type: 'publish', requestId, room, name, ...tracks }, timeoutMs).then(
      (m) => {
        if (m.type !== 'published') throw new Error(`publish ${room}/${name}: unexpected ${m.type}`);
        return m.streamId;
      },
    );
  }

  /**
   * Subscribes to one stream (`name`) or a whole room (`name` empty) and resolves once `expect` streams
   * have been announced to this link (the protocol has no subscribe acknowledgement).
   */
  subscribe(room: string, name: string, expect: number, timeoutMs: number): Promise<void> {
    const requestId = this.nextRequest++;
    this.send(encodeMessage({ type: 'subscribe', requestId, room, name }));
    // An error answer to the subscribe rejects; otherwise stream-added messages resolve.
    const failed = this.request(requestId, null, timeoutMs);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.streamsReady = null;
        reject(
          new Error(
            `subscribe ${room}/${name}: ${this.streams.size} of ${expect} streams in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.streamsWanted = expect;
      this.streamsReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.checkStreams();
    });
    return Promise.race([ready, failed.then((m) => Promise.reject(new Error(`subscribe: ${describe(m)}`)))]);
  }

  /** Sends one frame (the publisher side). */
  sendFrame(streamId: number, seq: number, key: boolean, timestampUs: number, payload: Uint8Array): void {
    this.send(
      encodeMessage({
        type: 'frame',
        streamId,
        key,
        seq,
        timestamp: timestampUs,
        captureTime: Date.now() * 1000,
        payload,
      }),
    );
  }

  /** Sends one audio frame (the publisher side): every audio frame is a key frame, with its own seq. */
  sendAudio(streamId: number, seq: number, timestampUs: number, level: number, payload: Uint8Array): void {
    this.send(
      encodeMessage({
        type: 'frame',
        streamId,
        key: true,
        track: 'audio',
        audioLevel: level,
        seq,
        timestamp: timestampUs,
        captureTime: Date.now() * 1000,
        payload,
      }),
    );
  }

  close(): void {
    this.closing = true;
    this.socket?.destroy();
    this.ws?.terminate();
  }

  private send(body: Uint8Array): void {
    if (this.socket) this.socket.write(frameMessage(body));
    else if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(body, SEND_OPTIONS);
  }

  private handshake(role: Role, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error(`no hello from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      this.helloSeen = () => {
        clearTimeout(timer);
        resolve();
      };
      const hello = encodeMessage({
        type: 'hello',
        version: PROTOCOL_VERSION,
        role,
        agent: 'framewire-bench',
        token: '',
      });
      if (this.socket) {
        const socket = this.socket;
        socket.setNoDelay(true);
        socket.once('connect', () => this.send(hello));
        socket.on('error', (err) => {
          this.failure ??= err.message;
          fail(err);
        });
        socket.on('close', () => this.onClosed());
      } else if (this.ws) {
        const ws = this.ws;
        ws.once('open', () => this.send(hello));
        ws.on('message', (data: Buffer) => this.onWsMessage(data));
        ws.on('error', (err) => {
          this.failure ??= err.message;
          fail(err);
        });
        ws.on('close', () => this.onClosed());
      }
    });
  }

  private onWsMessage(data: Buffer): void {
    if (data[0] !== MessageType.frame) {
      this.onControl(data);
      return;
    }
    const flags = data[5] as number;
    const audio = (flags & FRAME_FLAG_AUDIO) !== 0;
    this.onFrame(
      data.readUInt32BE(1),
      data.readUInt32BE(6),
      (flags & FRAME_FLAG_KEY) !== 0,
      data.length - (audio ? AUDIO_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES),
      audio,
    );
  }

  private onControl(body: Uint8Array): void {
    const m = decodeMessage(body);
    switch (m.type) {
      case 'hello':
        this.helloSeen?.();
        this.helloSeen = null;
        return;
      case 'published':
      case 'error': {
        const answer = this.pending.get(m.requestId);
        if (answer) answer(m);
        else if (m.type === 'error') this.failure ??= `${m.code}: ${m.message}`;
        return;
      }
      case 'stream-added':
        this.streams.set(m.streamId, m.name);
        this.checkStreams();
        return;
      case 'stream-removed':
        this.streams.delete(m.streamId);
        return;
      case 'ping':
        // The server pings a connection that has sent nothing for a while (a pure viewer) and closes it
        // if it stays silent: answer like a real client.
        this.send(
          encodeMessage({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 }),
        );
        return;
      default:
        // keyframe-request (a looped pre-encoded clip cannot honour it), pong: nothing to do.
        return;
    }
  }

  private checkStreams(): void {
    if (this.streamsReady && this.streams.size >= this.streamsWanted) {
      this.streamsReady();
      this.streamsReady = null;
    }
  }

  private request(requestId: number, message: Message | null, timeoutMs: number): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        if (message) reject(new Error(`no answer to ${message.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(requestId, (m) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(m);
      });
      if (message) this.send(encodeMessage(message));
    });
  }

  private onClosed(): void {
    if (!this.closing) this.failure ??= 'closed by the server';
  }
}

function describe(m: Message): string {
  return m.type === 'error' ? `${m.code}: ${m.message}` : m.type;
}
