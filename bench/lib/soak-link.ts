import net from 'node:net';
import {
  type DecoderConfig,
  decodeMessage,
  encodeMessage,
  frameMessage,
  type LinkState,
  type Message,
  PROTOCOL_VERSION,
  type Role,
} from '../../src/protocol/index.js';
import { FrameHeaderReader, type TimedFrameHandler } from './frame-header-reader.js';

const READ_BUFFER = Buffer.alloc(256 * 1024);

/**
 * One soak connection over TCP to any address (the shaped viewer reaches the server across a veth, not on
 * loopback), as a publisher or a viewer whose frames arrive with their capture time. Answers every ping the
 * moment it is read, the relay's in-line probes (id ≠ 0) included: a late pong would count as backlog.
 */
export class SoakLink {
  /** Streams announced and not yet removed: id → name. */
  readonly streams = new Map<number, string>();
  onFrame: TimedFrameHandler = () => {};
  onLinkState: (state: LinkState, backlogMs: number) => void = () => {};
  onStreamRemoved: (streamId: number) => void = () => {};
  /** Why the connection ended, or null while it is open (or after our own close). */
  failure: string | null = null;
  private readonly answers = new Map<number, (m: Message) => void>();
  private nextRequest = 1;
  private helloSeen: (() => void) | null = null;
  private wantedStream: { name: string; seen: () => void } | null = null;
  private closing = false;
  private readonly reader = new FrameHeaderReader(
    (id, seq, key, capture, timestamp, bytes) => this.onFrame(id, seq, key, capture, timestamp, bytes),
    (body) => this.onControl(decodeMessage(body)),
  );

  private constructor(private readonly socket: net.Socket) {}

  /** Connects to `host:port` and completes the hello exchange within `timeoutMs`. */
  static async connect(host: string, port: number, role: Role, timeoutMs: number): Promise<SoakLink> {
    let link: SoakLink | null = null;
    // One read buffer for every soak socket (the reader keeps nothing pointing into it): no allocation
    // per read, so a hundred viewers cost the load process little.
    const callback = (n: number): boolean => {
      try {
        link?.reader.push(READ_BUFFER, n);
      } catch (err) {
        link?.fail((err as Error).message);
      }
      return true;
    };
    link = new SoakLink(net.connect({ host, port, onread: { buffer: READ_BUFFER, callback } }));
    await link.handshake(role, timeoutMs);
    return link;
  }

  /** Publishes a stream; resolves with its id. */
  async publish(room: string, name: string, config: DecoderConfig, timeoutMs: number): Promise<number> {
    const m = await this.request(
      { type: 'publish', requestId: this.nextRequest++, room, name, video: config },
      timeoutMs,
    );
    if (m.type !== 'published') throw new Error(`publish ${room}/${name}: ${describe(m)}`);
    return m.streamId;
  }

  /**
   * Subscribes to a whole room (`name` empty: resolves at once, as the room may hold no stream yet) or to
   * one stream (resolves once it is announced; rejects on an error answer or after `timeoutMs`).
   */
  subscribe(room: string, name: string, timeoutMs: number): Promise<void> {
    const requestId = this.nextRequest++;
    const failed = this.request({ type: 'subscribe', requestId, room, name }, timeoutMs).then((m) => {
      throw new Error(`subscribe ${room}/${name}: ${describe(m)}`);
    });
    if (name === '') {
      failed.catch(() => {});
      return Promise.resolve();
    }
    const announced = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`subscribe ${room}/${name}: not announced`)),
        timeoutMs,
      );
      this.wantedStream = {
        name,
        seen: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    return Promise.race([announced, failed]);
  }

  /** Sends one frame, stamped with the wall clock now as its capture time (µs, what latency is measured from). */
  sendFrame(streamId: number, seq: number, key: boolean, timestampUs: number, payload: Uint8Array): void {
    const captureTime = Date.now() * 1000;
    this.send({ type: 'frame', streamId, key, seq, timestamp: timestampUs, captureTime, payload });
  }

  /** Closes the connection at once. */
  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private send(m: Message): void {
    if (!this.socket.destroyed) this.socket.write(frameMessage(encodeMessage(m)));
  }

  private fail(why: string): void {
    this.failure ??= why;
    this.socket.destroy();
  }

  private handshake(role: Role, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error(`no hello from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.helloSeen = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.setNoDelay(true);
      this.socket.once('connect', () =>
        this.send({ type: 'hello', version: PROTOCOL_VERSION, role, agent: 'framewire-soak', token: '' }),
      );
      this.socket.on('error', (err) => {
        this.failure ??= err.message;
        clearTimeout(timer);
        reject(err);
      });
      this.socket.on('close', () => {
        if (!this.closing) this.failure ??= 'closed by the server';
      });
    });
  }

  private onControl(m: Message): void {
    switch (m.type) {
      case 'ping':
        // Written before anything else is read: the pong's delay is then all backlog, none of it ours.
        this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
        return;
      case 'hello':
        this.helloSeen?.();
        this.helloSeen = null;
        return;
      case 'published':
      case 'error': {
        const answer = this.answers.get(m.requestId);
        if (answer) answer(m);
        else if (m.type === 'error') this.failure ??= `${m.code}: ${m.message}`;
        return;
      }
      case 'stream-added':
        this.streams.set(m.streamId, m.name);
        if (this.wantedStream?.name === m.name) {
          this.wantedStream.seen();
          this.wantedStream = null;
        }
        return;
      case 'stream-removed':
        this.streams.delete(m.streamId);
        this.onStreamRemoved(m.streamId);
        return;
      case 'link-state':
        this.onLinkState(m.state, m.backlogMs);
        return;
      default:
        // keyframe-request (a looped clip cannot honour it), pong: nothing to do.
        return;
    }
  }

  /** Sends `m` and resolves with the answer naming its request id; a silent server leaves it pending. */
  private request(m: Message & { requestId: number }, timeoutMs: number): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.answers.delete(m.requestId);
        // A subscribe is never answered when it succeeds: only a publish's silence is a failure.
        if (m.type === 'publish') reject(new Error(`no answer to publish within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.answers.set(m.requestId, (answer) => {
        clearTimeout(timer);
        this.answers.delete(m.requestId);
        resolve(answer);
      });
      this.send(m);
    });
  }
}

function describe(m: Message): string {
  return m.type === 'error' ? `${m.code}: ${m.message}` : `unexpected ${m.type}`;
}
